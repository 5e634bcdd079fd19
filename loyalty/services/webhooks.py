"""Webhook endpoints (Enterprise): set up by owners, checked, disabled when they keep failing.

Every function here is gated on the Webhooks feature and the owner role. The HTTP side lives
in loyalty.notify.webhooks; it reports each attempt to `record_attempt`, which keeps the
delivery log and decides when an endpoint that keeps failing is switched off.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import EndpointDisabled, InvalidInput, LimitReached, NotFound
from loyalty.models import (
    Membership,
    Merchant,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Role,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from loyalty.notify import outbox
from loyalty.offerings import Feature
from loyalty.services import audit, events
from loyalty.services.actors import Actor

MAX_ENDPOINTS = 16
DELIVERY_LOG_DAYS = 30  # how long the delivery log (with the bodies sent) is kept
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class DisablePolicy:
    """An endpoint is switched off after `failures` failed attempts in a row spanning `period`.

    Both must hold: a receiver that is down for a one-minute deploy while a burst of events
    fails must not be switched off, and neither must one that failed twice in a month.
    """

    failures: int = 20
    period: timedelta = timedelta(hours=24)


def _gate(merchant: Merchant, actor: Actor, doing: str) -> None:
    offerings.require(merchant, Feature.WEBHOOKS)
    actor.require_role(Role.OWNER, doing)


def _own(merchant: Merchant, endpoint: WebhookEndpoint) -> None:
    if endpoint.merchant_id != merchant.id:
        raise NotFound("That webhook endpoint does not exist.")


def _audit(
    session: Session,
    merchant: Merchant,
    actor: Actor,
    endpoint: WebhookEndpoint,
    action: str,
    **details: Any,
) -> None:
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action=action,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        **details,
    )


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def validate_url(raw: str, *, allow_local_http: bool) -> str:
    """An https URL (plain http only to this machine, in development and tests)."""
    url = (raw or "").strip()
    if not url:
        raise InvalidInput("Give the URL your system receives events at.", field="url")
    if len(url) > 500:
        raise InvalidInput("That URL is too long (500 characters at most).", field="url")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise InvalidInput(
            "That URL is not valid. Write it like https://example.com/hooks.", field="url"
        ) from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("The URL must start with https:// and name a host.", field="url")
    if any(c.isspace() or not c.isprintable() for c in url) or not _valid_host(host):
        raise InvalidInput(
            "That URL is not valid. Write it like https://example.com/hooks.", field="url"
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "Leave user names and passwords out of the URL: events are signed.", field="url"
        )
    if parts.fragment:
        raise InvalidInput("Remove the #part of the URL: it is never sent.", field="url")
    local = host in LOCAL_HOSTS
    if parts.scheme == "http" and not (local and allow_local_http):
        raise InvalidInput("The URL must use https:// so events travel encrypted.", field="url")
    if not allow_local_http and (local or _private_address(host)):
        raise InvalidInput(
            "That address is on a private network; give a public https URL.", field="url"
        )
    return url


def _valid_host(host: str) -> bool:
    """An IP address, or a name whose labels DNS accepts (international names via IDNA)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(_LABEL.fullmatch(label) for label in ascii_host.rstrip(".").split("."))


def _private_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith((".local", ".internal", ".localhost"))
    return not address.is_global


def validate_event_types(chosen: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(chosen))
    unknown = [name for name in chosen if name not in events.EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"Unknown event type: {', '.join(unknown)}.", field="event_types")
    if not chosen:
        raise InvalidInput("Choose at least one event to receive.", field="event_types")
    return [name for name in events.EVENT_TYPES if name in chosen]


def require_feature(merchant: Merchant) -> None:
    """Refuse (FeatureNotInOffering, naming the offering that has it) outside Enterprise."""
    offerings.require(merchant, Feature.WEBHOOKS)


