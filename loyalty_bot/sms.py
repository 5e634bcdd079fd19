"""The SMS adapter: a Twilio inbound message in, TwiML out; delivery status callbacks.

Used by the Flask blueprint in web/hooks, which checks the signature and owns the commit.
The `To` number selects the merchant (a programme's `settings["sms_number"]`; the platform's
shared number has none and asks for `JOIN <code>`), the `From` number identifies the member.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.identity import normalize_phone
from loyalty.models import ChannelKind, LoyaltyProgram, OutboxMessage, OutboxStatus
from loyalty_bot.dialogue import Incoming, Reply, Settings, respond

log = logging.getLogger(__name__)

# GSM 03.38: one septet each; the extension table costs two (escape + char).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
SEGMENT_SEPTETS = 160
UCS2_SEGMENT = 70

DELIVERED = {"sent", "delivered", "read"}
FAILED = {"failed", "undelivered", "canceled"}


def gsm7_length(text: str) -> int:
    """Septets `text` takes in GSM-7; text outside it (UCS-2) counted as its share of 160."""
    septets = 0
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENSION:
            septets += 2
        else:
            return -(-len(text) * SEGMENT_SEPTETS // UCS2_SEGMENT)
    return septets


def merchant_for_number(session: Session, to_number: str) -> int | None:
    """The merchant whose own number this is; None for the platform's shared number."""
    if not to_number:
        return None
    return session.scalar(
        select(LoyaltyProgram.merchant_id).where(
            LoyaltyProgram.settings["sms_number"].as_string() == to_number
        )
    )


def handle_inbound(session: Session, form: Mapping[str, str], settings: Settings) -> list[Reply]:
    """Twilio's form fields in, the dialogue's replies out (never raises for bad input)."""
    sender = (form.get("From") or "").strip()
    to_number = (form.get("To") or "").strip()
    try:
        address = normalize_phone(sender, "LU")
    except InvalidInput:
        address = sender[:40] or "unknown"  # short codes and alphanumeric senders
    incoming = Incoming(
        channel=ChannelKind.SMS,
        address=address,
        text=(form.get("Body") or "")[:1600],
        bot=to_number[:64] or "platform",
        merchant_id=merchant_for_number(session, to_number),
    )
    return respond(session, incoming, settings)


def as_sms_text(reply: Reply) -> str:
    lines = [reply.text, *(f"{label}: {url}" for label, url in reply.links)]
    return "\n".join(line for line in lines if line)


def twiml(replies: list[Reply]) -> str:
    response = MessagingResponse()
    for reply in replies:
        response.message(as_sms_text(reply))
    return str(response)


def record_status(session: Session, form: Mapping[str, str]) -> OutboxMessage | None:
    """A status callback: the outbox message sent under this MessageSid is delivered or failed."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid:
        return None
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.provider_id == sid)
    ).one_or_none()
    if message is None:
        log.info("status %s for unknown message %s", status, sid)
        return None
    # Kept for the campaign results ("delivered", "undelivered", ...), whatever the outcome.
    message.payload = {**(message.payload or {}), "delivery_status": status[:20]}
    if status in DELIVERED:
        message.status = OutboxStatus.SENT
        message.sent_at = message.sent_at or utcnow()
    elif status in FAILED:
        message.status = OutboxStatus.FAILED
        code = form.get("ErrorCode") or ""
        message.last_error = f"twilio {status} {code}".strip()[:500]
    session.flush()
    return message
