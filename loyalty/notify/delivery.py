"""The one delivery loop for every channel: claim due outbox messages, check, pace, send, record.

A run claims a batch (`FOR UPDATE SKIP LOCKED` on PostgreSQL) by setting it `sending` with a
lease in `next_attempt_at`, and commits; a worker killed mid-batch leaves rows whose lease
runs out and which the next run claims again. Each message is then checked at send time
(opt-out, quiet hours: see `loyalty.notify.rules`), paced by its provider's token bucket and
sent (on a thread pool when the sender allows it: a provider answers in tens or hundreds of
milliseconds, so many sends must be in flight at once); the outcomes are committed a chunk
(20 messages, fewer on a slow channel) at a time as they come back. A kill loses nothing and
re-sends at most the sends in progress and the outcomes not yet committed.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, inspect, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from loyalty.db import among, is_postgres, utcnow
from loyalty.models import Campaign, OutboxChannel, OutboxMessage, OutboxStatus
from loyalty.models.merchant import merchant_not_suspended
from loyalty.notify import rules

log = logging.getLogger("notify.delivery")


@dataclass(frozen=True)
class Outcome:
    status: OutboxStatus  # SENT, SKIPPED (nothing to do, never retried) or FAILED
    provider_id: str | None = None
    error: str | None = None
    retry: bool = False  # for FAILED: a temporary problem (5xx, 429, network)
    opt_out: bool = False  # the provider says the person refuses messages (blocked bot, STOP)
    payload: dict[str, Any] | None = None  # the payload as the sender left it (local log)


class Sender(Protocol):
    """Sends one message. A sender whose `concurrent` attribute is true may be called from
    several threads at once (it keeps no per-call state and touches no database session)."""

    def send(self, message: OutboxMessage) -> Outcome: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    backoff_base: float = 30.0  # seconds before the first retry (before jitter)
    backoff_cap: float = 3600.0
    lease: timedelta = timedelta(minutes=5)
    batch: int = 200
    chunk: int = 20  # messages committed together (see deliver_batch)
    check: int = 100  # messages checked together on an unthrottled channel (see check_size)
    commit_after: float = 0.5  # seconds: a rate-limited chunk holds what it sends in this time
    concurrency: int = 32  # sends in parallel, for senders marked `concurrent`
    quiet_hours: rules.QuietHours | None = rules.DEFAULT_QUIET_HOURS


def backoff(attempts: int, policy: DeliveryPolicy, rng: Callable[[], float] = random.random):
    """Exponential backoff with "equal jitter": half fixed, half random, so retries spread out."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=ceiling / 2 + rng() * ceiling / 2)


def paced_rate(rate: float) -> float:
    """The rate to pace at so that no 1-second window at the provider ever holds more than `rate`.

    Sends are spaced evenly; pacing a little below the limit (two messages a second below it,
    kept between 2 % and 5 %) leaves room in every window for sends that the network or a
    busy machine delayed from the one before. A limit of 50/s is paced at 48/s, 96 % of it.
    """
    return rate * (1 - min(0.05, max(0.02, 2 / rate)))


