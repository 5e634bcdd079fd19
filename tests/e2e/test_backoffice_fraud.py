"""Fraud controls through HTTP: the till flags or blocks, managers review alerts, owners set limits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty.models import (
    AlertStatus,
    FraudAction,
    FraudAlert,
    FraudRule,
    LoyaltyTransaction,
    Offering,
    Role,
)
from loyalty.services import lookup
from tests import factories
from web.public.views import CARDS_KEY

JSON = {"Accept": "application/json"}


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS, name="Bakery Dupont")
    tenant.program.fraud_member_daily_earns = None
    tenant.program.fraud_staff_hourly_earns = None
    tenant.program.fraud_max_earn_cents = 20_000
    session.flush()
    return tenant


@pytest.fixture
def member(session, tenant):
    return factories.make_member(session, tenant, name="Éloïse Muller")


def _alert(session, tenant, member, **values) -> FraudAlert:
    alert = FraudAlert(
        merchant_id=tenant.merchant.id,
        member_id=member.id,
        shop_id=tenant.shop.id,
        rule=FraudRule.EARN_AMOUNT,
        amount_cents=25_000,
        observed=25_000,
        threshold=20_000,
        **values,
    )
    session.add(alert)
    session.flush()
    return alert


def _earn(client, member, amount: str, key: str):
    return client.post(
        f"/staff/members/{member.id}/earn",
        data={"amount": amount, "idempotency_key": key},
        headers=JSON,
    )


def test_a_flagged_earn_goes_through_at_the_till_and_is_listed_for_managers(
    client, login_as, session, tenant, member
):
    cashier = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    cashier.name = "Tom Till"
    login_as(cashier)
    answer = _earn(client, member, "250.00", "big-1")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["points"] == 250
    [alert] = session.scalars(select(FraudAlert)).all()
    assert (alert.staff_user_id, alert.shop_id) == (cashier.id, tenant.shop.id)
    login_as.logout()
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    page = client.get("/backoffice/fraud/alerts")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for shown in ("Éloïse Muller", "Tom Till", "Main street", "€250.00, limit €200.00"):
        assert shown in text


def test_a_blocked_earn_is_refused_at_the_till_with_the_reason_and_writes_nothing(
    client, login_as, session, tenant, member
):
    tenant.program.fraud_max_earn_action = FraudAction.BLOCK
    session.flush()
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    answer = _earn(client, member, "250.00", "big-2")
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["code"] == "velocity_limit"
    assert "above €200.00" in body["detail"]
    assert session.scalar(select(func.count()).select_from(LoyaltyTransaction)) == 0
    assert session.scalar(select(func.count()).select_from(FraudAlert)) == 0


def test_a_manager_acknowledges_an_alert_with_a_note(client, login_as, session, tenant, member):
    alert = _alert(session, tenant, member)
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    login_as(manager)
    answer = client.post(
        f"/backoffice/fraud/alerts/{alert.id}",
        data={"status": "acknowledged", "note": "Catering order, receipt checked"},
    )
    assert answer.status_code == 303
    session.refresh(alert)
    assert (alert.status, alert.resolved_by) == (AlertStatus.ACKNOWLEDGED, manager.id)
    assert "No open alerts." in client.get("/backoffice/fraud/alerts").get_data(as_text=True)
    done = client.get("/backoffice/fraud/alerts?status=acknowledged").get_data(as_text=True)
    assert "Catering order, receipt checked" in done


def test_dismissing_without_a_note_is_refused_on_the_page_and_changes_nothing(
    client, login_as, session, tenant, member
):
    alert = _alert(session, tenant, member)
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    answer = client.post(
        f"/backoffice/fraud/alerts/{alert.id}", data={"status": "dismissed", "note": ""}
    )
    assert answer.status_code == 422
    assert "Say why the alert is dismissed." in answer.get_data(as_text=True)
    session.refresh(alert)
    assert alert.status == AlertStatus.OPEN


def test_the_alert_list_pages_and_shows_an_empty_state(client, login_as, session, tenant, member):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    assert "No open alerts." in client.get("/backoffice/fraud/alerts").get_data(as_text=True)
    for _ in range(30):
        _alert(session, tenant, member)
    first = client.get("/backoffice/fraud/alerts").get_data(as_text=True)
    second = client.get("/backoffice/fraud/alerts?page=2").get_data(as_text=True)
    assert first.count('class="card fraud-alert"') == 25
    assert second.count('class="card fraud-alert"') == 5
    assert "Alert pages" in first
    bad = client.get("/backoffice/fraud/alerts?status=nonsense&page=abc")
    assert bad.status_code == 200


def test_shop_staff_cannot_open_the_alert_list(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    assert client.get("/backoffice/fraud/alerts").status_code == 403


def test_the_owner_sets_the_limits_and_bad_ones_are_explained(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    form = {
        "member_daily_earns": "4",
        "member_daily_action": "block",
        "max_earn": "150.50",
        "max_earn_action": "flag",
        "staff_hourly_earns": "",
        "staff_hourly_action": "flag",
        "qr_max_age_days": "30",
    }
    assert client.post("/backoffice/fraud/settings", data=form).status_code == 302
    program = tenant.program
    session.refresh(program)
    assert (program.fraud_member_daily_earns, program.fraud_member_daily_action) == (
        4,
        FraudAction.BLOCK,
    )
    assert (program.fraud_max_earn_cents, program.fraud_staff_hourly_earns) == (15_050, None)
    assert program.qr_max_age_days == 30
    bad = client.post("/backoffice/fraud/settings", data={**form, "member_daily_earns": "0"})
    assert bad.status_code == 422
    assert "between 1 and 10,000" in bad.get_data(as_text=True)
    bad = client.post("/backoffice/fraud/settings", data={**form, "max_earn": "lots"})
    assert bad.status_code == 422
    assert "is not an amount" in bad.get_data(as_text=True)
    session.refresh(program)
    assert program.fraud_member_daily_earns == 4


def test_managers_see_the_limits_read_only(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    page = client.get("/backoffice/fraud/settings")
    assert page.status_code == 200
    assert "read-only" in page.get_data(as_text=True)
    assert client.post("/backoffice/fraud/settings", data={}).status_code == 403


# --- QR codes that a screenshot cannot replay forever ---------------------------------------


def test_a_manager_gives_a_member_a_new_qr_code_and_the_old_one_stops_working(
    client, login_as, session, tenant, member, secret_key
):
    old = lookup.qr_token(member, secret_key)
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    page = client.get(f"/backoffice/members/{member.id}").get_data(as_text=True)
    assert "Issued today" in page
    answer = client.post(f"/backoffice/members/{member.id}/new-qr-code")
    assert answer.status_code == 303
    page = client.get(f"/backoffice/members/{member.id}").get_data(as_text=True)
    assert "Rotated today" in page
    refused = client.post("/staff/identify", data={"query": old}, headers=JSON)
    assert refused.status_code == 422
    assert "no longer works" in refused.get_json()["detail"]


def test_the_member_gets_a_new_qr_code_from_their_card_page(
    app, client, session, tenant, member, secret_key
):
    old = lookup.qr_token(member, secret_key)
    with client.session_transaction() as cookie:
        cookie[CARDS_KEY] = {str(tenant.program.id): member.id}
    answer = client.post(f"/p/{tenant.program.slug}/new-qr-code")
    assert answer.status_code == 303
    session.refresh(member)
    assert lookup.qr_token(member, secret_key) != old
    assert member.qr_previous_secret is not None
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Your card has a new QR code." in page


def test_a_stranger_cannot_rotate_a_card_without_its_session(client, session, tenant, member):
    secret = member.qr_secret
    client.post(f"/p/{tenant.program.slug}/new-qr-code")
    session.refresh(member)
    assert member.qr_secret == secret
