"""What the local "sent mail" pages may show of each outbox message, and to whom.

Without SMTP or Twilio settings, messages are delivered to the local log and their words are
kept on the row (LocalLogSender); these pages are how a merchant sees them. Links in a
message are credentials (an invitation creates an account, a member's link opens their card),
so the merchant's page hides every link except an invitation's, and that one only to the
person who sent it. Password reset mail belongs to no merchant and never shows there.
Platform admins see everything (docs/decisions.md, "Sent mail").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loyalty.models import OutboxMessage, OutboxStatus
from loyalty.notify.senders import LOCAL_LOG

LINK = re.compile(r"https?://\S+")
HIDDEN_LINK = "[link hidden: only the recipient may open it]"
VISIBLE_TO_SENDER = frozenset({"staff_invitation"})


@dataclass(frozen=True)
class MailView:
    message: OutboxMessage
    subject: str
    text: str | None  # None: the words are not kept here
    note: str


def _kept(message: OutboxMessage) -> dict[str, str] | None:
    shown = (message.payload or {}).get("local_log")
    return shown if isinstance(shown, dict) else None


def _subject(message: OutboxMessage, kept: dict[str, str] | None) -> str:
    if kept and kept.get("subject"):
        return str(kept["subject"])
    return message.template.replace("_", " ").capitalize()


def _note(message: OutboxMessage, kept: dict[str, str] | None) -> str:
    if kept is not None:
        return "Delivered to the local log (no mail server configured)."
    if message.status in (OutboxStatus.QUEUED, OutboxStatus.SENDING):
        return "Waiting for the worker to deliver it."
    if message.status == OutboxStatus.SENT and message.provider_id != LOCAL_LOG:
        return "Delivered by the provider; the text is not kept here."
    return message.last_error or "Not delivered."


def for_merchant(message: OutboxMessage, *, viewer_user_id: int | None) -> MailView:
    kept = _kept(message)
    text = str(kept.get("text", "")) if kept is not None else None
    if text is not None:
        mine = (message.payload or {}).get("visible_to_user_id") == viewer_user_id
        if not (message.template in VISIBLE_TO_SENDER and mine and viewer_user_id is not None):
            text = LINK.sub(HIDDEN_LINK, text)
    return MailView(message, _subject(message, kept), text, _note(message, kept))


def for_platform(message: OutboxMessage) -> MailView:
    kept = _kept(message)
    text = str(kept.get("text", "")) if kept is not None else None
    return MailView(message, _subject(message, kept), text, _note(message, kept))