class TokenBucket:
    """Blocks until a send is allowed, spacing sends evenly at `paced_rate(rate)`. Thread-safe.

    For one process (tests, a single worker); the worker itself paces with
    `loyalty.notify.pacing.SharedRateLimit`, which holds across worker copies. Each call
    reserves the next slot on a fixed grid (GCRA) and sleeps outside the lock, so a thread
    that oversleeps on a busy machine delays its own send, not the grid: the achieved rate
    stays at the paced rate whenever there is work.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = paced_rate(rate)
        self.nominal_rate = rate
        self.interval = 1.0 / self.rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(self._next, now)  # idle time is not saved up: no bursts after a pause
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


# Sends handed to the pool, oldest first, with their outcomes to come.
Flight = deque[tuple[OutboxMessage, Future[Outcome]]]


@dataclass
class Deliverer:
    """Delivers the outbox through `senders`; `limits` holds one token bucket per channel."""

    senders: Mapping[OutboxChannel, Sender]
    limits: Mapping[OutboxChannel, TokenBucket] = field(default_factory=dict)
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    clock: Callable[[], datetime] = utcnow
    stopping: Callable[[], bool] = lambda: False
    _pacing: dict[OutboxChannel, threading.Lock] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pacing = {channel: threading.Lock() for channel in self.limits}

    def claim(self, session: Session, channel: OutboxChannel, limit: int) -> list[OutboxMessage]:
        """Take due messages of one channel (queued, or `sending` past their lease); commits."""
        now = self.clock()
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
                OutboxMessage.next_attempt_at <= now,
                # A suspended merchant's messages (campaigns, receipts, webhooks) wait queued,
                # untouched, until the operator reactivates it.
                merchant_not_suspended(OutboxMessage.merchant_id),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if is_postgres(session):
            due = due.with_for_update(skip_locked=True)
        # One statement: on SQLite the write lock makes it atomic, on PostgreSQL SKIP LOCKED
        # hands each worker different rows. It returns the claimed rows themselves.
        claimed = session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(
                status=OutboxStatus.SENDING,
                next_attempt_at=now + self.policy.lease,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False, populate_existing=True)
        ).all()
        session.commit()
        return sorted(claimed, key=lambda m: (m.next_attempt_at, m.id))

    def batch_size(self, channel: OutboxChannel) -> int:
        """As many as the provider's rate lets us send within half the lease."""
        bucket = self.limits.get(channel)
        if bucket is None:
            return self.policy.batch
        fits = int(bucket.rate * self.policy.lease.total_seconds() / 2)
        return max(1, min(self.policy.batch, fits))

    def check_size(self, channel: OutboxChannel) -> int:
        """Messages checked together just before they are sent: on an unthrottled channel a
        few chunks' worth (sent within a fraction of a second of the check), on a paced one a
        single chunk, so that the check stays as close to each send as before."""
        if channel in self.limits:
            return self.chunk_size(channel)
        return max(self.policy.chunk, self.policy.check)

    def concurrent(self, channel: OutboxChannel) -> bool:
        """Whether the channel's sender may send from several threads at once (`Sender`)."""
        return getattr(self.senders.get(channel), "concurrent", False)

    def chunk_size(self, channel: OutboxChannel) -> int:
        """Messages whose outcomes are committed together: fewer on a slow (rate-limited)
        channel, so that a chunk is done within `commit_after` seconds and a kill re-sends
        little; a round of the pool's sends on an unthrottled one."""
        bucket = self.limits.get(channel)
        if bucket is None:
            if self.concurrent(channel):
                return max(self.policy.chunk, self.policy.concurrency)
            return self.policy.chunk
        return max(1, min(self.policy.chunk, int(bucket.rate * self.policy.commit_after)))

    def run(self, session: Session, *, max_batches: int | None = None) -> dict[OutboxStatus, int]:
        """Deliver until nothing is due (or `stopping()`); returns final statuses counted."""
        counts: dict[OutboxStatus, int] = {}
        batches = 0
        pool = ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix="send")
        # Sends still out when a batch is done: the next batch is claimed and checked while
        # they finish, so the pool does not run dry between batches.
        flight: Flight = deque()
        try:
            while not self.stopping() and (max_batches is None or batches < max_batches):
                handled = 0
                for channel in self.senders:
                    claimed = self.claim(session, channel, self.batch_size(channel))
                    handled += self.deliver_batch(session, claimed, counts, pool, flight)
                batches += 1
                if not handled:
                    break
            unsent = self.settle(session, flight, counts, keep=0, cancel=self.stopping())
            if unsent:
                self.release(session, unsent)
        finally:
            pool.shutdown(wait=True)
        return counts

    def deliver_batch(
        self,
        session: Session,
        claimed: list[OutboxMessage],
        counts: dict[OutboxStatus, int],
        pool: Executor | None = None,
        flight: Flight | None = None,
    ) -> int:
        """Send a claimed batch group by group; returns how many messages were handled.

        The rules are checked for a group just before it is sent (a few queries for the group,
        not per message: `check_size`). When the sender allows it, the group's sends go onto the
        pool (still paced by the rate limit) and the loop moves on: it records and commits the
        outcomes chunk by chunk as they come back, but leaves a window of sends (`window`)
        queued while it checks the next group, so the provider never waits for our database. A
        kill re-sends at most the sends in progress and the outcomes not yet committed.

        `flight`: the run's sends still out, left out when the batch is done (`run` settles
        them); without it the batch waits for all of its sends.
        """
        pending = claimed
        carried = flight is not None
        if flight is None:
            flight = deque()
        while pending and not self.stopping():
            group = pending[: self.check_size(pending[0].channel)]
            pending = pending[len(group) :]
            to_send = self.check_chunk(session, group, counts)
            if not to_send:
                session.commit()  # the group's skips and holds
                continue
            channel = to_send[0].channel
            if pool is not None and self.concurrent(channel):
                # Threads get detached copies: the session stays on this thread.
                flight.extend((m, pool.submit(self.send, detached(m))) for m in to_send)
                self.settle(session, flight, counts, keep=self.window(channel))
                continue
            size = self.chunk_size(channel)
            for start in range(0, len(to_send), size):
                if start and self.stopping():
                    pending = to_send[start:] + pending
                    break
                chunk = to_send[start : start + size]
                self.finish(session, chunk, [self.send(m) for m in chunk], counts)
        unsent: list[OutboxMessage] = []
        if not carried or self.stopping():
            unsent = self.settle(session, flight, counts, keep=0, cancel=self.stopping())
        if pending or unsent:
            self.release(session, unsent + pending)  # handed back: not handled
        return len(claimed) - len(unsent) - len(pending)

    def window(self, channel: OutboxChannel) -> int:
        """Sends left on the pool while the next group is checked: enough to keep every send
        thread busy on an unthrottled channel; one chunk on a paced one, so that each check
        stays within about a second of its send."""
        if channel in self.limits:
            return self.chunk_size(channel)
        return max(self.policy.chunk, 4 * self.policy.concurrency)

    def settle(
        self,
        session: Session,
        flight: Flight,
        counts: dict[OutboxStatus, int],
        *,
        keep: int,
        cancel: bool = False,
    ) -> list[OutboxMessage]:
        """Record the outcomes of the oldest sends until `keep` are left in flight and the
        oldest is still out, committing them a chunk at a time. With `cancel` (shutting down),
        sends not yet started are called off and returned, to be handed back unsent."""
        unsent: list[OutboxMessage] = []
        done: list[OutboxMessage] = []
        outcomes: list[Future[Outcome]] = []
        # Down to `keep`, and past it while the oldest sends are done: an outcome that has
        # come back is recorded now, so that a kill does not send that message again.
        while flight and (len(flight) > keep or flight[0][1].done()):
            message, future = flight.popleft()
            if cancel and future.cancel():
                unsent.append(message)
                continue
            done.append(message)
            outcomes.append(future)
            if len(done) >= self.chunk_size(message.channel):
                self.finish(session, done, outcomes, counts)
                done, outcomes = [], []
        if done:
            self.finish(session, done, outcomes, counts)
        return unsent

    def deliver_one(self, session: Session, message: OutboxMessage) -> OutboxStatus:
        """Deliver one claimed message now (checked, paced, sent, recorded, committed)."""
        self.deliver_batch(session, [message], {})
        return message.status

    def check_chunk(
        self, session: Session, chunk: list[OutboxMessage], counts: dict[OutboxStatus, int]
    ) -> list[OutboxMessage]:
        """Settle what must not go out now (counted); returns the messages to send."""
        refused = rules.refusals(session, chunk)
        zones = rules.merchant_zones(session, {m.merchant_id for m in chunk})
        # Loaded once and held for the chunk: the session's identity map keeps objects only
        # while something refers to them, and each campaign message looks its campaign up.
        held = _campaigns(session, {m.campaign_id for m in chunk} - {None})  # noqa: F841
        known = _member_rows(session, chunk)
        to_send = []
        # The chunk's changes (skips and holds) go out with its commit, as one batch, not one
        # UPDATE per message before each lookup. A rendered text is stored with its outcome.
        with session.no_autoflush:
            for message in chunk:
                zone = zones.get(message.merchant_id, rules.UTC)
                status = self.check(session, message, refused.get(message.id), zone, known)
                if status is False:
                    to_send.append(message)
                elif status is not None:
                    counts[status] = counts.get(status, 0) + 1
        return to_send

    def finish(
        self,
        session: Session,
        messages: list[OutboxMessage],
        outcomes: list[Future[Outcome]] | list[Outcome],
        counts: dict[OutboxStatus, int],
    ) -> None:
        """Record a chunk's outcomes and commit them (and the group's skips and holds).

        The outcomes go out as one UPDATE for the whole chunk (one round trip) instead of the
        session's flush of each changed message.
        """
        now = self.clock()
        recorded = []
        for message, result in zip(messages, outcomes, strict=True):
            outcome = result.result() if isinstance(result, Future) else result
            values = outcome_values(message, outcome, now, self.policy)
            recorded.append((message, values))
            if outcome.opt_out:
                rules.record_opt_out(session, message, now)
            counts[values["status"]] = counts.get(values["status"], 0) + 1
        write_outcomes(session, recorded)
        session.commit()

    def release(self, session: Session, messages: list[OutboxMessage]) -> None:
        """Hand unsent claimed messages back (shutting down): no attempt used."""
        now = self.clock()
        for message in messages:
            message.status = OutboxStatus.QUEUED
            message.attempts -= 1
            message.next_attempt_at = now
        session.commit()

    def check(
        self,
        session: Session,
        message: OutboxMessage,
        refusal: str | None,
        zone: ZoneInfo,
        known: Mapping[int, Any] | None = None,
    ) -> OutboxStatus | bool | None:
        """Decide before sending: False = send it; a status = settled without sending (opted
        out, held for quiet hours, campaign paused or cancelled); None = leave it alone (its
        lease ran out, so another worker may hold it by now and a send could be a duplicate)."""
        now = self.clock()
        if refusal is not None:
            message.status = OutboxStatus.SKIPPED
            message.last_error = refusal[:500]
            return message.status
        later = rules.quiet_until_in(zone, message, now, self.policy.quiet_hours)
        if later is not None:
            message.status = OutboxStatus.QUEUED
            message.attempts -= 1  # waiting out the night is not a failed attempt
            message.next_attempt_at = later
            message.last_error = "quiet hours: held until the morning"
            return message.status
        if now >= message.next_attempt_at:
            log.warning("lease of message %s ran out before its send: left alone", message.id)
            return None
        if message.campaign_id is not None:
            # Imported here: the campaign service depends on notify, not the other way round.
            from loyalty.services.campaigns import prepare_message

            prepared = prepare_message(session, message, now, known=known)
            if not prepared.send:  # paused or cancelled
                return message.status
            if prepared.wrote_ledger:
                session.commit()  # bonus and voucher are kept; no member row locked while sending
        return False

    def send(self, message: OutboxMessage) -> Outcome:
        """Pace and send one message (on a pool thread it is a detached copy, see `detached`)."""
        bucket = self.limits.get(message.channel)
        if bucket is not None:
            # One thread at a time waits for the channel's next slot, and reserves it only once
            # the slot before has come. Reserved far ahead by many waiting threads, the slots
            # that a busy moment made late would go out together, over the limit at the provider.
            with self._pacing[message.channel]:
                bucket.take()
        before = message.payload
        try:
            outcome = self.senders[message.channel].send(message)
        except Exception as exc:  # a sender bug must not stop the others
            log.exception("sender for %s failed on message %s", message.channel, message.id)
            outcome = Outcome(OutboxStatus.FAILED, error=f"{type(exc).__name__}: {exc}", retry=True)
        if message.payload is not before:  # the local log keeps the rendered words on the row
            outcome = replace(outcome, payload=message.payload)
        return outcome


