"""Sending SMS through Twilio's REST client: the outbox's SMS sender, plugged in by the worker.

Beside the SMS dialogue (loyalty_bot/sms.py), as DESIGN.md places each channel's sender.
"""

from __future__ import annotations

from loyalty.models import OutboxMessage, OutboxStatus
from loyalty.notify import texts
from loyalty.notify.delivery import Outcome

# Twilio error codes that mean the number refuses or cannot get SMS: never retry.
TWILIO_OPTED_OUT = {21610}
TWILIO_PERMANENT = {21211, 21212, 21408, 21606, 21612, 21614, 21610}


class TwilioSmsSender:
    """SMS through twilio's REST client; TWILIO_API_BASE points it at a local fake in tests."""

    concurrent = True  # the client's connection pool is thread-safe; no per-call state

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        api_base: str = "",
        timeout: float = 10.0,
    ) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        # twilio's client waits forever by default: a stalled Twilio would hang the worker.
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")
        self.sender = sender

    def send(self, message: OutboxMessage) -> Outcome:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        origin = (
            {"messaging_service_sid": self.sender}
            if self.sender.startswith("MG")
            else {"from_": self.sender}
        )
        try:
            sent = self.client.messages.create(
                to=message.address, body=texts.short_text(message), **origin
            )
        except TwilioRestException as exc:
            permanent = exc.code in TWILIO_PERMANENT or 400 <= exc.status < 429
            return Outcome(
                OutboxStatus.FAILED,
                error=f"Twilio {exc.status} {exc.code}: {exc.msg}",
                retry=not permanent,
                opt_out=exc.code in TWILIO_OPTED_OUT,
            )
        except (TwilioException, OSError) as exc:
            return Outcome(OutboxStatus.FAILED, error=f"Twilio: {exc!r}", retry=True)
        return Outcome(OutboxStatus.SENT, provider_id=sent.sid)
