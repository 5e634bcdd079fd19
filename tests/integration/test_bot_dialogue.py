"""The chat dialogue on a real database: joining, linking, balance, card, redeem, opt-out, erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loyalty.models import (
    AuditLog,
    ChannelIdentity,
    ChannelKind,
    Conversation,
    LoyaltyMember,
    Offering,
    OutboxChannel,
    OutboxMessage,
    Promotion,
    PromotionType,
    RedemptionLimit,
    Role,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services import ledger, membership, vouchers
from loyalty.services.actors import SYSTEM
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from loyalty_bot import dialogue
from loyalty_bot.dialogue import Incoming, Reply, Settings
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SETTINGS = Settings(secret_key=b"test-secret-key", public_base_url="https://loyalty.example")


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS)
    tenant.program.signup_bonus = 25
    session.flush()
    return tenant


class Chat:
    """One customer's chat: `say()` sends a message and returns the replies' texts."""

    def __init__(self, session, *, channel=ChannelKind.TELEGRAM, address="5001", merchant_id=None):
        self.session = session
        self.channel = channel
        self.address = address
        self.merchant_id = merchant_id
        self.now = NOW
        self.replies: list[Reply] = []

    def send(self, text: str = "", **fields) -> list[Reply]:
        incoming = Incoming(
            channel=self.channel,
            address=self.address,
            text=text,
            merchant_id=self.merchant_id,
            name="Léa Muller",
            **fields,
        )
        self.replies = dialogue.respond(self.session, incoming, SETTINGS, now=self.now)
        assert self.replies, "the bot must always answer"
        return self.replies

    def say(self, text: str = "", **fields) -> str:
        return "\n".join(r.text for r in self.send(text, **fields))

    def conversation(self) -> Conversation:
        return self.session.scalars(
            select(Conversation).where(Conversation.address == self.address)
        ).one()


def member_of(session, chat: Chat) -> LoyaltyMember | None:
    identity = session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.kind == chat.channel, ChannelIdentity.address == chat.address
        )
    ).first()
    return identity.member if identity else None


def sms_chat(session, tenant, address: str) -> Chat:
    """A conversation by SMS from `address` to the merchant's own number."""
    return Chat(session, channel=ChannelKind.SMS, address=address, merchant_id=tenant.merchant.id)


def join_by_telegram(session, tenant, chat: Chat, phone="+352621123456") -> LoyaltyMember:
    assert "Reply YES" in chat.say(f"/start join_{tenant.program.join_code}")
    chat.say(payload="yes")
    chat.send(contact_phone=phone, contact_is_own=True)
    member = member_of(session, chat)
    assert member is not None
    return member


def test_deep_link_join_asks_consent_then_phone_and_gives_card_with_bonus(session, tenant):
    chat = Chat(session)
    asked = chat.send(f"/start join_{tenant.program.join_code}")
    assert tenant.program.name in asked[0].text
    assert [b.payload for b in asked[0].buttons[0]] == ["yes", "no"]
    asked = chat.send(payload="yes")
    assert asked[0].request_contact  # the "share my phone number" button
    replies = chat.send(contact_phone="+352621123456", contact_is_own=True)
    member = member_of(session, chat)
    assert member is not None
    assert member.points_balance == 25  # sign-up bonus
    assert member.customer.consents["terms"]["granted"] is True
    assert "25 points" in replies[0].text
    card = replies[1]
    assert card.photo
    assert card.photo.startswith(b"\x89PNG")
    assert {url.split("/")[4] for _, url in card.links} == {"pass", "google", "qr"}
    assert_ledger_consistent(session, member.id)


def test_declining_the_terms_creates_nothing(session, tenant):
    chat = Chat(session)
    chat.say(f"JOIN {tenant.program.join_code.lower()}")
    assert "not joined" in chat.say("no")
    assert member_of(session, chat) is None
    assert session.scalar(select(func.count()).select_from(LoyaltyMember)) == 0


