"""What a wallet sender reports for one outbox message, and a small loop that applies it.

The worker (jobs/) owns scheduling, backoff and rate limits; `deliver_queued` is the plain
Python loop it, the CLI and the tests can call with a Session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import OutboxChannel, OutboxMessage, OutboxStatus

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Outcome:
    status: OutboxStatus  # SENT, SKIPPED (nothing to do, never retried) or FAILED
    provider_id: str | None = None
    error: str | None = None
    retry: bool = False  # for FAILED: a temporary problem (5xx, 429, network)


class WalletSender(Protocol):
    def send(self, message: OutboxMessage) -> Outcome: ...


def apply(message: OutboxMessage, outcome: Outcome, now: datetime) -> None:
    message.attempts += 1
    message.provider_id = outcome.provider_id or message.provider_id
    message.last_error = outcome.error[:500] if outcome.error else None
    if outcome.status == OutboxStatus.FAILED and outcome.retry and message.attempts < MAX_ATTEMPTS:
        message.status = OutboxStatus.QUEUED
        message.next_attempt_at = now + timedelta(seconds=min(3600, 15 * 2**message.attempts))
        return
    message.status = outcome.status
    if outcome.status == OutboxStatus.SENT:
        message.sent_at = now


def deliver_queued(
    session: Session,
    senders: Mapping[OutboxChannel, WalletSender],
    *,
    now: datetime | None = None,
    limit: int = 500,
) -> dict[OutboxStatus, int]:
    """Send due wallet messages once each; the caller commits. Safe to run as several copies."""
    now = now or utcnow()
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.channel.in_(list(senders)),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    counts: dict[OutboxStatus, int] = {}
    for message in session.scalars(query).all():
        try:
            outcome = senders[message.channel].send(message)
        except Exception as exc:  # a sender bug must not stop the others
            outcome = Outcome(OutboxStatus.FAILED, error=f"{type(exc).__name__}: {exc}", retry=True)
        apply(message, outcome, now)
        counts[message.status] = counts.get(message.status, 0) + 1
    session.flush()
    return counts
