"""What is checked at send time: opt-outs and quiet hours (in the merchant's time zone).

Checked by the delivery loop just before each send, not only when a message is queued: a
STOP that arrives after a campaign was queued still stops it.

Transactional messages answer something the customer just did (a link code, a sign-in link,
a receipt, the welcome after joining, a points or voucher notice at the till) and go out at
any hour; everything else (campaigns, birthday, tier and expiry notices) waits for the end
of the merchant's quiet hours. Wallet pass updates are silent and never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

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


def is_transactional(message: OutboxMessage) -> bool:
    return message.campaign_id is None and message.template in TRANSACTIONAL


def refusal(session: Session, message: OutboxMessage) -> str | None:
    """Why this message must not go out at all, or None."""
    kind = CHANNEL_KINDS.get(message.channel)
    if kind is None:
        return None
    if not message.address:
        return "No address to send to (erased or never given)."
    if message.member_id is not None:
        erased = session.scalar(
            select(Customer.erased_at)
            .join(LoyaltyMember, LoyaltyMember.customer_id == Customer.id)
            .where(LoyaltyMember.id == message.member_id)
        )
        if erased is not None:
            return "The member's data was erased."
    opted = session.scalar(
        select(ChannelIdentity.opted_out_at)
        .where(
            ChannelIdentity.merchant_id == message.merchant_id,
            ChannelIdentity.kind == kind,
            ChannelIdentity.address == message.address,
            ChannelIdentity.opted_out_at.is_not(None),
        )
        .limit(1)
    )
    if opted is not None:
        return f"Opted out of {message.channel} on {opted:%Y-%m-%d}."
    if kind in (ChannelKind.SMS, ChannelKind.TELEGRAM):
        # STOP from a chat (member or not) blocks every message from that number or bot.
        stopped = session.scalar(
            select(Conversation.opted_out_at)
            .where(
                Conversation.channel == kind,
                Conversation.address == message.address,
                Conversation.opted_out_at.is_not(None),
            )
            .limit(1)
        )
        if stopped is not None:
            return f"Sent STOP on {stopped:%Y-%m-%d}."
    return None


def merchant_zone(session: Session, merchant_id: int) -> ZoneInfo:
    name = session.scalar(select(Merchant.timezone).where(Merchant.id == merchant_id))
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_until(
    session: Session, message: OutboxMessage, now: datetime, quiet: QuietHours | None
) -> datetime | None:
    """When a held message may go out (UTC), or None to send now."""
    if quiet is None or message.channel not in CHANNEL_KINDS or is_transactional(message):
        return None
    zone = merchant_zone(session, message.merchant_id)
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
