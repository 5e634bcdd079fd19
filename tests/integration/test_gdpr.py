"""A member's data: exported as JSON, marketing choices recorded, erased without touching the ledger."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty.errors import InvalidInput, InvalidToken, MemberNotActive
from loyalty.models import (
    AuditLog,
    ChannelIdentity,
    ChannelKind,
    Conversation,
    LoyaltyTransaction,
    MemberStatus,
    OutboxMessage,
    OutboxStatus,
)
from loyalty.models.access import MemberAccessToken
from loyalty.services import gdpr, lookup, member_access
from loyalty.services.actors import Actor
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from loyalty.services.rewards import redeem
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
CUSTOMER = Actor.customer()


@pytest.fixture
def member(session, tenant):
    member = enroll(
        session,
        program=tenant.program,
        idempotency_key="join-ann",
        terms_accepted=True,
        name="Ann Weber",
        email="ann@example.com",
        phone="+352621123456",
        birthday=date(1990, 3, 4),
        consents={"marketing_email": True},
        now=NOW,
    )
    factories.add_channel(session, member, ChannelKind.TELEGRAM, "777001")
    session.add(
        Conversation(
            channel=ChannelKind.TELEGRAM,
            bot="platform",
            address="777001",
            merchant_id=tenant.merchant.id,
            data={},
        )
    )
    earn(
        session, member=member, amount_cents=30_000, idempotency_key="e1", shop=tenant.shop, at=NOW
    )
    reward = factories.make_reward(session, tenant, cost=100)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    session.flush()
    return member


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_export_holds_the_person_card_ledger_vouchers_and_messages(session, tenant, member):
    data = gdpr.export_member(session, member=member, now=NOW)
    json.dumps(data)  # JSON-ready as it is
    assert data["customer"]["email"] == "ann@example.com"
    assert data["customer"]["birthday"] == "1990-03-04"
    assert data["customer"]["consents"]["marketing_email"]["granted"] is True
    assert data["card"]["card_number"] == member.card_number
    assert data["card"]["points_balance"] == 200
    assert [t["type"] for t in data["transactions"]] == ["earn", "redeem"]
    assert data["vouchers"][0]["reward"] == "€5 off"
    assert {c["kind"] for c in data["channels"]} == {"email", "sms", "telegram"}
    assert data["messages"][0]["template"] == "welcome"


def test_export_has_nothing_of_another_merchants_customer(session, tenant, member):
    other = factories.make_tenant(session)
    twin = enroll(
        session,
        program=other.program,
        idempotency_key="join-ann",
        terms_accepted=True,
        name="Ann Weber",
        email="ann@example.com",
        now=NOW,
    )
    earn(session, member=twin, amount_cents=99_900, idempotency_key="e1", shop=other.shop, at=NOW)
    data = gdpr.export_member(session, member=member, now=NOW)
    assert data["controller"]["business"] == tenant.merchant.name
    assert [t["points"] for t in data["transactions"]] == [300, -100]
    assert other.merchant.name not in json.dumps(data)


def test_marketing_choices_are_recorded_with_a_new_time_only_when_changed(session, member):
    later = NOW + timedelta(days=1)
    consents = gdpr.update_marketing_consents(
        session, member=member, granted={"marketing_email": True, "marketing_sms": True}, now=later
    )
    assert consents["marketing_email"]["at"] == NOW.isoformat()  # unchanged
    assert consents["marketing_sms"] == {
        "granted": True,
        "at": later.isoformat(),
        "via": "member_page",
    }
    assert consents["marketing_telegram"]["granted"] is False
    assert consents["terms"]["version"] == "1"
    with pytest.raises(InvalidInput):
        gdpr.update_marketing_consents(session, member=member, granted={"sell_my_data": True})


def test_erase_anonymises_the_person_and_closes_the_card(session, tenant, member, secret_key):
    token = member_access.issue_link(session, member=member, secret_key=secret_key, now=NOW)
    qr = lookup.qr_token(member, secret_key)
    ledger_rows = count(session, LoyaltyTransaction, LoyaltyTransaction.member_id == member.id)

    gdpr.erase_member(session, member=member, actor=CUSTOMER, now=NOW)

    customer = member.customer
    assert (customer.name, customer.email, customer.phone, customer.birthday) == (
        "",
        None,
        None,
        None,
    )
    assert customer.consents == {}
    assert customer.erased_at == NOW
    assert member.status == MemberStatus.CLOSED
    assert count(session, ChannelIdentity, ChannelIdentity.member_id == member.id) == 0
    assert count(session, Conversation, Conversation.address == "777001") == 0
    assert count(session, MemberAccessToken, MemberAccessToken.member_id == member.id) == 0
    welcome = session.scalars(
        select(OutboxMessage).where(OutboxMessage.member_id == member.id)
    ).one()
    assert (welcome.status, welcome.address, welcome.payload) == (OutboxStatus.SKIPPED, "", {})
    # The merchant keeps its ledger: every row, the balance and the invariant.
    assert (
        count(session, LoyaltyTransaction, LoyaltyTransaction.member_id == member.id) == ledger_rows
    )
    assert assert_ledger_consistent(session, member.id) == 200
    # Nothing can find or use the card any more.
    with pytest.raises(InvalidToken):
        lookup.by_token(session, merchant=tenant.merchant, token=qr, secret_key=secret_key)
    with pytest.raises(InvalidToken):
        member_access.open_link(session, program=tenant.program, token=token, secret_key=secret_key)
    with pytest.raises(MemberNotActive):
        earn(session, member=member, amount_cents=100, idempotency_key="after", shop=tenant.shop)
    assert count(session, AuditLog, AuditLog.action == "member.erased") == 1
    exported = json.dumps(gdpr.export_member(session, member=member))
    assert "Ann" not in exported
    assert "ann@example.com" not in exported
    assert "621123456" not in exported


def test_erase_is_idempotent(session, member):
    gdpr.erase_member(session, member=member, actor=CUSTOMER, now=NOW)
    gdpr.erase_member(session, member=member, actor=CUSTOMER, now=NOW + timedelta(days=1))
    assert member.customer.erased_at == NOW
    assert count(session, AuditLog, AuditLog.action == "member.erased") == 1


def test_erase_leaves_the_same_person_at_another_merchant_alone(session, member):
    other = factories.make_tenant(session)
    twin = enroll(
        session,
        program=other.program,
        idempotency_key="join-ann",
        terms_accepted=True,
        name="Ann Weber",
        email="ann@example.com",
        now=NOW,
    )
    gdpr.erase_member(session, member=member, actor=CUSTOMER, now=NOW)
    assert (twin.customer.name, twin.customer.email) == ("Ann Weber", "ann@example.com")
    assert twin.status == MemberStatus.ACTIVE


def test_the_erased_email_can_join_again_as_a_new_member(session, tenant, member):
    gdpr.erase_member(session, member=member, actor=CUSTOMER, now=NOW)
    again = enroll(
        session,
        program=tenant.program,
        idempotency_key="join-ann-2",
        terms_accepted=True,
        email="ann@example.com",
        now=NOW,
    )
    assert again.id != member.id
    assert again.points_balance == 0