def list_endpoints(session: Session, *, merchant: Merchant) -> list[WebhookEndpoint]:
    require_feature(merchant)
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.merchant_id == merchant.id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def create_endpoint(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    allow_local_http: bool = False,
) -> WebhookEndpoint:
    _gate(merchant, actor, "add webhook endpoints")
    url = validate_url(url, allow_local_http=allow_local_http)
    types = validate_event_types(event_types)
    count = session.scalar(
        select(func.count(WebhookEndpoint.id)).where(WebhookEndpoint.merchant_id == merchant.id)
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise LimitReached(
            f"A business can have up to {MAX_ENDPOINTS} webhook endpoints. Delete one you no "
            "longer use first.",
            limit=MAX_ENDPOINTS,
        )
    endpoint = WebhookEndpoint(
        merchant_id=merchant.id,
        url=url,
        description=(description or "").strip()[:200],
        event_types=types,
        secret=new_secret(),
    )
    session.add(endpoint)
    session.flush()
    events.forget_targets(session)
    _audit(session, merchant, actor, endpoint, "webhook.created", url=url)
    return endpoint


def update_endpoint(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    endpoint: WebhookEndpoint,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    allow_local_http: bool = False,
) -> WebhookEndpoint:
    _gate(merchant, actor, "change webhook endpoints")
    _own(merchant, endpoint)
    endpoint.url = validate_url(url, allow_local_http=allow_local_http)
    endpoint.event_types = validate_event_types(event_types)
    endpoint.description = (description or "").strip()[:200]
    session.flush()
    events.forget_targets(session)
    _audit(session, merchant, actor, endpoint, "webhook.updated", url=endpoint.url)
    return endpoint


def _disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:300]


def disable_endpoint(
    session: Session, *, merchant: Merchant, actor: Actor, endpoint: WebhookEndpoint
) -> WebhookEndpoint:
    """Stop sending: new events are not queued and queued ones are skipped at send time."""
    _gate(merchant, actor, "disable webhook endpoints")
    _own(merchant, endpoint)
    if endpoint.active:
        _disable(endpoint, "Disabled in the back-office.", utcnow())
        session.flush()
        events.forget_targets(session)
        _audit(session, merchant, actor, endpoint, "webhook.disabled")
    return endpoint


def enable_endpoint(
    session: Session, *, merchant: Merchant, actor: Actor, endpoint: WebhookEndpoint
) -> WebhookEndpoint:
    _gate(merchant, actor, "enable webhook endpoints")
    _own(merchant, endpoint)
    if not endpoint.active:
        endpoint.disabled_at = None
        endpoint.disabled_reason = None
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
        session.flush()
        events.forget_targets(session)
        _audit(session, merchant, actor, endpoint, "webhook.enabled")
    return endpoint


def rotate_secret(
    session: Session, *, merchant: Merchant, actor: Actor, endpoint: WebhookEndpoint
) -> WebhookEndpoint:
    """A new signing secret, effective for every delivery from now on (retries included)."""
    _gate(merchant, actor, "change a webhook's signing secret")
    _own(merchant, endpoint)
    endpoint.secret = new_secret()
    endpoint.secret_rotated_at = utcnow()
    session.flush()
    _audit(session, merchant, actor, endpoint, "webhook.secret_rotated")
    return endpoint


def delete_endpoint(
    session: Session, *, merchant: Merchant, actor: Actor, endpoint: WebhookEndpoint
) -> None:
    """Delete the endpoint and its delivery log; events still waiting for it are dropped."""
    _gate(merchant, actor, "delete webhook endpoints")
    _own(merchant, endpoint)
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.merchant_id == merchant.id,
            OutboxMessage.channel == OutboxChannel.WEBHOOK,
            OutboxMessage.address == f"webhook:{endpoint.id}",
            OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
        )
        .values(status=OutboxStatus.SKIPPED, last_error="The webhook endpoint was deleted.")
        .execution_options(synchronize_session=False)
    )
    _audit(session, merchant, actor, endpoint, "webhook.deleted", url=endpoint.url)
    session.delete(endpoint)
    session.flush()
    events.forget_targets(session)


def _require_active(endpoint: WebhookEndpoint, doing: str) -> None:
    if not endpoint.active:
        raise EndpointDisabled(f"This endpoint is disabled. Enable it first to {doing}.")


def send_test_event(
    session: Session, *, merchant: Merchant, actor: Actor, endpoint: WebhookEndpoint
) -> OutboxMessage:
    """Queue a `webhook.test` event for this endpoint alone; the worker sends it within a minute."""
    _gate(merchant, actor, "send test events")
    _own(merchant, endpoint)
    _require_active(endpoint, "send a test event")
    return events.emit_to_endpoint(
        session,
        endpoint=endpoint,
        merchant=merchant,
        type=events.TEST_EVENT,
        data={"endpoint_id": endpoint.id, "message": "A test event from the back-office."},
    )


