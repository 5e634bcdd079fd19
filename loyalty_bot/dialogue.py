"""The conversation a customer has with the programme, the same on Telegram, SMS and the console.

`respond(session, incoming, settings)` reads one message (typed text or a button's payload),
moves the chat's `Conversation` row along and returns the replies. It calls the domain services
for everything about points and never commits: the adapter commits once per message. No
Telegram or Twilio here; adapters turn `Reply` into their own messages.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import (
    DuplicateCustomer,
    InsufficientPoints,
    InvalidInput,
    LoyaltyError,
    MemberNotActive,
    RewardLimitReached,
    RewardOutOfStock,
    RewardUnavailable,
)
from loyalty.identity import format_card_number, normalize_email, normalize_phone
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Conversation,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    Merchant,
    MerchantStatus,
    OutboxChannel,
    PromotionType,
    Reward,
)
from loyalty.money import euros
from loyalty.notify import outbox
from loyalty.offerings import Feature
from loyalty.services import (
    audit,
    enroll,
    gdpr,
    ladder,
    lookup,
    member_access,
    membership,
    pending,
    reward_limits,
    rewards,
    stamps,
    tiers,
    vouchers,
)
from loyalty.services.actors import Actor
from loyalty.services.promotions import active_promotions
from loyalty.services.reward_limits import LimitHit
from loyalty_bot import keywords
from loyalty_bot.messages import LANGUAGE_NAMES, LANGUAGES, for_card, text
from wallet.links import links_for
from wallet.qr import qr_png

log = logging.getLogger(__name__)

CUSTOMER = Actor.customer()
HISTORY_LENGTH = 10
IDLE = "idle"
# What the bot may be waiting for; anything else in `state` is treated as idle.
JOIN_TERMS, JOIN_CONTACT, LINK_CODE = "join_terms", "join_contact", "link_code"
CONFIRM_REDEEM, CONFIRM_ERASE = "confirm_redeem", "confirm_erase"
MENU = (
    "balance",
    "card",
    "rewards",
    "vouchers",
    "history",
    "promotions",
    "shops",
    "language",
    "help",
)


@dataclass(frozen=True)
class Button:
    label: str
    payload: str  # what comes back as `Incoming.payload` when pressed


@dataclass
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    photo: bytes | None = None  # a PNG (the card's QR code)
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    request_contact: str = ""  # label of a "share my phone number" button, Telegram only


@dataclass(frozen=True)
class Incoming:
    """One message from a customer, as the adapter understood it."""

    channel: ChannelKind
    address: str  # Telegram chat id, or the sender's phone in E.164
    text: str = ""
    payload: str = ""  # a pressed button's payload
    bot: str = "platform"  # the bot or the SMS number written to
    merchant_id: int | None = None  # set when the bot or number belongs to one merchant
    name: str = ""  # the sender's display name, for a new card
    language_hint: str = ""  # the client's language (Telegram's language_code)
    contact_phone: str = ""  # a shared contact's number (Telegram)
    contact_is_own: bool = False  # the shared contact is the sender's own


@dataclass(frozen=True)
class Settings:
    secret_key: bytes
    public_base_url: str
    code_ttl: timedelta = timedelta(minutes=10)
    code_attempts: int = 5


def respond(
    session: Session, incoming: Incoming, settings: Settings, *, now: datetime | None = None
) -> list[Reply]:
    """Always answers: a failure is logged and apologised for, and changes nothing."""
    now = now or utcnow()
    try:
        with session.begin_nested():
            return _Turn(session, incoming, settings, now).run()
    except Exception:
        log.exception("bot turn failed: %s %s", incoming.channel, incoming.address)
        return [Reply(text("apology", _language_guess(incoming)))]


def _language_guess(incoming: Incoming) -> str:
    hint = (incoming.language_hint or "")[:2].lower()
    return hint if hint in LANGUAGES else "en"


def hash_code(secret_key: bytes, conversation_id: int, code: str) -> str:
    message = f"bot-link-code:{conversation_id}:{code}".encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()


def mask(address: str) -> str:
    """'+352621123456' -> '+352•••••••56'; 'anne@example.com' -> 'a•••@example.com'."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    return address[:4] + "•" * max(len(address) - 6, 0) + address[-2:]


