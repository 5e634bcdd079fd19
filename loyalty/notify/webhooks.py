"""Delivering webhook events: sign the body, POST it to the merchant's endpoint, log the attempt.

The signature is Stripe's scheme under our own header name (docs/webhooks.md has the receiver's
side): `Loyalty-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with
the endpoint's secret. Signing the timestamp with the body lets a receiver refuse replays.

The outcome goes back to the shared delivery loop: a 2xx is sent; anything else (4xx, 5xx,
a redirect, a timeout, a refused connection) is retried with the loop's growing delays, except
410 Gone, which disables the endpoint. Redirects are never followed: a signed event goes only
to the URL the owner typed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.models import Merchant, OutboxMessage, OutboxStatus, WebhookEndpoint
from loyalty.notify.delivery import Outcome
from loyalty.offerings import Feature
from loyalty.services import events, webhooks
from loyalty.services.webhooks import DisablePolicy

SIGNATURE_HEADER = "Loyalty-Signature"
USER_AGENT = "Loyalty-Webhooks/1.0"


def encode(event: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact JSON, UTF-8."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


@dataclass(frozen=True)
class WebhookSettings:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    excerpt_bytes: int = 500
    disable: DisablePolicy = field(default_factory=DisablePolicy)

    @classmethod
    def from_env(cls, get: Callable[[str, str], str]) -> WebhookSettings:
        return cls(
            read_timeout=float(get("WEBHOOK_TIMEOUT_SECONDS", "10")),
            disable=DisablePolicy(
                failures=int(get("WEBHOOK_DISABLE_AFTER_FAILURES", "20")),
                period=timedelta(hours=float(get("WEBHOOK_DISABLE_AFTER_HOURS", "24"))),
            ),
        )


class WebhookSender:
    """Sends the outbox's webhook rows; works on the worker run's session (it logs attempts)."""

    def __init__(
        self,
        session: Session,
        settings: WebhookSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        http: requests.Session | None = None,
    ) -> None:
        self.session = session
        self.settings = settings or WebhookSettings()
        self.clock = clock
        self.http = http or requests.Session()

    def _endpoint(self, message: OutboxMessage) -> WebhookEndpoint | str:
        payload = message.payload or {}
        endpoint = self.session.get(WebhookEndpoint, payload.get("endpoint_id") or 0)
        if endpoint is None or endpoint.merchant_id != message.merchant_id:
            return "The webhook endpoint was deleted."
        if not endpoint.active:
            return f"The webhook endpoint is disabled: {endpoint.disabled_reason or 'by its owner'}"
        merchant = self.session.get(Merchant, message.merchant_id)
        if merchant is None or not offerings.has(merchant, Feature.WEBHOOKS):
            return "Webhooks are not included in the business's offering any more."
        event = payload.get("event")
        if not isinstance(event, dict):
            return "The queued message holds no event."
        if event.get("type") not in (*endpoint.event_types, events.TEST_EVENT):
            return "The endpoint no longer subscribes to this event."
        return endpoint

    def send(self, message: OutboxMessage) -> Outcome:
        endpoint = self._endpoint(message)
        if isinstance(endpoint, str):
            return Outcome(OutboxStatus.SKIPPED, error=endpoint)
        event = message.payload["event"]
        body = encode(event)
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(endpoint.secret, timestamp, body),
            "Loyalty-Event-Id": str(event.get("id", "")),
            "Loyalty-Event-Type": str(event.get("type", "")),
            "Loyalty-Delivery-Attempt": str(message.attempts),
        }
        started = time.monotonic()
        status, excerpt, error = self._post(endpoint.url, body, headers)
        duration_ms = int((time.monotonic() - started) * 1000)
        if status is not None and not 200 <= status < 300 and error is None:
            error = f"The receiver answered HTTP {status}."
            if 300 <= status < 400:
                error += " Redirects are not followed: give the final URL."
        webhooks.record_attempt(
            self.session,
            endpoint=endpoint,
            message=message,
            event=event,
            status_code=status,
            response_excerpt=excerpt,
            duration_ms=duration_ms,
            error=error,
            now=self.clock(),
            policy=self.settings.disable,
        )
        if status is not None and 200 <= status < 300:
            return Outcome(OutboxStatus.SENT, provider_id=f"HTTP {status}")
        if not endpoint.active:  # 410, or this failure completed the streak
            return Outcome(OutboxStatus.FAILED, error=f"{error} Endpoint disabled.")
        return Outcome(OutboxStatus.FAILED, error=error, retry=True)

    def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str, str | None]:
        """(status or None, start of the response body, error or None)."""
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        try:
            with self.http.post(
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,  # read only the start of whatever the receiver answers
            ) as response:
                raw = response.raw.read(self.settings.excerpt_bytes, decode_content=True) or b""
                return response.status_code, raw.decode("utf-8", "replace"), None
        except requests.Timeout:
            return None, "", f"No answer within {self.settings.read_timeout:g} s."
        except requests.ConnectionError as exc:
            return None, "", f"Could not connect: {_reason(exc)}"
        except requests.RequestException as exc:
            return None, "", f"Request failed: {_reason(exc)}"

    def close(self) -> None:
        self.http.close()


def _reason(exc: Exception) -> str:
    """The innermost cause, which names the actual problem (refused, DNS, TLS)."""
    while exc.__context__ is not None and len(str(exc)) > 200:
        exc = exc.__context__  # type: ignore[assignment]
    return str(exc)[:300]
