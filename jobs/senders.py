"""The worker's senders: Twilio SMS and Telegram from loyalty_bot/, e-mail from loyalty.notify, wallet
from wallet/.

`build_senders` looks at the configuration once per run: a channel without credentials
delivers to the local log (loyalty.notify.senders.LocalLogSender) and `describe` says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import requests
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loyalty.models import OutboxChannel
from loyalty.notify.delivery import Sender, TokenBucket
from loyalty.notify.pacing import SharedRateLimit
from loyalty.notify.senders import EmailSender, LocalLogSender, SmtpSettings
from loyalty.notify.webhooks import WebhookSender, WebhookSettings
from loyalty_bot.sms_sender import TwilioSmsSender
from loyalty_bot.telegram_sender import TelegramSender


@dataclass(frozen=True)
class WorkerConfig:
    env: Mapping[str, str]

    def get(self, name: str, default: str = "") -> str:
        return (self.env.get(name) or default).strip()

    @property
    def smtp(self) -> SmtpSettings | None:
        host = self.get("SMTP_HOST")
        if not host:
            return None
        port = int(self.get("SMTP_PORT", "587"))
        return SmtpSettings(
            host=host,
            port=port,
            username=self.get("SMTP_USERNAME"),
            password=self.get("SMTP_PASSWORD"),
            starttls=self.get("SMTP_STARTTLS", "1" if port == 587 else "0") == "1",
            ssl=port == 465,
            sender=self.get("MAIL_FROM", "Loyalty <no-reply@localhost>"),
            timeout=self.provider_timeout,
        )

    @property
    def provider_timeout(self) -> float:
        """Seconds a provider may take to answer one send before it counts as a failed try."""
        return float(self.get("PROVIDER_TIMEOUT_SECONDS", "10"))

    @property
    def twilio(self) -> tuple[str, str, str] | None:
        sid, token = self.get("TWILIO_ACCOUNT_SID"), self.get("TWILIO_AUTH_TOKEN")
        sender = self.get("TWILIO_FROM") or self.get("TWILIO_MESSAGING_SERVICE_SID")
        return (sid, token, sender) if sid and token and sender else None

    def rate(self, channel: OutboxChannel) -> float | None:
        defaults = {OutboxChannel.SMS: "1", OutboxChannel.TELEGRAM: "30", OutboxChannel.EMAIL: "10"}
        raw = self.get(f"RATE_LIMIT_{channel.upper()}", defaults.get(channel, "0"))
        value = float(raw or 0)
        return value if value > 0 else None


class Senders:
    """The senders the worker keeps between runs, and the per-provider rate limits."""

    def __init__(self, config: WorkerConfig, engine: Engine | None = None) -> None:
        """`engine`: pace through the database, so the limits hold across worker copies."""
        self.config = config
        self.fixed: dict[OutboxChannel, Sender] = {}
        smtp = config.smtp
        self.fixed[OutboxChannel.EMAIL] = (
            EmailSender(smtp) if smtp else LocalLogSender(OutboxChannel.EMAIL)
        )
        twilio = config.twilio
        self.fixed[OutboxChannel.SMS] = (
            TwilioSmsSender(
                *twilio, api_base=config.get("TWILIO_API_BASE"), timeout=config.provider_timeout
            )
            if twilio
            else LocalLogSender(OutboxChannel.SMS)
        )
        token = config.get("TELEGRAM_BOT_TOKEN")
        self.fixed[OutboxChannel.TELEGRAM] = (
            TelegramSender(
                token,
                api_base=config.get("TELEGRAM_API_BASE").rstrip("/"),
                timeout=config.provider_timeout,
            )
            if token
            else LocalLogSender(OutboxChannel.TELEGRAM)
        )
        # One HTTP connection pool for webhooks, kept between runs like the other clients.
        self.webhook_http = requests.Session()
        self.limits: dict[OutboxChannel, TokenBucket | SharedRateLimit] = {
            channel: SharedRateLimit(engine, str(channel), rate) if engine else TokenBucket(rate)
            for channel in OutboxChannel
            if (rate := config.rate(channel)) is not None
        }

    @property
    def apple_configured(self) -> bool:
        return bool(self.config.get("WALLET_CERTIFICATE"))

    @property
    def google_configured(self) -> bool:
        path = self.config.get("GOOGLE_WALLET_SERVICE_ACCOUNT")
        return bool(path) and os.path.exists(path)

    @property
    def webhook_settings(self) -> WebhookSettings:
        return WebhookSettings.from_env(self.config.get)

    def for_session(self, session: Session) -> dict[OutboxChannel, Sender]:
        """The wallet senders work on the run's session (APNs drops dead registrations); so does
        the webhook sender (it logs each attempt and may disable an endpoint)."""
        senders = dict(self.fixed)
        senders[OutboxChannel.WEBHOOK] = WebhookSender(
            session, self.webhook_settings, http=self.webhook_http
        )
        senders[OutboxChannel.APPLE] = LocalLogSender(OutboxChannel.APPLE)
        senders[OutboxChannel.GOOGLE] = LocalLogSender(OutboxChannel.GOOGLE)
        if self.apple_configured or self.google_configured:
            from wallet.config import settings

            wallet_settings = settings(dict(self.config.env))
            if self.apple_configured:
                from wallet.push import ApnsSender

                senders[OutboxChannel.APPLE] = ApnsSender(
                    session, wallet_settings, timeout=self.config.provider_timeout
                )
            if self.google_configured:
                from wallet.google import GoogleWalletSender

                secret = self.config.get("SECRET_KEY").encode()
                senders[OutboxChannel.GOOGLE] = GoogleWalletSender(
                    session, wallet_settings, secret_key=secret
                )
        return senders

    def describe(self) -> str:
        """One line for the log: which channels send for real and which go to the local log."""
        local = [c for c, s in self.fixed.items() if isinstance(s, LocalLogSender)]
        real = [c for c in self.fixed if c not in local] + [OutboxChannel.WEBHOOK]
        (real if self.apple_configured else local).append(OutboxChannel.APPLE)
        (real if self.google_configured else local).append(OutboxChannel.GOOGLE)
        missing = {
            OutboxChannel.EMAIL: "SMTP_HOST",
            OutboxChannel.SMS: "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM",
            OutboxChannel.TELEGRAM: "TELEGRAM_BOT_TOKEN",
            OutboxChannel.APPLE: "WALLET_CERTIFICATE",
            OutboxChannel.GOOGLE: "GOOGLE_WALLET_SERVICE_ACCOUNT",
        }
        waiting = "; ".join(f"{c} (waits for {missing[c]})" for c in local)
        return (
            f"sending for real: {', '.join(real) or 'nothing'}; "
            f"to the local log: {waiting or 'nothing'}"
        )

    def close(self) -> None:
        self.webhook_http.close()
        for sender in self.fixed.values():
            close = getattr(sender, "close", None)
            if close:
                close()