class _Turn:
    """One message being answered. Short-lived: built, run, dropped."""

    def __init__(
        self, session: Session, incoming: Incoming, settings: Settings, now: datetime
    ) -> None:
        self.session = session
        self.incoming = incoming
        self.settings = settings
        self.now = now
        self.sms = incoming.channel == ChannelKind.SMS
        self.conversation = self._conversation()
        self.language = self.conversation.language
        self.merchant: Merchant | None = None
        self.program: LoyaltyProgram | None = None
        self.member: LoyaltyMember | None = None

    # --- who is talking, about which programme ---------------------------------------------

    def _conversation(self) -> Conversation:
        incoming = self.incoming
        query = select(Conversation).where(
            Conversation.channel == incoming.channel,
            Conversation.bot == incoming.bot,
            Conversation.address == incoming.address,
        )
        conversation = self.session.scalars(query).one_or_none()
        if conversation is None:
            conversation = Conversation(
                channel=incoming.channel,
                bot=incoming.bot,
                address=incoming.address,
                merchant_id=incoming.merchant_id,
                language=_language_guess(incoming),
                state=IDLE,
                data={},
            )
            try:
                with self.session.begin_nested():
                    self.session.add(conversation)
                    self.session.flush()
            except IntegrityError:  # the same chat's previous message created it meanwhile
                conversation = self.session.scalars(query).one()
        if incoming.merchant_id is not None:
            conversation.merchant_id = incoming.merchant_id
        return conversation

    def _select_programme(self, merchant_id: int | None) -> None:
        self.merchant = self.session.get(Merchant, merchant_id) if merchant_id else None
        self.program = None
        self.member = None
        if self.merchant is None:
            return
        self.program = self.session.scalars(
            select(LoyaltyProgram).where(LoyaltyProgram.merchant_id == self.merchant.id)
        ).one_or_none()
        self.member = self._linked_member()
        if self.member is not None and self.member.customer.language in LANGUAGES:
            self.language = self.conversation.language = self.member.customer.language

    def _linked_member(self) -> LoyaltyMember | None:
        assert self.merchant is not None
        identity = self.session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.merchant_id == self.merchant.id,
                ChannelIdentity.kind == self.incoming.channel,
                ChannelIdentity.address == self.incoming.address,
            )
        ).first()
        if identity is not None:
            return identity.member
        if self.sms:
            # The carrier vouches for the sender's number: it identifies the member.
            try:
                member = lookup.by_phone(
                    self.session, merchant=self.merchant, raw=self.incoming.address
                )
            except LoyaltyError:
                return None
            self._link(member, verified=True)
            return member
        return None

    def _guess_merchant(self) -> int | None:
        """On the shared bot, a chat linked to exactly one programme needs no code."""
        merchant_ids = self.session.scalars(
            select(ChannelIdentity.merchant_id)
            .where(
                ChannelIdentity.kind == self.incoming.channel,
                ChannelIdentity.address == self.incoming.address,
            )
            .distinct()
            .limit(2)
        ).all()
        return merchant_ids[0] if len(merchant_ids) == 1 else None

    def _link(self, member: LoyaltyMember, *, verified: bool) -> ChannelIdentity:
        identity = self.session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.merchant_id == member.merchant_id,
                ChannelIdentity.kind == self.incoming.channel,
                ChannelIdentity.address == self.incoming.address,
            )
        ).first()
        if identity is None:
            identity = ChannelIdentity(
                merchant_id=member.merchant_id,
                member_id=member.id,
                kind=self.incoming.channel,
                address=self.incoming.address,
            )
            self.session.add(identity)
        identity.member_id = member.id
        if verified and identity.verified_at is None:
            identity.verified_at = self.now
        if self.conversation.opted_out_at is not None:
            identity.opted_out_at = self.conversation.opted_out_at
        self.session.flush()
        return identity

    # --- dispatch ---------------------------------------------------------------------------

    def run(self) -> list[Reply]:
        conversation = self.conversation
        merchant_id = conversation.merchant_id or self._guess_merchant()
        conversation.merchant_id = merchant_id
        self._select_programme(merchant_id)

        raw = self.incoming.payload or self.incoming.text or ""
        if self.sms and keywords.is_sms_stop(raw):
            return self._finish(self.stop())
        if self.sms and keywords.is_sms_start(raw):
            return self._finish(self.start_messages())
        if self.incoming.payload:
            name, _, argument = self.incoming.payload.partition(":")
            command = keywords.Command(name, argument)
        elif self.incoming.contact_phone:
            command = keywords.Command("contact", self.incoming.contact_phone)
        else:
            command = keywords.parse(self.incoming.text)

        switching = command.name == "join" and command.argument.strip()  # to another programme
        if self._paused() and command.name not in ("stop", "language", "lang") and not switching:
            # Opting out still works while paused; nothing else does.
            return self._finish([Reply(self.t("programme_paused", program=self._program_name()))])

        waiting = conversation.state if conversation.state != IDLE else ""
        if waiting:
            replies = self._answer_state(waiting, command)
            if replies is not None:
                return self._finish(replies)
        return self._finish(self._command(command))

    def _paused(self) -> bool:
        """The platform operator suspended the merchant: the bot answers, but does nothing."""
        return self.merchant is not None and self.merchant.status != MerchantStatus.ACTIVE

    def _finish(self, replies: list[Reply]) -> list[Reply]:
        self.conversation.updated_at = self.now
        self.session.flush()
        return replies

    def _set_state(self, state: str, **data: object) -> None:
        self.conversation.state = state
        self.conversation.data = dict(data)

    def _command(self, command: keywords.Command) -> list[Reply]:
        name = command.name
        if name == "start" and not self.sms:
            return self.telegram_start(command.argument)
        handlers = {
            "join": lambda: self.join(command.argument),
            "balance": self.balance,
            "card": self.card,
            "rewards": self.list_rewards,
            "vouchers": self.list_vouchers,
            "redeem": lambda: self.ask_redeem(command.argument),
            "history": self.history,
            "promotions": self.promotions,
            "shops": self.shops,
            "language": lambda: self.choose_language(command.argument),
            "lang": lambda: self.choose_language(command.argument),
            "help": self.help,
            "menu": self.help,
            "stop": self.stop,
            "start": self.start_messages,
            "delete": self.ask_erase,
        }
        if name in ("yes", "no", "cancel"):
            return [Reply(self.t("nothing_pending"), self._menu())]
        handler = handlers.get(name)
        if handler is None:
            return self.unknown()
        return handler()

    def _answer_state(self, waiting: str, command: keywords.Command) -> list[Reply] | None:
        """The answer to what the bot asked, or None to treat the message as a new command."""
        name = command.name
        if waiting == LINK_CODE:
            digits = "".join(c for c in self.incoming.text if c.isdigit())
            if len(digits) == 6 and not command.name:
                return self.check_code(digits)
        if waiting == JOIN_CONTACT and name in ("", "contact"):
            return self.take_contact(command)
        if waiting in (JOIN_TERMS, CONFIRM_REDEEM, CONFIRM_ERASE):
            if name == "yes":
                return {
                    JOIN_TERMS: self.accept_terms,
                    CONFIRM_REDEEM: self.redeem,
                    CONFIRM_ERASE: self.erase,
                }[waiting]()
            if name in ("no", "cancel"):
                self._set_state(IDLE)
                return [
                    Reply(
                        self.t("join_cancelled" if waiting == JOIN_TERMS else "cancelled"),
                        self._menu(),
                    )
                ]
            if not name:
                return [Reply(self.t("yes_or_no"), self._yes_no())]
        if name == "cancel":
            self._set_state(IDLE)
            return [Reply(self.t("cancelled"), self._menu())]
        if name:
            self._set_state(IDLE)  # another command: what was asked is dropped
        return None

    # --- helpers ----------------------------------------------------------------------------

    def t(self, key: str, **values: object) -> str:
        """`key` in the customer's language; a stamp card's member reads its stamp version."""
        stamp_card = self.program is not None and stamps.is_stamp_card(self.program)
        return text(for_card(key, stamp_card=stamp_card), self.language, **values)

    def _program_name(self) -> str:
        return self.program.name if self.program else ""

    def _menu(self) -> list[list[Button]]:
        if self.sms:
            return []
        labels = [Button(self.t(f"button_{name}"), name) for name in MENU]
        return [labels[i : i + 2] for i in range(0, len(labels), 2)]

    def _yes_no(self) -> list[list[Button]]:
        if self.sms:
            return []
        return [[Button(self.t("button_yes"), "yes"), Button(self.t("button_no"), "no")]]

    def _date(self, moment: datetime) -> str:
        zone = ZoneInfo(self.merchant.timezone if self.merchant else "UTC")
        return moment.astimezone(zone).strftime("%d.%m.%Y")

    def _needs_member(self) -> list[Reply] | None:
        if self.program is None:
            return [Reply(self.t("help_no_programme"))]
        if self.member is None:
            return [Reply(self.t("not_member", program=self.program.name))]
        return None

    # --- joining ----------------------------------------------------------------------------

    def telegram_start(self, argument: str) -> list[Reply]:
        """/start, or a deep link's /start join_<code>; (re)starting also opts back in."""
        back_on: list[Reply] = []
        if self.conversation.opted_out_at is not None:
            back_on = self._opt_back_in()
        code = argument.strip()
        if code.lower().startswith("join_"):
            return back_on + self.join(code[5:])
        if self.program is not None and self.member is None:
            return back_on + self.join("")
        return back_on + self.help()

    def join(self, code: str) -> list[Reply]:
        code = code.strip().upper()
        if code:
            program = self.session.scalars(
                select(LoyaltyProgram).where(func.upper(LoyaltyProgram.join_code) == code[:20])
            ).one_or_none()
            if program is None or (
                self.incoming.merchant_id is not None
                and program.merchant_id != self.incoming.merchant_id
            ):
                return [Reply(self.t("unknown_code", code=code[:20]))]
            self.conversation.merchant_id = program.merchant_id
            self._select_programme(program.merchant_id)
            if self._paused():
                return [Reply(self.t("programme_paused", program=self._program_name()))]
        if self.program is None:
            return [Reply(self.t("help_no_programme"))]
        if self.member is not None:
            return self._card_summary("welcome_back")
        self._set_state(JOIN_TERMS)
        terms_url = (self.program.settings or {}).get("terms_url") or (
            f"{self.settings.public_base_url.rstrip('/')}/p/{self.program.slug}/terms"
        )
        return [
            Reply(
                self.t("ask_terms", program=self.program.name, terms_url=terms_url),
                self._yes_no(),
            )
        ]

    def accept_terms(self) -> list[Reply]:
        if self.program is None:
            self._set_state(IDLE)
            return [Reply(self.t("help_no_programme"))]
        if self.sms:
            return self._enroll(phone=self.incoming.address, email=None)
        if self.incoming.contact_phone:
            return self.take_contact(keywords.Command("contact", self.incoming.contact_phone))
        self._set_state(JOIN_CONTACT)
        return [Reply(self.t("ask_contact"), request_contact=self.t("share_phone"))]

    def take_contact(self, command: keywords.Command) -> list[Reply]:
        assert self.merchant is not None
        if command.name == "contact":
            if not self.incoming.contact_is_own:
                return [Reply(self.t("not_own_contact"), request_contact=self.t("share_phone"))]
            raw, is_email = command.argument, False
        else:
            raw = self.incoming.text.strip()
            is_email = "@" in raw
        try:
            if is_email:
                return self._enroll(phone=None, email=normalize_email(raw))
            phone = normalize_phone(raw, self.merchant.default_country)
        except InvalidInput:
            return [Reply(self.t("bad_contact"), request_contact=self.t("share_phone"))]
        return self._enroll(phone=phone, email=None)

    def _enroll(self, *, phone: str | None, email: str | None) -> list[Reply]:
        assert self.program is not None
        incoming = self.incoming
        # One key per chat, so a repeated "yes" cannot enrol twice; the conversation's birth
        # is part of it because an erasure forgets the chat but keeps the ledger (with the
        # bonus row's key): joining again from the same chat is a new conversation.
        born = self.conversation.created_at.strftime("%Y%m%d%H%M%S%f")
        key = f"bot:{born}:{incoming.channel}:{incoming.bot}:{incoming.address}"[:90]
        try:
            with self.session.begin_nested():
                member = enroll.enroll(
                    self.session,
                    program=self.program,
                    idempotency_key=key,
                    terms_accepted=True,
                    name=incoming.name,
                    phone=phone,
                    email=email,
                    language=self.language,
                    source=str(incoming.channel),
                    actor=CUSTOMER,
                    now=self.now,
                )
        except DuplicateCustomer as duplicate:
            existing = self.session.get(LoyaltyMember, duplicate.member_id)
            assert existing is not None
            if self.sms and phone == incoming.address:
                self._link(existing, verified=True)  # the carrier proved the number
                self.member = existing
                self._set_state(IDLE)
                return self._card_summary("welcome_back")
            return self._send_code(existing, by_email=duplicate.field == "email")
        self._link(member, verified=self.sms or bool(phone and incoming.contact_is_own))
        self.member = member
        self._set_state(IDLE)
        return self._card_summary("welcome")

    def _send_code(self, member: LoyaltyMember, *, by_email: bool) -> list[Reply]:
        assert self.program is not None
        customer = member.customer
        address = (customer.email if by_email else customer.phone) or ""
        code = f"{secrets.randbelow(10**6):06d}"
        outbox.enqueue(
            self.session,
            merchant_id=member.merchant_id,
            member_id=member.id,
            channel=OutboxChannel.EMAIL if by_email else OutboxChannel.SMS,
            template="link_code",
            address=address,
            payload={
                "text": text(
                    "code_message",
                    customer.language,
                    program=self.program.name,
                    code=code,
                    minutes=int(self.settings.code_ttl.total_seconds() // 60),
                ),
                "code": code,
                "program": self.program.name,
                "language": customer.language,
            },
        )
        self._set_state(
            LINK_CODE,
            member_id=member.id,
            code_hash=hash_code(self.settings.secret_key, self.conversation.id, code),
            expires_at=(self.now + self.settings.code_ttl).isoformat(),
            attempts=0,
        )
        return [Reply(self.t("code_sent", where=mask(address)))]

    def check_code(self, digits: str) -> list[Reply]:
        data = dict(self.conversation.data or {})
        expires_at = datetime.fromisoformat(
            str(data.get("expires_at", "1970-01-01T00:00:00+00:00"))
        )
        attempts = int(data.get("attempts", 0)) + 1
        if expires_at <= self.now or attempts > self.settings.code_attempts:
            self._set_state(IDLE)
            return [Reply(self.t("code_expired"))]
        expected = str(data.get("code_hash", ""))
        given = hash_code(self.settings.secret_key, self.conversation.id, digits)
        if not hmac.compare_digest(expected, given):
            data["attempts"] = attempts
            self.conversation.data = data
            left = self.settings.code_attempts - attempts
            if left <= 0:
                self._set_state(IDLE)
                return [Reply(self.t("code_expired"))]
            return [Reply(self.t("code_wrong", left=left))]
        member = self.session.get(LoyaltyMember, int(data.get("member_id", 0)))
        self._set_state(IDLE)
        if member is None or self.merchant is None or member.merchant_id != self.merchant.id:
            return [Reply(self.t("code_expired"))]
        self._link(member, verified=True)
        self.member = member
        return self._card_summary("linked")

    def _card_summary(self, key: str) -> list[Reply]:
        assert self.program is not None
        assert self.member is not None
        stamp_card = stamps.card_of(self.member, now=self.now)
        if stamp_card is not None:
            figures = {"filled": stamp_card.filled, "size": stamp_card.size}
        else:
            figures = {"points": self.member.points_balance}
        summary = Reply(
            self.t(
                key,
                program=self.program.name,
                card=format_card_number(self.member.card_number),
                **figures,
            ),
            self._menu(),
        )
        return [summary, *self.card(with_text=False)]

    # --- what members ask ---------------------------------------------------------------------

    def balance(self) -> list[Reply]:
        missing = self._needs_member()
        if missing:
            return missing
        assert self.program is not None
        assert self.member is not None
        member = self.member
        stamp_card = stamps.card_of(member, now=self.now)
        if stamp_card is not None:
            parts = self._stamp_lines(stamp_card)
        else:
            parts = [self.t("balance", program=self.program.name, points=member.points_balance)]
        if stamp_card is None and self.program.carry_over_spend and member.spend_carry_cents:
            parts.append(
                self.t(
                    "carry",
                    amount=euros(
                        member.spend_carry_cents, self.program.currency, language=self.language
                    ),
                )
            )
        if (
            stamp_card is None
            and offerings.has(self.program.merchant, Feature.TIERS)
            and self.program.tiers
        ):
            if member.tier is not None:
                parts.append(self.t("tier", tier=member.tier.name))
            upcoming = self._next_tier()
            if upcoming is not None:
                parts.append(self.t("next_tier", points=upcoming[1], tier=upcoming[0]))
        parts += self._ladder_lines()
        for held in pending.pending_by_date(self.session, member_id=member.id, limit=1):
            parts.append(self.t("pending", points=held.points, date=self._date(held.available_at)))
        expiring = member_access.next_expiry(self.session, member=member, now=self.now)
        if expiring is not None:
            parts.append(
                self.t("expiring", points=expiring.points, date=self._date(expiring.expires_at))
            )
        parts.extend(self._membership())
        return [Reply(" ".join(parts), self._menu())]

    def _membership(self) -> list[str]:
        assert self.member is not None
        current = membership.state(self.member, self.now)
        if not current.required:
            return []
        price = euros(current.price_cents, self.member.program.currency, language=self.language)
        if current.valid_until is None:
            return [self.t("membership_unpaid", price=price)]
        # The last valid day, as the merchant's calendar reads it (not a UTC instant).
        day = current.valid_until.strftime("%d.%m.%Y")
        if current.lapsed:
            return [self.t("membership_lapsed", date=day, price=price)]
        return [self.t("membership_valid", date=day)]

    def _stamp_lines(self, stamp_card: stamps.StampCard) -> list[str]:
        assert self.program is not None
        lines = [
            self.t(
                "stamps_balance",
                program=self.program.name,
                filled=stamp_card.filled,
                size=stamp_card.size,
                grid=stamp_card.grid,
            )
        ]
        if stamp_card.to_go:
            lines.append(self.t("stamps_to_go", missing=stamp_card.to_go, reward=stamp_card.reward))
        else:
            lines.append(self._full_card(stamp_card))
        return lines

    def _full_card(self, stamp_card: stamps.StampCard) -> str:
        """When a full card's reward comes: with the next visit, or why it waits."""
        hold, reward = stamp_card.hold, stamp_card.reward
        if hold is None:
            return self.t("stamps_full", reward=reward)
        if hold.reason == stamps.HoldReason.STOCK:
            return self.t("stamps_full_stock", reward=reward)
        if hold.reason == stamps.HoldReason.NO_REWARD:
            return self.t("stamps_full_no_reward")
        if hold.again is None:
            return self.t("stamps_full_once", reward=reward)
        return self.t("stamps_full_again", reward=reward, date=hold.again.strftime("%d.%m.%Y"))

    def _stamp_card_rewards(self) -> list[Reply] | None:
        """A stamp card has no catalogue to choose from: say what the full card gives."""
        assert self.program is not None
        assert self.member is not None
        stamp_card = stamps.card_of(self.member, now=self.now)
        if stamp_card is None:
            return None
        text = self.t(
            "stamps_rewards",
            program=self.program.name,
            size=stamp_card.size,
            reward=stamp_card.reward,
        )
        return [Reply("\n".join([text, *self._stamp_lines(stamp_card)]), self._menu())]

    def _ladder_lines(self) -> list[str]:
        """The next reward on the ladder and, in Telegram, a progress bar towards it."""
        assert self.member is not None
        steps = ladder.ladder_for(self.session, member=self.member, now=self.now)
        upcoming = steps.next
        if upcoming is None:
            if not steps.ready:
                return []
            return [self.t("reward_ready", reward=steps.ready[-1].reward.name)]
        line = self.t("next_reward", reward=upcoming.reward.name, points=steps.points_to_next)
        if self.sms:
            return [line]
        filled = steps.progress_percent // 10
        return [f"{line}\n{'▓' * filled}{'░' * (10 - filled)} {steps.progress_percent}%"]

    def _used_reply(self, hit: LimitHit) -> Reply:
        if hit.again_at is None:
            text = self.t(
                "reward_used_once", reward=hit.reward.name, date=self._date(hit.last_redeemed_at)
            )
        else:
            text = self.t(
                "reward_used_until",
                reward=hit.reward.name,
                date=self._date(hit.last_redeemed_at),
                again=self._date(hit.again_at),
            )
        return Reply(text, self._menu())

    def _next_tier(self) -> tuple[str, int] | None:
        assert self.program is not None
        assert self.member is not None
        ordered = sorted(self.program.tiers, key=lambda t: (t.min_points, t.sort_order, t.id))
        current = self.member.tier
        above = [t for t in ordered if current is None or t.min_points > current.min_points]
        for target in above:
            qualifying = self.session.scalar(
                select(tiers._qualifying_points(target, self.now)).where(
                    LoyaltyMember.id == self.member.id
                )
            )
            # A tier already reached waits for the nightly recompute: name the next one.
            if target.min_points > int(qualifying or 0):
                return target.name, target.min_points - int(qualifying or 0)
        return None

    def card(self, *, with_text: bool = True) -> list[Reply]:
        missing = self._needs_member()
        if missing:
            return missing
        assert self.member is not None
        member = self.member
        card = format_card_number(member.card_number)
        links = links_for(
            member,
            secret_key=self.settings.secret_key,
            base_url=self.settings.public_base_url,
        )
        if self.sms:
            replies = [Reply(self.t("wallet_links", apple=links["apple"], google=links["google"]))]
            if with_text:
                replies.insert(0, Reply(self.t("card_sms", card=card, qr=links["qr"])))
            return replies
        return [
            Reply(
                self.t("card", card=card),
                photo=qr_png(lookup.qr_token(member, self.settings.secret_key)),
                links=[
                    (self.t("add_apple"), links["apple"]),
                    (self.t("add_google"), links["google"]),
                    (self.t("qr_link"), links["qr"]),
                ],
            )
        ]

    def _catalogue(self) -> list[Reward]:
        assert self.program is not None
        return rewards.offered_rewards(self.session, program=self.program)

    def list_rewards(self) -> list[Reply]:
        missing = self._needs_member()
        if missing:
            return missing
        assert self.program is not None
        assert self.member is not None
        stamp_card = self._stamp_card_rewards()
        if stamp_card is not None:
            return stamp_card
        catalogue = self._catalogue()
        if not catalogue:
            return [Reply(self.t("rewards_none", program=self.program.name), self._menu())]
        affordable = {
            r.id for r in rewards.affordable_rewards(self.session, member=self.member, now=self.now)
        }
        used = reward_limits.limit_hits(
            self.session, member=self.member, rewards=catalogue, now=self.now
        )
        lines = [self.t("rewards_head", points=self.member.points_balance)]
        # An en dash is not in the GSM alphabet: one would make the whole SMS UCS-2 (70
        # characters a segment instead of 160).
        dash = "-" if self.sms else "–"
        for number, reward in enumerate(catalogue, 1):
            cost = self.t("reward_cost", cost=reward.points_cost)
            line = f"{number}. {reward.name} {dash} {cost}"
            hit = used.get(reward.id)
            if hit is not None and hit.again_at is None:
                line += f" ({self.t('used_mark')})"
            elif hit is not None and hit.again_at is not None:
                line += f" ({self.t('used_until_mark', again=self._date(hit.again_at))})"
            if reward.id in affordable:
                line += " *"  # explained by the legend under the list
            lines.append(line)
        lines.append(self.t("rewards_foot" if affordable else "rewards_foot_none"))
        self.conversation.data = {"rewards": [r.id for r in catalogue]}
        buttons = [
            [Button(self.t("button_redeem", reward=r.name), f"redeem:{r.id}")]
            for r in catalogue
            if r.id in affordable
        ][:8]
        return [Reply("\n".join(lines), [] if self.sms else buttons)]

    def list_vouchers(self) -> list[Reply]:
        missing = self._needs_member()
        if missing:
            return missing
        assert self.member is not None
        held = vouchers.open_vouchers(self.session, member=self.member, now=self.now)
        if not held:
            return [Reply(self.t("vouchers_none"), self._menu())]
        lines = [self.t("vouchers_head")]
        for voucher in held[:10]:
            lines.append(
                self.t(
                    "voucher_line",
                    code=vouchers.format_code(voucher.code),
                    reward=voucher.reward.name if voucher.reward else self.t("voucher_unnamed"),
                    date=self._date(voucher.valid_until),
                )
            )
        return [Reply("\n".join(lines), self._menu())]

    def ask_redeem(self, argument: str) -> list[Reply]:
        missing = self._needs_member()
        if missing:
            return missing
        assert self.program is not None
        assert self.member is not None
        stamp_card = self._stamp_card_rewards()
        if stamp_card is not None:
            return stamp_card
        reward = self._reward_named(argument)
        if reward is None:
            return [Reply(self.t("redeem_which"), self._menu())]
        hit = reward_limits.limit_hits(
            self.session, member=self.member, rewards=[reward], now=self.now
        ).get(reward.id)
        if hit is not None:
            return [self._used_reply(hit)]
        if self.member.points_balance < reward.points_cost:
            return [self._not_enough(reward)]
        self._set_state(
            CONFIRM_REDEEM,
            reward_id=reward.id,
            key=f"bot:redeem:{self.conversation.id}:{secrets.token_hex(8)}",
        )
        return [
            Reply(
                self.t(
                    "confirm_redeem",
                    reward=reward.name,
                    cost=reward.points_cost,
                    left=self.member.points_balance - reward.points_cost,
                ),
                self._yes_no(),
            )
        ]

    def _not_enough(self, reward: Reward) -> Reply:
        assert self.member is not None
        balance = self.member.points_balance
        text = self.t(
            "not_enough",
            reward=reward.name,
            cost=reward.points_cost,
            points=balance,
            missing=reward.points_cost - balance,
        )
        return Reply(text, self._menu())

    def _reward_named(self, argument: str) -> Reward | None:
        """A payload's reward id (`redeem:12`), or the number shown in the last list."""
        assert self.program is not None
        argument = argument.strip().lstrip("#")
        if not argument.isdigit():
            return None
        if self.incoming.payload:
            reward = self.session.get(Reward, int(argument))
        else:
            listed = list((self.conversation.data or {}).get("rewards") or [])
            if not listed:
                listed = [r.id for r in self._catalogue()]
            index = int(argument) - 1
            if not 0 <= index < len(listed):
                return None
            reward = self.session.get(Reward, int(listed[index]))
        if reward is None or reward.program_id != self.program.id or not reward.active:
            return None
        return reward

    def redeem(self) -> list[Reply]:
        data = dict(self.conversation.data or {})
        self._set_state(IDLE)
        missing = self._needs_member()
        if missing:
            return missing
        assert self.member is not None
        assert self.program is not None
        reward = self.session.get(Reward, int(data.get("reward_id", 0)))
        if reward is None or reward.program_id != self.program.id:
            return [Reply(self.t("reward_gone", reward="?"), self._menu())]
        try:
            with self.session.begin_nested():
                voucher = rewards.redeem(
                    self.session,
                    member=self.member,
                    reward=reward,
                    idempotency_key=str(data.get("key")),
                    actor=CUSTOMER,
                    now=self.now,
                )
        except InsufficientPoints:
            self.session.refresh(self.member)
            return [self._not_enough(reward)]
        except RewardLimitReached:
            hit = reward_limits.limit_hits(
                self.session, member=self.member, rewards=[reward], now=self.now
            ).get(reward.id)
            if hit is None:  # freed in the meantime (a cancelled voucher): say it plainly
                return [Reply(self.t("reward_gone", reward=reward.name), self._menu())]
            return [self._used_reply(hit)]
        except (RewardOutOfStock, RewardUnavailable):
            return [Reply(self.t("reward_gone", reward=reward.name), self._menu())]
        except MemberNotActive:
            return [Reply(self.t("member_inactive"))]
        return [
            Reply(
                self.t(
                    "voucher",
                    reward=reward.name,
                    code=vouchers.format_code(voucher.code),
                    date=self._date(voucher.valid_until),
                ),
                self._menu(),
            )
        ]

    def history(self) -> list[Reply]:
        missing = self._needs_member()
        if missing:
            return missing
        assert self.member is not None
        rows = self.session.scalars(
            select(LoyaltyTransaction)
            .where(LoyaltyTransaction.member_id == self.member.id)
            .order_by(LoyaltyTransaction.created_at.desc(), LoyaltyTransaction.id.desc())
            .limit(HISTORY_LENGTH)
        ).all()
        if not rows:
            return [Reply(self.t("history_none"), self._menu())]
        zone = ZoneInfo(self.merchant.timezone if self.merchant else "UTC")
        lines = [self.t("history_head")]
        for row in rows:
            day = row.created_at.astimezone(zone).strftime("%d.%m")
            what = row.description or str(row.type)
            lines.append(f"{day} {row.points:+d} {what}"[:60])
        return [Reply("\n".join(lines), self._menu())]

    def promotions(self) -> list[Reply]:
        if self.program is None:
            return [Reply(self.t("help_no_programme"))]
        running = active_promotions(self.session, program_id=self.program.id, at=self.now)
        if not running:
            return [Reply(self.t("promotions_none"), self._menu())]
        lines = [self.t("promotions_head")]
        for promotion in running[:8]:
            line = f"- {promotion.name}"
            if promotion.type == PromotionType.POINTS_MULTIPLIER:
                line += f" (x{promotion.value.normalize():f})"
            elif promotion.type == PromotionType.BONUS_POINTS:
                line += f" (+{int(promotion.value)})"
            elif promotion.type == PromotionType.DISCOUNT_PERCENT:
                line += f" (-{promotion.value.normalize():f}%)"
            if promotion.ends_at is not None:
                line += " " + self.t("until", date=self._date(promotion.ends_at))
            lines.append(line)
        return [Reply("\n".join(lines), self._menu())]

    def shops(self) -> list[Reply]:
        if self.merchant is None:
            return [Reply(self.t("help_no_programme"))]
        open_shops = [shop for shop in self.merchant.shops if shop.active]
        if not open_shops:
            return [Reply(self.t("shops_none"), self._menu())]
        hours = (self.program.settings or {}).get("shop_hours", {}) if self.program else {}
        lines = [self.t("shops_head")]
        for shop in open_shops[:10]:
            line = f"- {shop.name}: {shop.address}" if shop.address else f"- {shop.name}"
            shown = hours.get(str(shop.id)) if isinstance(hours, dict) else None
            if shown:
                line += f" ({shown})"
            lines.append(line)
        return [Reply("\n".join(lines), self._menu())]

    def choose_language(self, argument: str) -> list[Reply]:
        code = keywords.language_of(argument)
        if not code:
            buttons = [[Button(LANGUAGE_NAMES[c], f"language:{c}") for c in LANGUAGES]]
            return [Reply(self.t("choose_language"), [] if self.sms else buttons)]
        self.language = self.conversation.language = code
        if self.member is not None:
            self.member.customer.language = code
        return [Reply(self.t("language_set"), self._menu())]

    def help(self) -> list[Reply]:
        if self.program is None:
            return [Reply(self.t("help_no_programme"))]
        if self.member is None:
            # Someone who asks before joining learns what the programme is and what joining gives.
            return [Reply(self.t("help_not_member", program=self.program.name))]
        return [Reply(self.t("help", program=self.program.name), self._menu())]

    def unknown(self) -> list[Reply]:
        if self.program is None:
            return [Reply(self.t("help_no_programme"))]
        if self.member is None:
            return [Reply(self.t("not_member", program=self.program.name))]
        return [Reply(self.t("unknown"), self._menu())]

    # --- messages on and off; erasure ---------------------------------------------------------

    def _identities(self) -> list[ChannelIdentity]:
        query = select(ChannelIdentity).where(
            ChannelIdentity.kind == self.incoming.channel,
            ChannelIdentity.address == self.incoming.address,
        )
        if self.incoming.merchant_id is not None:
            # A merchant's own bot or number speaks for that merchant only.
            query = query.where(ChannelIdentity.merchant_id == self.incoming.merchant_id)
        return list(self.session.scalars(query))

    def _opt(self, *, out: bool) -> None:
        moment = self.now if out else None
        self.conversation.opted_out_at = moment
        for identity in self._identities():
            identity.opted_out_at = moment
        self._set_state(IDLE)

    def stop(self) -> list[Reply]:
        self._opt(out=True)
        return [Reply(self.t("stopped", program=self._program_name() or "us"))]

    def start_messages(self) -> list[Reply]:
        return self._opt_back_in() + self.help()

    def _opt_back_in(self) -> list[Reply]:
        """Messages on again, said before anything else is answered."""
        self._opt(out=False)
        return [Reply(self.t("started", program=self._program_name() or "us"))]

    def ask_erase(self) -> list[Reply]:
        missing = self._needs_member()
        if missing:
            return missing
        assert self.program is not None
        self._set_state(CONFIRM_ERASE)
        return [Reply(self.t("confirm_erase", program=self.program.name), self._yes_no())]

    def erase(self) -> list[Reply]:
        self._set_state(IDLE)
        missing = self._needs_member()
        if missing:
            return missing
        assert self.program is not None
        assert self.member is not None
        # The customer confirmed: the request and the erasure are one step, as on the member
        # page. The request is audited first, so the trail says who asked and through what.
        audit.record(
            self.session,
            merchant_id=self.member.merchant_id,
            actor=CUSTOMER,
            action="gdpr.erase_requested",
            target_type="member",
            target_id=self.member.id,
            channel=str(self.incoming.channel),
        )
        gdpr.erase_member(self.session, member=self.member, actor=CUSTOMER, now=self.now)
        self.member = None
        return [Reply(self.t("erased", program=self.program.name))]
