"""What a stamp-card programme's customers read speaks of stamps, never of points: the welcome,
notices' subjects, expiry reminders, automated campaigns' standard texts, and the chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from loyalty.models import (
    ChannelKind,
    ExpiryPolicy,
    LoyaltyTransaction,
    MerchantStatus,
    OutboxMessage,
    Role,
    StampPer,
    TransactionType,
)
from loyalty.notify import texts
from loyalty.services import automations, ledger, membership, receipts
from loyalty.services.actors import SYSTEM
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from loyalty.services.expiry_reminders import queue_expiry_reminders
from loyalty.services.member_access import resend_welcome
from tests import factories

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LUX = ZoneInfo("Europe/Luxembourg")


@pytest.fixture
def card(session, tenant):
    """Ten stamps, one per item; joining gives two stamps."""
    factories.make_stamp_card(session, tenant, per=StampPer.ITEM)
    tenant.program.signup_bonus = 2
    session.flush()
    return tenant.program


def _outbox(session, template: str) -> OutboxMessage:
    return session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)).one()


def _join(session, program, **contact):
    return enroll(
        session,
        program=program,
        idempotency_key="join",
        terms_accepted=True,
        name="Ana",
        now=NOW,
        **contact,
    )


def _email_parts(message: OutboxMessage) -> tuple[str, str, str]:
    email = texts.email_message(message, sender="shop@example.com")
    plain = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",))
    return str(email["Subject"]), plain, html.get_content() if html else ""


def test_the_welcome_e_mail_of_a_stamp_card_offers_stamps(session, card):
    _join(session, card, email="ana@example.com")
    message = _outbox(session, "welcome")
    message.payload = {**message.payload, "links": {"telegram": "https://t.me/cafe_bot"}}
    _subject, plain, html = _email_parts(message)
    for body in (plain, html):
        assert "2 welcome stamps on it" in body
        assert "to collect stamps" in body
        assert "points" not in body
    assert "Check your stamps in Telegram" in html


def test_a_points_programme_welcome_still_speaks_of_points(session, tenant):
    tenant.program.signup_bonus = 25
    _join(session, tenant.program, email="ana@example.com")
    _subject, plain, _html = _email_parts(_outbox(session, "welcome"))
    assert "25 welcome points on it" in plain
    assert "to collect points" in plain


def test_a_welcome_sent_again_from_the_back_office_speaks_of_stamps(session, tenant, card):
    member = factories.make_member(session, tenant, email="ana@example.com")
    manager = factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)
    message = resend_welcome(session, member=member, actor=manager, now=NOW)
    _subject, plain, _html = _email_parts(message)
    assert "to collect stamps" in plain
    assert "points" not in plain


def test_the_e_mail_notice_of_new_stamps_is_titled_with_stamps(session, tenant, card):
    member = factories.make_member(session, tenant, email="ana@example.com")
    factories.add_channel(session, member, ChannelKind.EMAIL, "ana@example.com")
    result = earn(session, member=member, amount_cents=900, items=3, idempotency_key="v", at=NOW)
    transaction = session.get(LoyaltyTransaction, result.transaction_id)
    receipts.notify_points_changed(session, member=member, transaction=transaction, shop=None)
    subject, plain, _html = _email_parts(_outbox(session, "points_changed"))
    assert subject == f"{card.name}: your stamps"
    assert "3 of 10 stamps" in plain


def test_the_expiry_reminder_of_a_stamp_card_counts_stamps(session, tenant, card):
    card.expiry_policy = ExpiryPolicy.AFTER_DAYS
    card.expiry_days = 30
    member = factories.make_member(session, tenant, email="ana@example.com")
    factories.add_channel(session, member, ChannelKind.EMAIL, "ana@example.com")
    earn(session, member=member, amount_cents=900, items=3, idempotency_key="v", at=NOW)
    reminder_day = NOW + timedelta(days=16)
    queued = queue_expiry_reminders(
        session, program=card, today=reminder_day.date(), zone=LUX, now=reminder_day
    )
    assert queued == 1
    message = _outbox(session, "expiry_warning")
    subject, plain, _html = _email_parts(message)
    assert subject == f"{card.name}: your stamps expire on 1 April 2026"
    assert plain.strip() == (
        f"{card.name}: 3 of your stamps expire on 1 April 2026. Use them before then."
    )


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("welcome_series", "you have {points} stamps on your card"),
        ("win_back", "Your {points} stamps are waiting for you."),
        ("expiry_reminder", "some of your stamps expire on {expiry_date}"),
    ],
)
def test_automated_campaigns_standard_texts_speak_of_stamps(session, tenant, card, key, says):
    state = automations.state(session, tenant.merchant.id, key)
    assert says in state.text
    assert "point" not in state.text.replace("{points}", "")  # the count is the stamps
    assert state.text == state.default_text  # still the standard text, not the merchant's own


def test_a_win_back_message_of_a_stamp_card_counts_stamps(session, tenant, card):
    automations.set_automation(session, merchant=tenant.merchant, key="win_back", enabled=True)
    member = factories.make_member(session, tenant, name="Ana Silva")
    member.customer.consents = {"marketing_sms": {"granted": True}}
    member.points_balance = 0
    factories.add_channel(session, member, ChannelKind.SMS, "+352621000001")
    earn(session, member=member, amount_cents=900, items=3, idempotency_key="v", at=NOW)
    member.last_activity_at = NOW
    session.flush()
    assert automations.queue_win_back(session, program=card, now=NOW + timedelta(days=60)) == 1
    message = _outbox(session, "automation_win_back")
    assert texts.short_text(message) == "We miss you, Ana! Your 3 stamps are waiting for you."


# The word for points, and for stamps, in each of the chat's languages.
POINTS = {"en": "point", "fr": "point", "de": "punkt"}
STAMPS = {"en": "stamp", "fr": "tampon", "de": "stempel"}


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_the_chat_speaks_of_stamps_to_a_stamp_card_member(session, tenant, card, language):
    from tests.integration.test_bot_dialogue import Chat, join_by_telegram

    card.signup_bonus = 0
    card.paid_membership = True
    card.membership_price_cents = 3000
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    chat.say(payload=f"language:{language}")
    said = {"history": chat.say("history"), "unpaid": chat.say("balance")}
    menu = [button.label for row in chat.replies[0].buttons for button in row]
    said["erase"] = chat.say("delete")
    chat.say("no")
    cashier = factories.actor_for(factories.make_user(session, tenant), Role.STAFF)
    membership.renew(session, member=member, actor=cashier, idempotency_key="r", now=chat.now)
    chat.now += timedelta(days=400)
    said["lapsed"] = chat.say("balance")
    tenant.merchant.status = MerchantStatus.SUSPENDED
    said["paused"] = chat.say("balance")
    for what, reply in said.items():
        assert STAMPS[language] in reply.lower(), what
        assert POINTS[language] not in reply.lower(), what
    assert not any(POINTS[language] in label.lower() for label in menu)


def test_the_chat_counts_expiring_stamps_as_stamps(session, tenant, card):
    from tests.integration.test_bot_dialogue import Chat, join_by_telegram

    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    ledger.credit(
        session,
        member=member,
        type=TransactionType.EARN,
        points=3,
        now=chat.now,
        idempotency_key="coffee",
        actor=SYSTEM,
        expires_at=chat.now + timedelta(days=30),
        description="Coffee",
    )
    session.expire(member)
    reply = chat.say("Stempel")
    assert "3 stamps expire on" in reply
    assert "point" not in reply.lower()


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_a_stranger_asking_for_help_hears_of_the_stamp_card(session, tenant, card, language):
    from tests.integration.test_bot_dialogue import Chat

    stranger = Chat(session, address="8001", merchant_id=tenant.merchant.id)
    said = stranger.say("hello", language_hint=language)
    assert card.name in said
    assert "JOIN" in said
    assert STAMPS[language] in said.lower()
    assert POINTS[language] not in said.lower()
