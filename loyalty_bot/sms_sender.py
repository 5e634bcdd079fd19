"""Sending SMS through Twilio's REST client: the outbox's SMS sender, plugged in by the worker.

Beside the SMS dialogue (loyalty_bot/sms.py), as DESIGN.md places each channel's sender.
"""

from __future__ import annotations

import json
import logging
from http.client import HTTPException
from typing import Any
from urllib.parse import urlencode

from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.response import Response

from loyalty.models import OutboxMessage, OutboxStatus
from loyalty.notify import texts
from loyalty.notify.delivery import Outcome
from loyalty.notify.keepalive import KeptAliveConnections, basic_authorization

# Twilio error codes that mean the number refuses or cannot get SMS: never retry.
TWILIO_OPTED_OUT = {21610}
TWILIO_PERMANENT = {21211, 21212, 21408, 21606, 21612, 21614, 21610}


class KeptAliveHttpClient(HttpClient):
    """twilio's REST client over kept-alive connections, one per sending thread
    (`loyalty.notify.keepalive`).

    The connections to Twilio stay open between messages, and a send costs none of requests'
    per-call work that these calls never use (proxy settings read from the environment,
    cookies, hooks) nor a shared pool's: at a thousand messages a second that work was most of
    the sender's time. Nothing is retried here: a POST that may have reached Twilio is the
    delivery loop's to retry, with its backoff.
    """

    def __init__(self, *, timeout: float) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), False, timeout)
        self.connections = KeptAliveConnections(timeout=timeout)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        sent: dict[str, Any] = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = basic_authorization(*auth)
        if params:
            url = f"{url}?{urlencode(params, doseq=True)}"
        body = None
        if data:
            if sent.get("Content-Type", "").endswith("json"):
                body = json.dumps(data)
            else:
                body = urlencode(data, doseq=True)
                sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            answer = self.connections.request(
                method.upper(), url, body=body, headers=sent, timeout=timeout or self.timeout
            )
        except (OSError, HTTPException) as exc:  # refused, reset, timed out, malformed
            raise TwilioException(f"{type(exc).__name__}: {exc}") from exc
        return Response(answer.status, answer.body.decode("utf-8"), answer.headers)


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
        from twilio.rest import Client

        # twilio's client waits forever by default: a stalled Twilio would hang the worker.
        self.client = Client(
            account_sid, auth_token, http_client=KeptAliveHttpClient(timeout=timeout)
        )
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")
        self.sender = sender

    def send(self, message: OutboxMessage) -> Outcome:
        from twilio.base.exceptions import TwilioRestException

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
