"""The back-office member pages: list and search, the member page and its actions, exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import PermissionDenied
from loyalty.models import (
    AuditLog,
    LoyaltyMember,
    LoyaltyTransaction,
    MemberStatus,
    OutboxMessage,
    RedemptionLimit,
    Role,
    TransactionType,
)
from loyalty.services import corrections
from loyalty.services.actors import SYSTEM
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from loyalty.services.vouchers import use_voucher
from tests import factories


@pytest.fixture
def manager(session: Session, tenant: factories.Tenant, login_as):
    user = factories.make_user(session, tenant, role=Role.MANAGER)
    login_as(user)
    return user


@pytest.fixture
def anna(session: Session, tenant: factories.Tenant) -> LoyaltyMember:
    member = factories.make_member(
        session, tenant, name="Anna Schmit", email="anna@example.com", phone="+352621111222"
    )
    earn(session, member=member, amount_cents=12_000, idempotency_key="anna-1", shop=tenant.shop)
    return member


def _audit(session: Session, action: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_member_page_shows_the_reward_ladder(client, manager, anna, session, tenant) -> None:
    coffee = factories.make_reward(
        session, tenant, cost=20, name="Coffee", limit=RedemptionLimit.ONCE
    )
    factories.make_reward(session, tenant, cost=100, name="Croissant box")
    factories.make_reward(session, tenant, cost=250, name="Cake")
    redeem(session, member=anna, reward=coffee, idempotency_key="coffee")
    page = client.get(f"/backoffice/members/{anna.id}").get_data(as_text=True)
    assert "Reward ladder" in page
    assert "Next reward: <strong>Cake</strong> in 150 pts" in page  # 100 of 250
    assert "✓ Coffee · 20 · used" in page
    assert "★ Croissant box · 100 · within reach" in page


def test_a_manager_takes_back_a_returned_reward_from_the_member_page(
    client, manager, anna, session, tenant
) -> None:
    reward = factories.make_reward(session, tenant, cost=20, stock=4, name="Coffee")
    voucher = redeem(session, member=anna, reward=reward, idempotency_key="coffee")
    use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="coffee-use",
        actor=SYSTEM,
    )
    page = client.get(f"/backoffice/members/{anna.id}").get_data(as_text=True)
    assert "Take back: 20 pts back" in page
    url = f"/backoffice/members/{anna.id}/vouchers/{voucher.id}/return"
    refused = client.post(url, data={"reason": "", "idempotency_key": "k1"})
    assert refused.status_code == 303
    assert anna.points_balance == 100
    done = client.post(
        url, data={"reason": "Returned unopened", "idempotency_key": "k2"}, follow_redirects=True
    )
    assert "20 points re-credited and one back in stock" in done.get_data(as_text=True)
    session.refresh(anna)
    session.refresh(reward)
    session.refresh(voucher)
    assert (anna.points_balance, reward.stock, voucher.status.value) == (120, 4, "void")
    assert len(_audit(session, "reward.returned")) == 1
    other = factories.make_member(session, tenant)
    assert (
        client.post(
            f"/backoffice/members/{other.id}/vouchers/{voucher.id}/return",
            data={"reason": "x", "idempotency_key": "k3"},
        ).status_code
        == 404
    )


def test_members_list_finds_a_member_by_name_prefix(client, manager, anna, session, tenant) -> None:
    factories.make_member(session, tenant, name="Bruno Klein", email="bruno@example.com")
    page = client.get("/backoffice/members?q=ann").get_data(as_text=True)
    assert "Anna Schmit" in page
    assert "Bruno Klein" not in page
    assert "1 member found" in page


def test_members_list_explains_an_empty_result_and_a_bad_filter(client, manager, anna) -> None:
    page = client.get("/backoffice/members?q=zzz&min=lots").get_data(as_text=True)
    assert "No member matches." in page
    assert "Minimum balance must be a whole number" in page


def test_members_list_without_members_invites_an_import(client, manager) -> None:
    page = client.get("/backoffice/members").get_data(as_text=True)
    assert "No members yet." in page
    assert "/backoffice/members/import" in page


def test_page_links_keep_the_filters(client, manager, session, tenant) -> None:
    for n in range(30):
        factories.make_member(session, tenant, name=f"Zoe {n:02d}")
    page = client.get("/backoffice/members?q=zoe").get_data(as_text=True)
    assert "/backoffice/members?page=2&amp;q=zoe" in page


def test_member_page_shows_profile_ledger_and_actions(client, manager, anna) -> None:
    page = client.get(f"/backoffice/members/{anna.id}").get_data(as_text=True)
    assert "anna@example.com" in page
    assert "+352 621 111 222" in page  # as people write it, not as stored (E.164)
    assert "Adjust points" in page
    assert "Earn" in page  # the ledger row of the purchase


def test_manager_adjusts_points_with_a_reason(client, manager, anna, session) -> None:
    response = client.post(
        f"/backoffice/members/{anna.id}/adjust",
        data={"points": "+25", "reason": "Goodwill", "idempotency_key": "k1"},
        follow_redirects=True,
    )
    assert "New balance: 145 points." in response.get_data(as_text=True)
    row = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.type == TransactionType.ADJUST)
    ).one()
    assert (row.points, row.description) == (25, "Goodwill")
    assert _audit(session, "points.adjusted")[0].details["reason"] == "Goodwill"
    # The same form sent twice (double click) adjusts once.
    client.post(
        f"/backoffice/members/{anna.id}/adjust",
        data={"points": "+25", "reason": "Goodwill", "idempotency_key": "k1"},
    )
    session.expire_all()
    assert session.get(LoyaltyMember, anna.id).points_balance == 145


def test_adjustment_without_reason_or_number_is_refused_and_changes_nothing(
    client, manager, anna, session
) -> None:
    for data, message in (
        ({"points": "10", "reason": " "}, "Give a reason"),
        ({"points": "ten", "reason": "x"}, "Enter a whole number of points"),
        ({"points": "-500", "reason": "x"}, "points"),
    ):
        page = client.post(
            f"/backoffice/members/{anna.id}/adjust",
            data={**data, "idempotency_key": message},
            follow_redirects=True,
        ).get_data(as_text=True)
        assert message in page
    session.expire_all()
    assert session.get(LoyaltyMember, anna.id).points_balance == 120


def test_staff_cannot_adjust_points_in_the_back_office_or_the_service(
    client, login_as, session, tenant, anna
) -> None:
    cashier = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    login_as(cashier)
    response = client.post(
        f"/backoffice/members/{anna.id}/adjust",
        data={"points": "100", "reason": "me", "idempotency_key": "s1"},
    )
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        corrections.adjust(
            session,
            member=anna,
            points=100,
            reason="me",
            idempotency_key="s2",
            actor=factories.actor_for(cashier, Role.STAFF, tenant.shop),
        )
    session.expire_all()
    assert session.get(LoyaltyMember, anna.id).points_balance == 120


def test_consents_say_since_when_in_the_pages_date_format(client, manager, anna, session):
    anna.customer.consents = {
        "marketing_email": {"granted": True, "at": "2026-07-30T09:12:00+00:00"},
        "marketing_sms": {"granted": False, "at": "not a date"},
    }
    session.flush()
    page = client.get(f"/backoffice/members/{anna.id}").get_data(as_text=True)
    assert "(since 30 Jul 2026)" in page
    assert "(since not a date)" in page


def test_block_and_unblock_are_audited(client, manager, anna, session) -> None:
    client.post(f"/backoffice/members/{anna.id}/block")
    session.expire_all()
    assert session.get(LoyaltyMember, anna.id).status == MemberStatus.SUSPENDED
    page = client.get(f"/backoffice/members/{anna.id}").get_data(as_text=True)
    assert "Unblock card" in page
    assert ">Blocked</span>" in page  # the word staff use, as on the list and in the flash
    assert '<option value="suspended" >Blocked</option>' in client.get(
        "/backoffice/members"
    ).get_data(as_text=True)
    assert "Suspended" not in page
    client.post(f"/backoffice/members/{anna.id}/unblock")
    session.expire_all()
    assert session.get(LoyaltyMember, anna.id).status == MemberStatus.ACTIVE
    assert len(_audit(session, "member.blocked")) == len(_audit(session, "member.unblocked")) == 1


def test_resend_welcome_queues_a_message_with_links(client, manager, anna, session) -> None:
    page = client.post(
        f"/backoffice/members/{anna.id}/resend-welcome", follow_redirects=True
    ).get_data(as_text=True)
    assert "Welcome message queued to anna@example.com" in page
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "welcome")
    ).one()
    assert message.address == "anna@example.com"
    assert "member_page" in message.payload["links"]
    assert _audit(session, "member.welcome_resent")


def test_gdpr_export_downloads_json(client, manager, anna, session) -> None:
    response = client.get(f"/backoffice/members/{anna.id}/export.json")
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data())
    assert data["customer"]["email"] == "anna@example.com"
    assert data["transactions"][0]["points"] == 120
    assert _audit(session, "member.data_exported")


def test_erase_asks_first_then_anonymises_and_keeps_the_ledger(
    client, manager, anna, session
) -> None:
    confirm = client.get(f"/backoffice/members/{anna.id}/erase").get_data(as_text=True)
    assert "This cannot be undone" in confirm
    client.post(f"/backoffice/members/{anna.id}/erase")  # box not ticked
    session.expire_all()
    assert session.get(LoyaltyMember, anna.id).customer.email == "anna@example.com"
    client.post(f"/backoffice/members/{anna.id}/erase", data={"confirm": "erase"})
    session.expire_all()
    member = session.get(LoyaltyMember, anna.id)
    assert member.customer.email is None
    assert member.customer.name == ""
    assert member.status == MemberStatus.CLOSED
    assert member.points_balance == 120
    ledger = session.scalar(
        select(func.sum(LoyaltyTransaction.points)).where(LoyaltyTransaction.member_id == anna.id)
    )
    assert ledger == 120
    assert "(erased customer)" in client.get("/backoffice/members").get_data(as_text=True)


def test_member_ledger_pages_through_the_whole_history(client, manager, anna, session) -> None:
    for n in range(25):
        earn(session, member=anna, amount_cents=100, idempotency_key=f"p-{n}")
    first = client.get(f"/backoffice/members/{anna.id}").get_data(as_text=True)
    assert f"/backoffice/members/{anna.id}?page=2" in first
    second = client.get(f"/backoffice/members/{anna.id}?page=2").get_data(as_text=True)
    assert second.count("ledger-earn") == 6


def _csv(client, url: str) -> list[list[str]]:
    # buffered: read inside the request's own context (the test client gives each its own).
    response = client.get(url, buffered=True)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "Content-Length" not in response.headers  # streamed, not built whole
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_members_export_streams_the_filtered_list_as_csv(
    client, manager, anna, session, tenant
) -> None:
    factories.make_member(session, tenant, name="=HYPERLINK(1)", email="evil@example.com")
    everyone = _csv(client, "/backoffice/members/export.csv")
    assert everyone[0][:3] == ["card_number", "name", "email"]
    assert len(everyone) == 3
    assert [row[1] for row in everyone if row[2] == "evil@example.com"] == ["'=HYPERLINK(1)"]
    anna_only = _csv(client, "/backoffice/members/export.csv?q=anna")
    assert [row[2] for row in anna_only[1:]] == ["anna@example.com"]
    assert anna_only[1][3] == "+352621111222"  # a phone number is not a formula
    assert _audit(session, "members.exported")


def test_transactions_export_streams_the_ledger(client, manager, anna, session, tenant) -> None:
    other = factories.make_member(session, tenant, name="Other", email="o@example.com")
    earn(session, member=other, amount_cents=500, idempotency_key="o-1")
    rows = _csv(client, "/backoffice/transactions/export.csv?q=anna")
    assert rows[0][:5] == ["id", "created_at", "card_number", "type", "points"]
    assert [(r[2], r[3], r[4], r[6]) for r in rows[1:]] == [
        (anna.card_number, "earn", "120", "120.00")
    ]
    assert len(_csv(client, "/backoffice/transactions/export.csv")) == 3


def test_another_merchants_member_is_not_exported(client, manager, anna, session) -> None:
    other = factories.make_tenant(session)
    factories.make_member(session, other, name="Stranger", email="s@example.com")
    rows = _csv(client, "/backoffice/members/export.csv")
    assert [r[2] for r in rows[1:]] == ["anna@example.com"]


def test_a_list_longer_than_the_count_limit_says_more_than(
    client, session, tenant, manager, monkeypatch
) -> None:
    from loyalty.services import member_search

    for n in range(3):
        factories.make_member(session, tenant, name=f"Zoe {n}", email=f"zoe{n}@example.com")
    monkeypatch.setattr(member_search, "COUNT_UP_TO", 2)
    html = client.get("/backoffice/members").get_data(as_text=True)
    assert "More than 2 members: the pages show the first 2." in html
    assert "1 member found" in client.get("/backoffice/members?q=zoe+1").get_data(as_text=True)