def test_someone_elses_contact_is_refused(session, tenant):
    chat = Chat(session)
    chat.say(f"/start join_{tenant.program.join_code}")
    chat.say("yes")
    assert "your own number" in chat.say(contact_phone="+352621999999", contact_is_own=False)
    assert member_of(session, chat) is None


def test_sms_join_on_merchants_own_number_needs_no_code(session, tenant):
    chat = sms_chat(session, tenant, "+352621555000")
    assert "YES" in chat.say("join")
    assert "Welcome" in chat.say("YES")
    member = member_of(session, chat)
    assert member is not None
    assert member.customer.phone == "+352621555000"


def test_unknown_join_code_is_explained(session, tenant):
    assert "ZZZZZZ" in Chat(session).say("JOIN zzzzzz")


def test_existing_member_links_chat_after_one_time_code(session, tenant):
    existing = factories.make_member(session, tenant, phone="+352621123456")
    chat = Chat(session)
    chat.say(f"/start join_{tenant.program.join_code}")
    chat.say("yes")
    sent = chat.say(contact_phone="+352621123456", contact_is_own=True)
    assert "6-digit code" in sent
    assert "+352" in sent
    assert "123456" not in sent
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "link_code")
    ).one()
    assert message.channel == OutboxChannel.SMS
    assert message.address == "+352621123456"
    code = message.payload["code"]
    data = chat.conversation().data
    assert code not in str(data)  # only a hash is kept
    assert data["code_hash"] == dialogue.hash_code(
        SETTINGS.secret_key, chat.conversation().id, code
    )

    wrong = "000000" if code != "000000" else "111111"
    assert "4 tries left" in chat.say(wrong)
    assert member_of(session, chat) is None
    assert "linked to card" in chat.say(code)
    assert member_of(session, chat).id == existing.id
    assert session.scalar(select(func.count()).select_from(LoyaltyMember)) == 1


def test_one_time_code_expires_and_has_limited_attempts(session, tenant):
    factories.make_member(session, tenant, email="lea@example.com")
    chat = Chat(session)
    chat.say(f"JOIN {tenant.program.join_code}")
    chat.say("yes")
    assert "l•••@example.com" in chat.say("Lea@Example.com")
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "link_code")
    ).one()
    assert message.channel == OutboxChannel.EMAIL
    chat.now = NOW + timedelta(minutes=11)
    assert "expired" in chat.say(message.payload["code"])
    assert member_of(session, chat) is None

    chat.now = NOW
    chat.say(f"JOIN {tenant.program.join_code}")
    chat.say("yes")
    chat.say("lea@example.com")
    code = (
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template == "link_code")
            .order_by(OutboxMessage.id.desc())
        )
        .first()
        .payload["code"]
    )
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        chat.say(wrong)
    assert "expired or was tried too often" in chat.say(wrong)
    assert "not a member" in chat.say(code) or member_of(session, chat) is None
    assert member_of(session, chat) is None


def test_balance_shows_tier_next_tier_and_next_expiry(session, tenant):
    tenant.program.expiry_days = 365
    silver = factories.make_tier(session, tenant, name="Silver", min_points=0)
    factories.make_tier(session, tenant, name="Gold", min_points=500)
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    member.tier_id = silver.id
    ledger.credit(
        session,
        member=member,
        type=TransactionType.EARN,
        points=100,
        now=NOW,
        idempotency_key="earn-1",
        actor=SYSTEM,
        expires_at=NOW + timedelta(days=30),
        description="Purchase",
    )
    session.expire(member)
    reply = chat.say("Balnce")  # a typo
    assert "125 points" in reply
    assert "Silver" in reply
    assert "375 more for Gold" in reply
    assert "100 points expire on 02.04.2025" in reply


