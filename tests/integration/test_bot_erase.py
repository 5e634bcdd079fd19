"""'Delete my data' in chat: after the customer confirms, the GDPR erasure really runs."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty.models import (
    AuditLog,
    ChannelIdentity,
    ChannelKind,
    Conversation,
    MemberStatus,
    Offering,
    OutboxMessage,
    OutboxStatus,
)
from tests import factories
from tests.integration.test_bot_dialogue import Chat, join_by_telegram, member_of
from tests.invariants import assert_ledger_consistent


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS)
    tenant.program.signup_bonus = 25
    session.flush()
    return tenant


def test_confirmed_delete_erases_the_member_and_forgets_the_chat(session, tenant):
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    chat.say("delete my data")
    reply = chat.say("yes")
    assert "card is closed" in reply

    customer = member.customer
    assert (customer.name, customer.phone, customer.email) == ("", None, None)
    assert customer.erased_at is not None
    assert member.status == MemberStatus.CLOSED
    assert member_of(session, chat) is None  # the chat's link to the card is gone
    assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 0
    assert session.scalar(select(func.count()).select_from(Conversation)) == 0
    # The ledger stays for the merchant's books, and still adds up.
    assert member.points_balance == 25
    assert_ledger_consistent(session, member.id)
    # Nothing queued for the person goes out any more (the welcome message, here).
    statuses = session.scalars(select(OutboxMessage.status)).all()
    assert statuses
    assert set(statuses) <= {OutboxStatus.SKIPPED, OutboxStatus.SENT}
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["gdpr.erase_requested", "member.erased"]


def test_after_erasure_the_chat_is_a_stranger_and_may_join_again(session, tenant):
    chat = Chat(session)
    old = join_by_telegram(session, tenant, chat)
    chat.say("erase")
    chat.say("yes")
    assert "JOIN" in chat.say("balance")  # not a member: told how to join
    new = join_by_telegram(session, tenant, chat)
    assert new.id != old.id
    assert new.card_number != old.card_number


def test_declining_or_changing_the_subject_erases_nothing(session, tenant):
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    chat.say("delete")
    assert "Cancelled" in chat.say("no")
    chat.say("delete")
    assert "25 points" in chat.say("balance")  # another command drops the question
    assert "nothing to confirm" in chat.say("yes")  # a late YES confirms nothing
    assert member.customer.erased_at is None
    assert member.status == MemberStatus.ACTIVE
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_sms_erasure_on_own_number_stops_recognising_the_sender(session, tenant):
    chat = Chat(
        session, channel=ChannelKind.SMS, address="+352621555444", merchant_id=tenant.merchant.id
    )
    chat.say("join")
    chat.say("YES")
    member = member_of(session, chat)
    assert member is not None
    chat.say("DELETE")
    assert "card is closed" in chat.say("YES")
    assert member.customer.phone is None
    # The phone no longer names the erased member: the number is treated as a newcomer.
    assert "JOIN" in chat.say("BALANCE")


def test_erasure_in_one_programme_leaves_the_other_alone(session, tenant):
    other = factories.make_tenant(session, offering=Offering.PLUS)
    here = Chat(
        session, channel=ChannelKind.SMS, address="+352621555666", merchant_id=tenant.merchant.id
    )
    there = Chat(
        session, channel=ChannelKind.SMS, address="+352621555666", merchant_id=other.merchant.id
    )
    for chat in (here, there):
        chat.say("join")
        chat.say("YES")
    kept = member_of_merchant(session, there)
    here.say("delete")
    here.say("yes")
    assert kept.customer.erased_at is None
    assert kept.customer.phone == "+352621555666"
    assert "Welcome back" in there.say("join") or str(kept.points_balance) in there.say("balance")


def member_of_merchant(session, chat: Chat):
    identity = session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.kind == chat.channel,
            ChannelIdentity.address == chat.address,
            ChannelIdentity.merchant_id == chat.merchant_id,
        )
    ).one()
    return identity.member
