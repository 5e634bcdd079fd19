"""Property: whatever is typed, the dialogue answers, never raises, and moves points only on a
confirmed redeem."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from loyalty.models import ChannelKind, Conversation, Offering, TransactionType
from loyalty.services import ledger
from loyalty.services.actors import SYSTEM
from loyalty_bot import dialogue, keywords
from loyalty_bot.dialogue import Incoming, Settings
from tests import factories
from tests.invariants import assert_ledger_consistent

SETTINGS = Settings(secret_key=b"test-secret-key", public_base_url="https://loyalty.example")
WORDS = [
    "JOIN",
    "yes",
    "no",
    "oui",
    "nein",
    "balance",
    "card",
    "rewards",
    "redeem 1",
    "redeem 2",
    "REDEEM 9",
    "history",
    "promos",
    "shops",
    "language",
    "langue de",
    "help",
    "STOP",
    "START",
    "cancel",
    "delete",
    "123456",
    "+352621000001",
    "a@b.co",
    "/start join_XXXXXX",
    "/start",
]
_addresses = itertools.count(1)

messages = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=60),
    st.builds(lambda w, t: f"{w} {t}", st.sampled_from(WORDS), st.text(max_size=10)),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(st.tuples(messages, st.sampled_from(["telegram", "sms"])), max_size=12))
def test_any_text_gets_an_answer_and_points_move_only_on_confirmed_redeem(session, sequence):
    with session.begin_nested() as example:  # each example starts from the same data
        tenant = factories.make_tenant(session, offering=Offering.PLUS)
        factories.make_reward(session, tenant, cost=40, name="Coffee")
        factories.make_reward(session, tenant, cost=90, name="Cake")
        phone = f"+35262177{next(_addresses):04d}"
        member = factories.make_member(session, tenant, phone=phone)
        ledger.credit(
            session,
            member=member,
            type=TransactionType.EARN,
            points=100,
            now=member.enrolled_at,
            idempotency_key=f"seed-{phone}",
            actor=SYSTEM,
            expires_at=None,
        )
        chats = {
            "sms": Incoming(channel=ChannelKind.SMS, address=phone, merchant_id=tenant.merchant.id),
            "telegram": Incoming(
                channel=ChannelKind.TELEGRAM,
                address=phone.lstrip("+"),
                merchant_id=tenant.merchant.id,
            ),
        }
        for text, channel in sequence:
            base = chats[channel]
            state = session.scalar(
                select(Conversation.state).where(
                    Conversation.channel == base.channel, Conversation.address == base.address
                )
            )
            before = member.points_balance
            incoming = Incoming(
                channel=base.channel, address=base.address, text=text, merchant_id=base.merchant_id
            )
            replies = dialogue.respond(session, incoming, SETTINGS)
            assert replies
            assert all(reply.text.strip() for reply in replies)
            session.refresh(member)
            if member.points_balance != before:
                assert state == dialogue.CONFIRM_REDEEM
                assert keywords.parse(text).name == "yes"
                assert member.points_balance < before
        assert_ledger_consistent(session, member.id)
        example.rollback()