def test_rewards_redeem_with_confirmation_and_voucher_scanned_at_till(session, tenant):
    cheap = factories.make_reward(session, tenant, cost=20, name="Coffee")
    factories.make_reward(session, tenant, cost=1000, name="Bike")
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    listing = chat.send("rewards")[0]
    assert "1. Coffee – 20 points *" in listing.text
    assert "2. Bike – 1000 points" in listing.text
    assert [b.payload for row in listing.buttons for b in row] == [f"redeem:{cheap.id}"]

    assert "Reply YES" in chat.say(payload=f"redeem:{cheap.id}")
    session.refresh(member)
    assert member.points_balance == 25  # nothing moves before the confirmation
    voucher_text = chat.say(payload="yes")
    session.refresh(member)
    assert member.points_balance == 5
    assert "Your voucher for Coffee" in voucher_text
    code = voucher_text.split("Coffee: ")[1].split(",")[0]
    assert "nothing to confirm" in chat.say("yes")  # a second YES spends nothing more
    session.refresh(member)
    assert member.points_balance == 5

    used = vouchers.use_voucher(
        session,
        merchant=tenant.merchant,
        code=code,
        idempotency_key="till-1",
        actor=SYSTEM,
        shop=tenant.shop,
        now=NOW + timedelta(hours=1),
    )
    assert used.status == VoucherStatus.USED
    assert_ledger_consistent(session, member.id)


def test_redeem_by_number_and_refusals(session, tenant):
    factories.make_reward(session, tenant, cost=20, name="Coffee")
    factories.make_reward(session, tenant, cost=1000, name="Bike")
    chat = sms_chat(session, tenant, "+352621555111")
    chat.say("JOIN")
    chat.say("oui")
    chat.say("REWARDS")
    assert "975 more" in chat.say("redeem 2")
    assert "Reply YES" in chat.say("REDEEM 1")
    assert "Cancelled" in chat.say("no")
    assert member_of(session, chat).points_balance == 25


def test_history_promotions_and_shops(session, tenant):
    session.add(
        Promotion(
            merchant_id=tenant.merchant.id,
            program_id=tenant.program.id,
            name="Double Monday",
            type=PromotionType.POINTS_MULTIPLIER,
            value=2,
            starts_at=NOW - timedelta(days=1),
            ends_at=NOW + timedelta(days=6),
        )
    )
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    assert "+25 Welcome bonus" in chat.say("historique")
    assert "Double Monday (x2)" in chat.say("promos")
    shops = chat.say("shops")
    assert "Main street: 1 Main St" in shops


def test_language_changes_replies_and_customer(session, tenant):
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    assert "français" in chat.say(payload="language:fr")
    assert member.customer.language == "fr"
    assert "points" in chat.say("SOLDE")
    assert "Deutsch" in chat.say("sprache deutsch")
    assert "Punkte" in chat.say("punkte")


def test_stop_and_start_opt_the_channel_out_and_in(session, tenant):
    chat = sms_chat(session, tenant, "+352621555222")
    chat.say("JOIN")
    chat.say("YES")
    for word in ("STOP", "stopall", "Unsubscribe", "cancel", "END", "quit"):
        assert "no more messages" in chat.say(word)
        identity = session.scalars(
            select(ChannelIdentity).where(ChannelIdentity.address == chat.address)
        ).one()
        assert identity.opted_out_at is not None
        for back in ("START", "unstop"):
            assert "on again" in chat.say(back)
            session.refresh(identity)
            assert identity.opted_out_at is None
            chat.say(word)
    assert "BALANCE" in chat.say("HELP")
    assert "BALANCE" in chat.say("info")


def test_delete_my_data_needs_confirmation_and_files_request(session, tenant):
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    assert "Reply YES" in chat.say("delete my data")
    assert "Cancelled" in chat.say("no")
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 0
    chat.say("supprimer")
    assert "card is closed" in chat.say("yes")  # more in test_bot_erase.py
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["gdpr.erase_requested", "member.erased"]
    assert member.customer.erased_at is not None


def test_unknown_text_gets_short_help_in_every_situation(session, tenant):
    stranger = Chat(session, address="9999")
    assert "JOIN" in stranger.say("what is this?")
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    assert "did not understand" in chat.say("🤖🤖 qwertz")


