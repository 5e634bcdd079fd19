"""The one delivery loop for every channel: claim due outbox messages, check, pace, send, record.

A run claims a batch (`FOR UPDATE SKIP LOCKED` on PostgreSQL) by setting it `sending` with a
lease in `next_attempt_at`, and commits; a worker killed mid-batch leaves rows whose lease
runs out and which the next run claims again. Each message is then checked at send time
(opt-out, quiet hours: see `loyalty.notify.rules`), paced by its provider's token bucket,
sent, and its outcome committed on its own, so a kill loses nothing and re-sends at most
the one message that was in flight.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import OutboxChannel, OutboxMessage, OutboxStatus
from loyalty.notify import rules

log = logging.getLogger("notify.delivery")


@dataclass(frozen=True)
class Outcome:
    status: OutboxStatus  # SENT, SKIPPED (nothing to do, never retried) or FAILED
    provider_id: str | None = None
    error: str | None = None
    retry: bool = False  # for FAILED: a temporary problem (5xx, 429, network)
    opt_out: bool = False  # the provider says the person refuses messages (blocked bot, STOP)


class Sender(Protocol):
    def send(self, message: OutboxMessage) -> Outcome: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    backoff_base: float = 30.0  # seconds before the first retry (before jitter)
    backoff_cap: float = 3600.0
    lease: timedelta = timedelta(minutes=5)
    batch: int = 200
    quiet_hours: rules.QuietHours | None = rules.DEFAULT_QUIET_HOURS


def backoff(attempts: int, policy: DeliveryPolicy, rng: Callable[[], float] = random.random):
    """Exponential backoff with "equal jitter": half fixed, half random, so retries spread out."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=ceiling / 2 + rng() * ceiling / 2)


class TokenBucket:
    """Blocks until a send is allowed: `rate` per second, at most `burst` at once. Thread-safe.

    The default burst of 1 spaces sends evenly, so no 1-second window ever holds more than
    `rate` sends; `headroom` slows pacing by 1 % so network jitter cannot push one over.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        headroom: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate * (1 - headroom)
        self.burst = burst
        self.nominal_rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1 - 1e-9:  # float dust must not stall the loop
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                self._sleep((1 - self._tokens) / self.rate)


@dataclass
class Deliverer:
    """Delivers the outbox through `senders`; `limits` holds one token bucket per channel."""

    senders: Mapping[OutboxChannel, Sender]
    limits: Mapping[OutboxChannel, TokenBucket] = field(default_factory=dict)
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    clock: Callable[[], datetime] = utcnow
    stopping: Callable[[], bool] = lambda: False

    def claim(self, session: Session, channel: OutboxChannel, limit: int) -> list[OutboxMessage]:
        """Take due messages of one channel (queued, or `sending` past their lease); commits."""
        now = self.clock()
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if is_postgres(session):
            due = due.with_for_update(skip_locked=True)
        # One statement: on SQLite the write lock makes it atomic, on PostgreSQL SKIP LOCKED
        # hands each worker different rows.
        ids = session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(
                status=OutboxStatus.SENDING,
                next_attempt_at=now + self.policy.lease,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).all()
        session.commit()
        if not ids:
            return []
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .execution_options(populate_existing=True)
            )
        )

    def batch_size(self, channel: OutboxChannel) -> int:
        """As many as the provider's rate lets us send within half the lease."""
        bucket = self.limits.get(channel)
        if bucket is None:
            return self.policy.batch
        fits = int(bucket.rate * self.policy.lease.total_seconds() / 2)
        return max(1, min(self.policy.batch, fits))

    def run(self, session: Session, *, max_batches: int | None = None) -> dict[OutboxStatus, int]:
        """Deliver until nothing is due (or `stopping()`); returns final statuses counted."""
        counts: dict[OutboxStatus, int] = {}
        batches = 0
        while not self.stopping() and (max_batches is None or batches < max_batches):
            handled = 0
            for channel in self.senders:
                for message in self.claim(session, channel, self.batch_size(channel)):
                    if self.stopping():
                        self.release(session, message)
                        continue
                    status = self.deliver_one(session, message)
                    counts[status] = counts.get(status, 0) + 1
                    handled += 1
            batches += 1
            if not handled:
                break
        return counts

    def release(self, session: Session, message: OutboxMessage) -> None:
        """Hand an unsent claimed message back (shutting down): no attempt used."""
        message.status = OutboxStatus.QUEUED
        message.attempts -= 1
        message.next_attempt_at = self.clock()
        session.commit()

    def deliver_one(self, session: Session, message: OutboxMessage) -> OutboxStatus:
        now = self.clock()
        refusal = rules.refusal(session, message)
        if refusal is not None:
            message.status = OutboxStatus.SKIPPED
            message.last_error = refusal[:500]
            session.commit()
            return message.status
        later = rules.quiet_until(session, message, now, self.policy.quiet_hours)
        if later is not None:
            message.status = OutboxStatus.QUEUED
            message.attempts -= 1  # waiting out the night is not a failed attempt
            message.next_attempt_at = later
            message.last_error = "quiet hours: held until the morning"
            session.commit()
            return message.status
        if message.campaign_id is not None:
            # Imported here: the campaign service depends on notify, not the other way round.
            from loyalty.services.campaigns import prepare_message

            prepared = prepare_message(session, message, now)
            if not prepared.send:
                session.commit()
                return message.status
            if prepared.wrote_ledger:
                session.commit()  # bonus and voucher are kept; no member row locked while sending
        bucket = self.limits.get(message.channel)
        if bucket is not None:
            bucket.take()
        try:
            outcome = self.senders[message.channel].send(message)
        except Exception as exc:  # a sender bug must not stop the others
            log.exception("sender for %s failed on message %s", message.channel, message.id)
            outcome = Outcome(OutboxStatus.FAILED, error=f"{type(exc).__name__}: {exc}", retry=True)
        record(message, outcome, self.clock(), self.policy)
        if outcome.opt_out:
            rules.record_opt_out(session, message, self.clock())
        session.commit()
        return message.status


def record(message: OutboxMessage, outcome: Outcome, now: datetime, policy: DeliveryPolicy) -> None:
    """Apply a sender's outcome to a claimed message (attempts were counted at claim)."""
    message.provider_id = outcome.provider_id or message.provider_id
    message.last_error = outcome.error[:500] if outcome.error else None
    if outcome.status == OutboxStatus.FAILED and outcome.retry:
        if message.attempts < policy.max_attempts:
            message.status = OutboxStatus.QUEUED
            message.next_attempt_at = now + backoff(message.attempts, policy)
            return
        message.last_error = f"gave up after {message.attempts} attempts: {outcome.error}"[:500]
    message.status = outcome.status
    if outcome.status == OutboxStatus.SENT:
        message.sent_at = now
