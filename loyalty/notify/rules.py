"""What is checked at send time: opt-outs and quiet hours (in the merchant's time zone).

Checked by the delivery loop just before each send, not only when a message is queued: a
STOP that arrives after a campaign was queued still stops it.

Transactional messages answer something the customer just did (a link code, a sign-in link,
a receipt, the welcome after joining, a points or voucher notice at the till) and go out at
any hour; everything else (campaigns, birthday, tier and expiry notices) waits for the end
of the merchant's quiet hours. Wallet pass updates are silent and never held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import among
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Conversation,
    Customer,
    LoyaltyMember,
    Merchant,
    OutboxChannel,
    OutboxMessage,
)

# Messages to a person, over a channel they can opt out of.
CHANNEL_KINDS = {
    OutboxChannel.EMAIL: ChannelKind.EMAIL,
    OutboxChannel.SMS: ChannelKind.SMS,
    OutboxChannel.TELEGRAM: ChannelKind.TELEGRAM,
}

TRANSACTIONAL = frozenset(
    {"link_code", "sign_in_link", "welcome", "receipt", "points_changed", "voucher_used"}
    # Mail to the business's own people, asked for a moment ago.
    | {"staff_invitation", "password_reset"}
    # A merchant's test send of a campaign to themselves.
    | {"campaign_test"}
    # To the owners: their webhook endpoint was switched off.
    | {"webhook_disabled"}
)


@dataclass(frozen=True)
class QuietHours:
    start: time  # local time quiet hours begin (21:00)
    end: time  # local time they end (08:00); may be earlier than start (overnight)

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """ "21:00-08:00" → QuietHours; "" or "off" → None."""
        text = text.strip().lower()
        if text in ("", "off", "none"):
            return None
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ValueError(
                f"Quiet hours {text!r} not understood: write them as 21:00-08:00, or off."
            ) from None
        return cls(start, end)

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


DEFAULT_QUIET_HOURS = QuietHours(time(21), time(8))
UTC = ZoneInfo("UTC")


def is_transactional(message: OutboxMessage) -> bool:
    return message.campaign_id is None and message.template in TRANSACTIONAL


def refusal(session: Session, message: OutboxMessage) -> str | None:
    """Why this message must not go out at all, or None."""
    return refusals(session, [message]).get(message.id)


def refusals(session: Session, messages: Sequence[OutboxMessage]) -> dict[int, str]:
    """Why each of these messages must not go out (by message id); absent = may go.

    Three queries for the whole group, whatever its size: the delivery loop checks a chunk of
    messages just before sending it.
    """
    personal = [m for m in messages if m.channel in CHANNEL_KINDS]
    reasons: dict[int, str] = {}
    for message in personal:
        if not message.address:
            reasons[message.id] = "No address to send to (erased or never given)."
    personal = [m for m in personal if m.id not in reasons]
    if not personal:
        return reasons
    member_ids = {m.member_id for m in personal if m.member_id is not None}
    erased = set()
    if member_ids:
        erased = set(
            session.scalars(
                select(LoyaltyMember.id)
                .join(Customer, LoyaltyMember.customer_id == Customer.id)
                .where(
                    among(session, LoyaltyMember.id, member_ids), Customer.erased_at.is_not(None)
                )
            )
        )
    addresses = {m.address for m in personal}
    opted: dict[tuple[int, str, str], datetime] = {}
    for row in session.execute(
        select(
            ChannelIdentity.merchant_id,
            ChannelIdentity.kind,
            ChannelIdentity.address,
            ChannelIdentity.opted_out_at,
        ).where(
            # All three columns of the unique index, so a million identities are not scanned.
            among(session, ChannelIdentity.merchant_id, {m.merchant_id for m in personal}),
            among(session, ChannelIdentity.kind, {CHANNEL_KINDS[m.channel] for m in personal}),
            among(session, ChannelIdentity.address, addresses),
            ChannelIdentity.opted_out_at.is_not(None),
        )
    ):
        opted.setdefault((row.merchant_id, row.kind, row.address), row.opted_out_at)
    # STOP from a chat (member or not) blocks every message from that number or bot.
    chats = [ChannelKind.SMS, ChannelKind.TELEGRAM]
    stopped: dict[tuple[str, str], datetime] = {}
    if any(CHANNEL_KINDS[m.channel] in chats for m in personal):
        for row in session.execute(
            select(Conversation.channel, Conversation.address, Conversation.opted_out_at).where(
                among(session, Conversation.channel, chats),
                among(session, Conversation.address, addresses),
                Conversation.opted_out_at.is_not(None),
            )
        ):
            stopped.setdefault((row.channel, row.address), row.opted_out_at)
    for message in personal:
        kind = CHANNEL_KINDS[message.channel]
        if message.member_id in erased:
            reasons[message.id] = "The member's data was erased."
        elif (when := opted.get((message.merchant_id, kind, message.address))) is not None:
            reasons[message.id] = f"Opted out of {message.channel} on {when:%Y-%m-%d}."
        elif (when := stopped.get((kind, message.address))) is not None:
            reasons[message.id] = f"Sent STOP on {when:%Y-%m-%d}."
    return reasons


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def merchant_zone(session: Session, merchant_id: int) -> ZoneInfo:
    return _zone(session.scalar(select(Merchant.timezone).where(Merchant.id == merchant_id)))


def merchant_zones(session: Session, merchant_ids: Iterable[int]) -> dict[int, ZoneInfo]:
    return {
        row.id: _zone(row.timezone)
        for row in session.execute(
            select(Merchant.id, Merchant.timezone).where(
                among(session, Merchant.id, set(merchant_ids))
            )
        )
    }


def quiet_until(
    session: Session, message: OutboxMessage, now: datetime, quiet: QuietHours | None
) -> datetime | None:
    """When a held message may go out (UTC), or None to send now."""
    if quiet is None or message.channel not in CHANNEL_KINDS or is_transactional(message):
        return None
    return quiet_until_in(merchant_zone(session, message.merchant_id), message, now, quiet)


def quiet_until_in(
    zone: ZoneInfo, message: OutboxMessage, now: datetime, quiet: QuietHours | None
) -> datetime | None:
    """`quiet_until` with the merchant's zone already known (the loop looks zones up per chunk)."""
    if quiet is None or message.channel not in CHANNEL_KINDS or is_transactional(message):
        return None
    local = now.astimezone(zone)
    if not quiet.contains(local.time()):
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=zone)
    # Spread the morning's backlog over a few minutes instead of one burst at 08:00:00.
    return end.astimezone(now.tzinfo) + timedelta(seconds=message.id % 600)


def record_opt_out(session: Session, message: OutboxMessage, now: datetime) -> None:
    """The provider says the person blocks us (Telegram 403, Twilio 21610): stop sending there."""
    kind = CHANNEL_KINDS.get(message.channel)
    if kind is None or not message.address:
        return
    session.execute(
        update(ChannelIdentity)
        .where(
            ChannelIdentity.merchant_id == message.merchant_id,
            ChannelIdentity.kind == kind,
            ChannelIdentity.address == message.address,
            ChannelIdentity.opted_out_at.is_(None),
        )
        .values(opted_out_at=now)
        .execution_options(synchronize_session=False)
    )