def test_platform_bot_remembers_the_only_programme_of_a_linked_chat(session, tenant):
    other = factories.make_tenant(session, offering=Offering.BASIC)
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    conversation = chat.conversation()
    conversation.merchant_id = None
    assert "25 points" in chat.say("balance")
    assert "Reply YES" in chat.say(f"join {other.program.join_code}")


def test_a_failing_turn_is_apologised_for_and_rolled_back(session, tenant, monkeypatch):
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)

    def broken(self):
        self.conversation.state = "half-done"
        raise RuntimeError("database went away")

    monkeypatch.setattr(dialogue._Turn, "balance", broken)
    assert "Sorry, something went wrong" in chat.say("balance")
    assert chat.conversation().state == "idle"


def test_sms_replies_fit_one_segment_where_possible(session, tenant):
    chat = sms_chat(session, tenant, "+352621555333")
    for message in ("JOIN", "YES", "BALANCE", "HELP", "blah", "STOP", "START", "history"):
        for reply in chat.send(message):
            if "http" not in reply.text:
                assert dialogue_gsm_length(reply.text) <= 160, reply.text


def dialogue_gsm_length(text: str) -> int:
    from loyalty_bot.sms import gsm7_length

    return gsm7_length(text)


def test_enroll_service_member_is_found_by_sms_sender(session, tenant):
    member = enroll(
        session,
        program=tenant.program,
        idempotency_key="web-1",
        terms_accepted=True,
        phone="+352621555444",
        now=NOW,
    )
    chat = sms_chat(session, tenant, "+352621555444")
    assert f"{member.points_balance} points" in chat.say("solde")


def test_balance_tells_how_much_spend_already_counts_towards_the_next_point(session, tenant):
    tenant.program.points_per_euro = Decimal("0.2")
    tenant.program.carry_over_spend = True
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    earn(session, member=member, amount_cents=3250, idempotency_key="carry-1")
    assert "€2.50 already counts towards your next point" in chat.say("balance")


def test_balance_names_pending_points_and_when_they_become_available(session, tenant):
    tenant.program.pending_days = 14
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    earn(session, member=member, amount_cents=4000, idempotency_key="pending-1", at=NOW)
    reply = chat.say("balance")
    assert "40 points pending until 17.03.2025" in reply


def test_balance_says_until_when_a_paid_membership_runs_and_when_it_ran_out(session, tenant):
    tenant.program.paid_membership = True
    tenant.program.membership_price_cents = 3000
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    assert "Membership not paid yet: pay at the till (€30.00)" in chat.say("balance")
    cashier = factories.actor_for(factories.make_user(session, tenant), Role.STAFF)
    membership.renew(session, member=member, actor=cashier, idempotency_key="r1", now=NOW)
    session.expire(member)
    # Paid on 3 Mar 2025 in Luxembourg: valid to the end of 2 Mar 2026, the merchant's day.
    assert "Membership valid until 02.03.2026." in chat.say("balance")
    chat.now = NOW + timedelta(days=400)
    assert "Membership expired on 02.03.2026: renew at the till (€30.00)" in chat.say("balance")


def test_balance_names_the_next_reward_on_the_ladder_with_a_bar_in_telegram(session, tenant):
    factories.make_reward(session, tenant, cost=20, name="Coffee")
    factories.make_reward(session, tenant, cost=100, name="Croissant box")
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)  # 25 points: Coffee reached, the box is next
    reply = chat.say("balance")
    assert "Next reward: Croissant box in 75 pts." in reply
    assert "▓▓░░░░░░░░ 25%" in reply
    sms = sms_chat(session, tenant, "+352621555777")
    sms.say("JOIN")
    sms.say("oui")
    text = sms.say("BALANCE")
    assert "Next reward: Croissant box in 75 pts." in text
    assert "▓" not in text  # SMS stays plain