def resend(
    session: Session, *, merchant: Merchant, actor: Actor, delivery: WebhookDelivery
) -> OutboxMessage:
    """Queue the event of a logged delivery again, now; the same event id lets receivers dedupe."""
    _gate(merchant, actor, "resend webhook events")
    if delivery.merchant_id != merchant.id:
        raise NotFound("That delivery does not exist.")
    _require_active(delivery.endpoint, "resend events")
    message = (
        session.get(OutboxMessage, delivery.outbox_message_id)
        if delivery.outbox_message_id
        else None
    )
    now = utcnow()
    if message is None:  # the outbox row was pruned: queue the logged event on a new one
        row = events.outbox_row(merchant.id, delivery.endpoint_id, delivery.payload)
        row["dedupe_key"] = f"{row['dedupe_key']}:resend:{int(now.timestamp())}"[:120]
        message = OutboxMessage(**row)
        session.add(message)
    elif message.status != OutboxStatus.SENDING:
        # A fresh delivery with the full retry schedule: after a long outage the first
        # resend may still fail, and must not be the last try.
        message.status = OutboxStatus.QUEUED
        message.attempts = 0
        message.next_attempt_at = now
        message.last_error = "Resent from the back-office."
    session.flush()
    return message


def owners_of(session: Session, merchant_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.merchant_id == merchant_id, Membership.role == Role.OWNER)
            .order_by(User.id)
        )
    )


def record_attempt(
    session: Session,
    *,
    endpoint: WebhookEndpoint,
    message: OutboxMessage,
    event: dict,
    status_code: int | None,
    response_excerpt: str,
    duration_ms: int,
    error: str | None,
    now: datetime,
    policy: DisablePolicy,
) -> WebhookDelivery:
    """Log one HTTP attempt and keep the endpoint's failure streak; may disable the endpoint."""
    succeeded = status_code is not None and 200 <= status_code < 300
    delivery = WebhookDelivery(
        merchant_id=endpoint.merchant_id,
        endpoint_id=endpoint.id,
        outbox_message_id=message.id,
        event_id=str(event.get("id", ""))[:40],
        event_type=str(event.get("type", ""))[:60],
        payload=event,
        attempt=message.attempts,
        status_code=status_code,
        response_excerpt=response_excerpt[:500],
        duration_ms=duration_ms,
        error=error[:500] if error else None,
        succeeded=succeeded,
        created_at=now,
    )
    session.add(delivery)
    if succeeded:
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
    elif status_code == 410:
        disable_for_failure(session, endpoint, "The receiver answered 410 Gone.", now)
    else:
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or now
        if (
            endpoint.active
            and endpoint.consecutive_failures >= policy.failures
            and now - endpoint.failing_since >= policy.period
        ):
            disable_for_failure(
                session,
                endpoint,
                f"{endpoint.consecutive_failures} failed deliveries in a row since "
                f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC.",
                now,
            )
    session.flush()
    return delivery


def disable_for_failure(
    session: Session, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    """Switch off an endpoint that keeps failing and tell the owners by e-mail (via the outbox)."""
    if not endpoint.active:
        return
    _disable(endpoint, reason, now)
    events.forget_targets(session)
    merchant = session.get(Merchant, endpoint.merchant_id)
    name = merchant.name if merchant else ""
    text = (
        f"We stopped sending events to your webhook endpoint {endpoint.url}.\n\n"
        f"Reason: {reason}\n\n"
        "Events that happen while it is disabled are not queued for it. Once your receiver "
        "works again, enable the endpoint in the back-office (Webhooks) and resend the "
        "deliveries you need from its delivery log."
    )
    for owner in owners_of(session, endpoint.merchant_id):
        outbox.enqueue(
            session,
            merchant_id=endpoint.merchant_id,
            channel=OutboxChannel.EMAIL,
            template="webhook_disabled",
            address=owner.email,
            payload={"program": name, "url": endpoint.url, "reason": reason, "text": text},
            dedupe_key=f"webhook_disabled:{endpoint.id}:{int(now.timestamp())}:{owner.id}",
        )


def purge_delivery_log(session: Session, *, now: datetime | None = None) -> int:
    """Drop delivery attempts older than DELIVERY_LOG_DAYS (the nightly retention job)."""
    cutoff = (now or utcnow()) - timedelta(days=DELIVERY_LOG_DAYS)
    return session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.created_at < cutoff)
    ).rowcount