def _member_rows(session: Session, chunk: list[OutboxMessage]) -> Mapping[int, Any]:
    """The chunk's campaign members' placeholder values, in one query for the whole chunk."""
    ids = {m.member_id for m in chunk if m.campaign_id is not None and m.member_id is not None}
    if not ids:
        return {}
    from loyalty.services.campaigns import member_rows  # campaigns depend on notify

    return member_rows(session, ids)


def _campaigns(session: Session, ids: set[int | None]) -> list[Campaign]:
    if not ids:
        return []
    return list(session.scalars(select(Campaign).where(among(session, Campaign.id, ids))))


# What a sender may read of a message (see `detached`).
SENDER_FIELDS = (
    "id",
    "merchant_id",
    "member_id",
    "campaign_id",
    "channel",
    "template",
    "address",
    "dedupe_key",
    "attempts",
)


def detached(message: OutboxMessage) -> OutboxMessage:
    """A copy outside any session that a sender may read (and annotate) on another thread.

    Its fields are written straight into the new instance's dictionary, as the ORM does when
    it loads a row: a quarter of the cost of the constructor, which runs an attribute event
    for each field (this runs once per message sent).
    """
    copy = _new_message()
    values = copy.__dict__
    for name in SENDER_FIELDS:
        values[name] = getattr(message, name)
    values["payload"] = dict(message.payload or {})
    return copy