def test_a_once_per_member_reward_is_marked_used_and_refused_in_chat(session, tenant):
    once = factories.make_reward(
        session, tenant, cost=10, name="Welcome coffee", limit=RedemptionLimit.ONCE
    )
    monthly = factories.make_reward(
        session, tenant, cost=5, name="Cookie", limit=RedemptionLimit.MONTH
    )
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    chat.say(payload=f"redeem:{once.id}")
    assert "Your voucher for Welcome coffee" in chat.say(payload="yes")
    chat.say(payload=f"redeem:{monthly.id}")
    assert "Your voucher for Cookie" in chat.say(payload="yes")
    listing = chat.send("rewards")[0]
    assert "Cookie – 5 points (used, again from 01.04.2025)" in listing.text
    assert "Welcome coffee – 10 points (used)" in listing.text
    assert listing.buttons == []  # 10 points left, but both rewards are used
    refused = chat.say(payload=f"redeem:{once.id}")
    assert refused.startswith("You already redeemed Welcome coffee on 03.03.2025: once per member")
    session.refresh(member)
    assert member.points_balance == 10
    # A confirmation that arrives after another channel already redeemed it: the service refuses.
    chat.conversation().state = dialogue.CONFIRM_REDEEM
    chat.conversation().data = {"reward_id": monthly.id, "key": "late-confirm"}
    assert "again from 01.04.2025" in chat.say(payload="yes")
    session.refresh(member)
    assert member.points_balance == 10
    assert_ledger_consistent(session, member.id)


def test_a_message_merely_starting_with_n_is_not_understood_rather_than_taken_for_no(
    session, tenant
):
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    assert "did not understand" in chat.say("no idea")
    chat.say(payload="language:fr")
    said = chat.say("n importe quoi")
    assert "je n'ai pas compris" in said
    assert "rien à confirmer" not in said
    assert "rien à confirmer" in chat.say("n")  # the word alone is still an answer


@pytest.mark.parametrize(
    ("language", "help_word", "greetings"),
    [
        ("en", "HELP", ["hello", "Hi!", "hey"]),
        ("fr", "aide", ["Bonjour", "salut", "Moien"]),
        ("de", "Hilfe", ["Hallo", "moien"]),
    ],
)
def test_a_greeting_gets_the_menu_in_the_members_language(
    session, tenant, language, help_word, greetings
):
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    chat.say(payload=f"language:{language}")
    menu = chat.send(help_word)
    for greeting in greetings:
        assert chat.send(greeting) == menu, greeting


@pytest.mark.parametrize("message", ["HELP", "hello", "bonjour"])
def test_a_stranger_asking_for_help_learns_what_the_programme_is_and_what_joining_gives(
    session, tenant, message
):
    stranger = Chat(session, address="9998", merchant_id=tenant.merchant.id)
    said = stranger.say(message)
    assert tenant.program.name in said
    assert "JOIN" in said
    assert "points" in said
    assert "rewards" in said
    assert "not a member" not in said


def test_a_stranger_is_told_about_the_programme_in_their_language(session, tenant):
    stranger = Chat(session, address="9997", merchant_id=tenant.merchant.id)
    said = stranger.say("aide", language_hint="fr")
    assert tenant.program.name in said
    assert "JOIN" in said
    assert "cadeaux" in said
    german = Chat(session, address="9996", merchant_id=tenant.merchant.id)
    assert "Prämien" in german.say("Hallo", language_hint="de")


def test_a_stranger_writing_nonsense_is_still_told_to_join(session, tenant):
    stranger = Chat(session, address="9995", merchant_id=tenant.merchant.id)
    assert stranger.say("qwertz") == (
        f"You are not a member of {tenant.program.name} yet. Send JOIN to get your card."
    )


@pytest.mark.parametrize(
    ("language", "stopped", "back", "menu_word"),
    [
        ("en", "no more messages", "on again", "BALANCE"),
        ("fr", "ne recevrez plus", "réactivés", "SOLDE"),
        ("de", "keine Nachrichten mehr", "wieder an", "PUNKTE"),
    ],
)
def test_start_after_stop_confirms_messages_are_back_then_shows_the_menu(
    session, tenant, language, stopped, back, menu_word
):
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    chat.say(payload=f"language:{language}")
    assert stopped in chat.say("STOP")
    confirmation, menu = chat.send("/start")
    assert back in confirmation.text
    assert menu_word in menu.text
    assert menu.buttons  # the menu's buttons come with the menu
    identity = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.address == chat.address)
    ).one()
    assert identity.opted_out_at is None
    assert [r.text for r in chat.send("/start")] == [menu.text]  # not stopped: just the menu


