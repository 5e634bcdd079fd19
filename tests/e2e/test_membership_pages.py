"""Paid membership through the pages: renew at the till (once per key), the till refusing to
earn on a lapsed card, the back-office's valid-until, next expiry and free extension, the card page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalty.db import utcnow
from loyalty.models import AuditLog, ExpiryPolicy, LoyaltyTransaction, Role, TransactionType
from loyalty.services import membership
from loyalty.services.earn import earn
from tests import factories
from tests.e2e.api_support import make_api_tenant
from tests.e2e.test_public_member import sign_in

JSON = {"Accept": "application/json"}


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, name="Bakery Dupont")
    tenant.program.paid_membership = True
    tenant.program.membership_price_cents = 3000
    tenant.program.membership_months = 12
    session.flush()
    return tenant


@pytest.fixture
def member(session, tenant):
    return factories.make_member(session, tenant, name="Éloïse Muller")


def _memberships(session, member) -> int:
    return session.scalar(
        select(func.count())
        .select_from(LoyaltyTransaction)
        .where(
            LoyaltyTransaction.member_id == member.id,
            LoyaltyTransaction.type == TransactionType.MEMBERSHIP,
        )
    )


def test_the_till_refuses_to_earn_on_an_unpaid_card_and_offers_renewal(
    client, session, tenant, member, login_as
):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert "Membership not paid yet" in page
    assert "Renew membership – €30.00" in page
    assert 'id="earn-form"' not in page
    refused = client.post(
        f"/staff/members/{member.id}/earn",
        data={"amount": "12.50", "idempotency_key": "k1"},
        headers=JSON,
    )
    assert refused.status_code == 409
    assert refused.json["code"] == "membership_lapsed"
    assert "Renew the membership (€30.00) first" in refused.json["detail"]


def test_renewing_at_the_till_is_recorded_once_and_the_card_earns_again(
    client, session, tenant, member, login_as
):
    cashier = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    login_as(cashier)
    url = f"/staff/members/{member.id}/renew"
    first = client.post(url, data={"idempotency_key": "renew-1"}, headers=JSON)
    assert first.status_code == 200
    assert first.json["replayed"] is False
    assert first.json["message"].startswith("Membership paid (€30.00): valid until ")
    again = client.post(url, data={"idempotency_key": "renew-1"}, headers=JSON)  # a double tap
    assert again.json["replayed"] is True
    assert again.json["valid_until"] == first.json["valid_until"]
    assert _memberships(session, member) == 1
    row = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.type == TransactionType.MEMBERSHIP)
    ).one()
    assert (row.points, row.amount_cents, row.created_by) == (0, 3000, cashier.id)
    assert row.shop_id == tenant.shop.id
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert 'data-testid="valid-until"' in page
    assert 'id="earn-form"' in page
    earned = client.post(
        f"/staff/members/{member.id}/earn",
        data={"amount": "12.50", "idempotency_key": "k1"},
        headers=JSON,
    )
    assert earned.status_code == 200
    assert earned.json["points"] == 12


def test_another_businesss_card_cannot_be_renewed_here(client, session, tenant, login_as):
    stranger = factories.make_member(session, factories.make_tenant(session))
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    response = client.post(
        f"/staff/members/{stranger.id}/renew", data={"idempotency_key": "r"}, headers=JSON
    )
    assert response.status_code == 404
    assert stranger.membership_expires_at is None


def test_a_plain_form_renewal_without_a_key_is_refused_and_changes_nothing(
    client, session, tenant, member, login_as
):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    response = client.post(f"/staff/members/{member.id}/renew", data={})
    assert response.status_code == 303
    assert "no valid operation key" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert _memberships(session, member) == 0


def test_the_back_office_shows_valid_until_and_next_expiry_and_extends_free_with_audit(
    client, session, tenant, member, login_as
):
    tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    tenant.program.expiry_days = 365
    cashier = factories.actor_for(factories.make_user(session, tenant), Role.STAFF)
    renewal = membership.renew(session, member=member, actor=cashier, idempotency_key="r1")
    earn(session, member=member, amount_cents=4000, idempotency_key="e1")
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    login_as(manager)
    page = client.get(f"/backoffice/members/{member.id}").get_data(as_text=True)
    until = renewal.valid_until.strftime("%d %b %Y")
    assert f"Valid until {until}" in page
    assert "40 pts on" in page  # the next expiry and its amount
    response = client.post(
        f"/backoffice/members/{member.id}/membership/extend",
        data={"months": "2", "reason": "Shop closed for works", "idempotency_key": "x1"},
    )
    assert response.status_code == 303
    flashed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Membership extended free of charge: valid until" in flashed
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == "member.membership_extended")
    ).one()
    assert entry.actor_user_id == manager.id
    refused = client.post(
        f"/backoffice/members/{member.id}/membership/extend",
        data={"months": "two", "reason": "x", "idempotency_key": "x2"},
    )
    assert "Enter a whole number of months" in client.get(refused.headers["Location"]).get_data(
        as_text=True
    )


def test_the_back_office_records_a_payment_at_the_desk(client, session, tenant, member, login_as):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    response = client.post(
        f"/backoffice/members/{member.id}/membership/renew", data={"idempotency_key": "desk-1"}
    )
    assert response.status_code == 303
    assert _memberships(session, member) == 1
    assert session.scalars(
        select(AuditLog.action).where(AuditLog.action == "member.membership_renewed")
    ).all() == ["member.membership_renewed"]


def test_shop_staff_cannot_extend_from_the_back_office(client, session, tenant, member, login_as):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    response = client.post(
        f"/backoffice/members/{member.id}/membership/extend",
        data={"months": "12", "reason": "friend", "idempotency_key": "x"},
    )
    assert response.status_code == 403
    assert _memberships(session, member) == 0


def test_another_businesss_member_is_404_in_the_back_office(client, session, tenant, login_as):
    stranger = factories.make_member(session, factories.make_tenant(session))
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = client.post(
        f"/backoffice/members/{stranger.id}/membership/extend",
        data={"months": "1", "reason": "x", "idempotency_key": "x"},
    )
    assert response.status_code == 404


def test_the_card_page_shows_valid_until_then_expired(app, client, session, tenant, member):
    cashier = factories.actor_for(factories.make_user(session, tenant), Role.STAFF)
    renewal = membership.renew(session, member=member, actor=cashier, idempotency_key="r1")
    sign_in(app, client, session, member)
    page = client.get(f"/p/{tenant.program.slug}").get_data(as_text=True)
    assert "Membership valid until" in page
    assert renewal.valid_until.strftime("%d %b %Y") in page
    member.membership_expires_at = utcnow() - timedelta(days=1)
    session.flush()
    page = client.get(f"/p/{tenant.program.slug}").get_data(as_text=True)
    assert "Your membership expired on" in page
    assert "Renew it at the till (€30.00 for 12 months)" in page


def test_the_api_refuses_an_earn_on_a_lapsed_card_with_a_stable_code(client, session):
    api = make_api_tenant(session)
    api.tenant.program.paid_membership = True
    api.tenant.program.membership_price_cents = 3000
    member = factories.make_member(session, api.tenant)
    response = client.post(
        "/api/v1/transactions",
        json={"member_id": member.id, "amount_cents": 1200},
        headers={**api.headers, "Idempotency-Key": "order-1"},
    )
    assert response.status_code == 409
    assert response.json["code"] == "membership_lapsed"
    assert _memberships(session, member) == 0
    assert member.points_balance == 0


def test_the_owner_switches_paid_membership_on_in_the_settings(client, session, login_as):
    tenant = factories.make_tenant(session)
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    form = {
        "name": "Dupont Rewards",
        "points_per_euro": "1",
        "rounding": "floor",
        "expiry_policy": "none",
        "signup_bonus": "0",
        "birthday_bonus": "0",
        "currency": "EUR",
        "primary_color": "#123456",
        "secondary_color": "#fafafa",
        "paid_membership": "y",
        "membership_price": "24,90",
        "membership_months": "6",
    }
    assert client.post("/backoffice/settings", data=form).status_code == 302
    session.expire_all()
    program = tenant.program
    assert (program.paid_membership, program.membership_price_cents) == (True, 2490)
    assert program.membership_months == 6
    refused = client.post("/backoffice/settings", data={**form, "membership_price": "0"})
    assert refused.status_code == 422
    assert "price of a membership period" in refused.get_data(as_text=True)


def test_the_api_lists_a_membership_payment_among_the_transactions(client, session):
    api = make_api_tenant(session)
    api.tenant.program.paid_membership = True
    api.tenant.program.membership_price_cents = 3000
    member = factories.make_member(session, api.tenant)
    cashier = factories.actor_for(factories.make_user(session, api.tenant), Role.STAFF)
    membership.renew(session, member=member, actor=cashier, idempotency_key="r1")
    response = client.get(f"/api/v1/transactions?member_id={member.id}", headers=api.headers)
    assert response.status_code == 200
    [row] = response.json["data"]
    assert (row["type"], row["points"], row["amount_cents"]) == ("membership", 0, 3000)


def test_every_ledger_row_type_can_be_shown_by_the_api():
    from typing import get_args

    from web.api.schemas import TransactionKind

    assert set(get_args(TransactionKind)) == {t.value for t in TransactionType}