_new_message = inspect(OutboxMessage).class_manager.new_instance


RECORDED = ("status", "provider_id", "last_error", "next_attempt_at", "sent_at", "payload")
_OUTCOME_UPDATE = (
    OutboxMessage.__table__.update()  # type: ignore[attr-defined]
    .where(OutboxMessage.__table__.c.id == bindparam("_id"))  # type: ignore[attr-defined]
    .values({name: bindparam(name) for name in RECORDED})
)
# On PostgreSQL the chunk's outcomes travel as one JSON document and land in one statement.
_OUTCOME_UPDATE_PG = text(
    """UPDATE outbox_messages AS o
       SET status = v.status, provider_id = v.provider_id, last_error = v.last_error,
           next_attempt_at = v.next_attempt_at, sent_at = v.sent_at, payload = v.payload
       FROM json_to_recordset(CAST(:rows AS json))
            AS v(id bigint, status text, provider_id text, last_error text,
                 next_attempt_at timestamptz, sent_at timestamptz, payload json)
       WHERE o.id = v.id"""
)

Recorded = list[tuple[OutboxMessage, dict[str, Any]]]


def write_outcomes(session: Session, recorded: Recorded) -> None:
    """Write each message's recorded fields (`outcome_values`) in one statement, and set them
    on the message as stored: the session never sees them changed, so its flush at commit has
    nothing to look at."""
    if not recorded:
        return
    if is_postgres(session):
        rows = [{"id": message.id, **values} for message, values in recorded]
        session.execute(_OUTCOME_UPDATE_PG, {"rows": json.dumps(rows, default=_json_value)})
    else:
        session.execute(
            _OUTCOME_UPDATE, [{"_id": message.id, **values} for message, values in recorded]
        )
    for message, values in recorded:
        for name, value in values.items():
            if value is not getattr(message, name):
                set_committed_value(message, name, value)


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def outcome_values(
    message: OutboxMessage, outcome: Outcome, now: datetime, policy: DeliveryPolicy
) -> dict[str, Any]:
    """A claimed message's RECORDED fields after a sender's outcome (attempts were counted at
    claim)."""
    values = {
        "status": outcome.status,
        "provider_id": outcome.provider_id or message.provider_id,
        "last_error": outcome.error[:500] if outcome.error else None,
        "next_attempt_at": message.next_attempt_at,
        "sent_at": now if outcome.status == OutboxStatus.SENT else message.sent_at,
        "payload": message.payload if outcome.payload is None else outcome.payload,
    }
    if outcome.status == OutboxStatus.FAILED and outcome.retry:
        if message.attempts < policy.max_attempts:
            values["status"] = OutboxStatus.QUEUED
            values["next_attempt_at"] = now + backoff(message.attempts, policy)
        else:
            reason = f"gave up after {message.attempts} attempts: {outcome.error}"
            values["last_error"] = reason[:500]
    return values