def test_sms_start_after_stop_confirms_then_shows_the_menu(session, tenant):
    chat = sms_chat(session, tenant, "+352621555888")
    chat.say("JOIN")
    chat.say("YES")
    chat.say("STOP")
    confirmation, menu = chat.send("START")
    assert "on again" in confirmation.text
    assert "BALANCE" in menu.text


@pytest.mark.parametrize(
    ("language", "listed"),
    [
        ("en", ["Rewards (25 points):", "1. Coffee – 20 points *", "2. Bike – 1000 points"]),
        ("fr", ["Cadeaux (25 points) :", "1. Coffee – 20 points *", "2. Bike – 1000 points"]),
        ("de", ["Prämien (25 Punkte):", "1. Coffee – 20 Punkte *", "2. Bike – 1000 Punkte"]),
    ],
)
def test_the_rewards_list_reads_number_name_and_cost_with_its_unit_starring_those_in_reach(
    session, tenant, language, listed
):
    factories.make_reward(session, tenant, cost=20, name="Coffee")
    factories.make_reward(session, tenant, cost=1000, name="Bike")
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    chat.say(payload=f"language:{language}")
    lines = chat.say("rewards").splitlines()
    assert lines[:3] == listed
    assert lines[3].startswith("* = ")  # the legend of the star


def test_the_rewards_list_by_sms_stays_in_the_gsm_alphabet(session, tenant):
    factories.make_reward(session, tenant, cost=20, name="Coffee")
    chat = sms_chat(session, tenant, "+352621555999")
    chat.say("JOIN")
    chat.say("YES")
    listing = chat.say("REWARDS")
    assert "1. Coffee - 20 points *" in listing
    assert dialogue_gsm_length(listing) == len(listing)  # an en dash would make it UCS-2


def test_vouchers_lists_open_vouchers_with_their_last_day_in_the_merchants_time_zone(
    session, tenant
):
    coffee = factories.make_reward(session, tenant, cost=20, name="Coffee")
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    assert chat.say("vouchers") == "You have no vouchers."
    chat.say(payload=f"redeem:{coffee.id}")
    chat.say(payload="yes")
    voucher = session.scalars(select(Voucher).where(Voucher.member_id == member.id)).one()
    # 23:30 UTC on 31 March is already 1 April in Luxembourg (UTC+2 since 30 March).
    voucher.valid_until = datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    session.flush()
    code = vouchers.format_code(voucher.code)
    assert chat.say("vouchers") == f"Your vouchers:\n{code}: Coffee, valid until 01.04.2025"
    chat.say(payload="language:fr")
    assert f"{code} : Coffee, valable jusqu'au 01.04.2025" in chat.say("mes bons")
    chat.say(payload="language:de")
    assert f"{code}: Coffee, gültig bis 01.04.2025" in chat.say("Gutscheine")
    vouchers.use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="till-v",
        actor=SYSTEM,
        shop=tenant.shop,
        now=NOW + timedelta(hours=1),
    )
    assert chat.say("voucher") == "Sie haben keine Gutscheine."


def test_the_menu_offers_the_vouchers(session, tenant):
    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    help_reply = chat.send("help")[0]
    assert "VOUCHERS" in help_reply.text
    assert "vouchers" in [b.payload for row in help_reply.buttons for b in row]
    chat.say(payload="language:fr")
    assert "BONS" in chat.say("aide")
    chat.say(payload="language:de")
    assert "GUTSCHEINE" in chat.say("hilfe")


def test_a_stranger_asking_for_vouchers_is_told_to_join(session, tenant):
    stranger = Chat(session, address="9994", merchant_id=tenant.merchant.id)
    assert "JOIN" in stranger.say("vouchers")
