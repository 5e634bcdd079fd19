"""The e-mail sender (smtplib) and the local log every channel falls back to without credentials.

The other senders live beside their channel (loyalty_bot/sms_sender.py and
loyalty_bot/telegram_sender.py, wallet/ for APNs and Google) and the worker plugs them in at
start (jobs/senders.py).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

from sqlalchemy.orm import object_session

from loyalty import offerings
from loyalty.models import Merchant, OutboxMessage, OutboxStatus
from loyalty.notify import texts
from loyalty.notify.delivery import Outcome

log = logging.getLogger("notify.local")

LOCAL_LOG = "local-log"


class LocalLogSender:
    """Delivers by writing the message to the log and keeping its rendered words on the row.

    The back-office shows outbox rows; with provider_id "local-log" and `payload["local_log"]`
    a merchant without an SMTP server or Twilio account still sees what would have gone out.
    """

    concurrent = True

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, message: OutboxMessage) -> Outcome:
        try:
            shown = texts.preview(message)
        except Exception as exc:  # a template bug: keep the message visible, do not retry
            return Outcome(OutboxStatus.FAILED, error=f"cannot render {message.template}: {exc}")
        message.payload = {**(message.payload or {}), "local_log": shown}
        log.info(
            "local log (%s not configured): message %s %s to %s: %s",
            self.channel,
            message.id,
            message.template,
            message.address or "-",
            (shown.get("subject") or shown.get("text", "")).replace("\n", " ")[:160],
        )
        return Outcome(OutboxStatus.SENT, provider_id=LOCAL_LOG)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str = ""
    password: str = ""
    starttls: bool = True
    ssl: bool = False  # SMTPS on 465
    sender: str = "Loyalty <no-reply@localhost>"
    timeout: float = 15.0


def sender_for(message: OutboxMessage, default: str) -> str:
    """The From of a member's e-mail: a white-label merchant's sender name on our address.

    Only the display name changes: the address stays the platform's, whose domain is the one
    SPF and DKIM vouch for.
    """
    session = object_session(message)
    if session is None or message.merchant_id is None:
        return default
    merchant = session.get(Merchant, message.merchant_id)
    if merchant is None or not offerings.has(merchant, offerings.Feature.WHITE_LABEL):
        return default
    name = (merchant.branding or {}).get("sender_name")
    address = parseaddr(default)[1]
    if not name or "@" not in address:
        return default
    username, _, domain = address.partition("@")
    return str(Address(display_name=str(name), username=username, domain=domain))


# Replies that mean "this address will never work": do not retry.
PERMANENT_SMTP = range(550, 560)


class EmailSender:
    """One SMTP connection per call: the loop is paced by rate limits, not by connection setup."""

    concurrent = True

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.ssl:
            return smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.starttls:
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: OutboxMessage) -> Outcome:
        if not message.address or "@" not in message.address:
            return Outcome(OutboxStatus.SKIPPED, error="Not an e-mail address.")
        email = texts.email_message(message, sender=sender_for(message, self.settings.sender))
        try:
            with self._connect() as smtp:
                if self.settings.username:
                    smtp.login(self.settings.username, self.settings.password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values())) if exc.recipients else (0, b"")
            text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
            return Outcome(
                OutboxStatus.FAILED,
                error=f"SMTP refused {message.address}: {code} {text}",
                retry=code not in PERMANENT_SMTP,
            )
        except smtplib.SMTPDataError as exc:
            # The message itself refused: 4xx (452, a full disk) passes, 5xx (552, mailbox full
            # or too big) will not. Other SMTP errors are our set-up or a moment: retried.
            reply = exc.smtp_error
            text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
            return Outcome(
                OutboxStatus.FAILED,
                error=f"SMTP {exc.smtp_code}: {text}",
                retry=exc.smtp_code < 500,
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(OutboxStatus.FAILED, error=f"SMTP: {exc!r}", retry=True)
        return Outcome(OutboxStatus.SENT, provider_id=str(email["Message-ID"]).strip("<>")[:120])
