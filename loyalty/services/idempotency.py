"""Idempotency-Key for the public API: the first answer to a request is the answer to its retries.

How a key is claimed: its row is inserted and committed before the work starts, under a
unique (merchant, key) constraint, so of two concurrent requests with one key exactly one
inserts the row and does the work. The other finds the row and gets the stored answer, or
409 while the first is still running (the client retries, as Stripe's clients do), or 422
when the key was first used for a different request. Only successful answers are stored: a
refused request releases its key, so the corrected request may be sent again with it.
Rows older than RETENTION are purged by the data-retention job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput
from loyalty.models import IdempotencyRecord

MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)
# A request that holds its key longer than this died with its worker: the next retry takes over.
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: str


def check_key(raw: str) -> str:
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, "
            "for example a UUID.",
            field="Idempotency-Key",
        )
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The same request: method, path and body; JSON bodies compared by content, not spacing."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
        payload = canonical.encode()
    except (ValueError, UnicodeDecodeError):
        payload = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + payload).hexdigest()


def ledger_key(merchant_id: int, key: str) -> str:
    """The services' own idempotency key for work done under this API key (fits their 100)."""
    return "api:" + hashlib.sha256(f"{merchant_id}:{key}".encode()).hexdigest()


# Every API POST with a key runs these two. On PostgreSQL they go straight to the driver
# (prepared after a few calls), as the earn hot path does: building and compiling them through
# SQLAlchemy cost more CPU than the statements themselves.
#
# The claim's own commit need not wait for its WAL flush (set_config(..., true) is SET LOCAL):
# other sessions see the row at once either way, the work's later synchronous commit flushes
# it too, and a claim lost in a crash before that is harmless (the retry claims again).
_CLAIM_PG = """
INSERT INTO api_idempotency_keys (merchant_id, key, fingerprint, created_at, locked_at)
SELECT %(merchant_id)s, %(key)s, %(fp)s, %(now)s, %(now)s
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS claim_commits_async
ON CONFLICT (merchant_id, key) DO NOTHING
RETURNING id
"""
_STORE_PG = """
UPDATE api_idempotency_keys SET status_code = %(status)s, response_body = %(body)s,
       locked_at = NULL
WHERE id = %(id)s
"""


def _driver(session: Session):
    """psycopg's connection under the session's own (same transaction)."""
    return session.connection().connection.driver_connection


def claim(
    session: Session,
    *,
    merchant_id: int,
    key: str,
    fingerprint: str,
    now: datetime | None = None,
) -> int | StoredAnswer:
    """Take the key for this request, returning its row id (the caller commits at once, so
    others see it), or return the stored answer of the same earlier request.

    One INSERT … ON CONFLICT DO NOTHING: on PostgreSQL a concurrent insert of the same key
    waits for the first to commit and then finds the row, never a duplicate.
    """
    now = now or utcnow()
    if is_postgres(session):
        claimed = (
            _driver(session)
            .execute(
                _CLAIM_PG, {"merchant_id": merchant_id, "key": key, "fp": fingerprint, "now": now}
            )
            .fetchone()
        )
        if claimed is not None:
            return claimed[0]
    insert = pg_insert if is_postgres(session) else sqlite_insert
    # Core on the session's connection (same transaction): these rows are never ORM objects,
    # and every API POST pays for these statements, so skip the ORM's per-statement work.
    connection = session.connection()
    for _ in range(2):  # a second round only after clearing an expired row
        claimed = connection.scalar(
            insert(IdempotencyRecord)
            .values(
                merchant_id=merchant_id,
                key=key,
                fingerprint=fingerprint,
                created_at=now,
                locked_at=now,
            )
            .on_conflict_do_nothing(index_elements=["merchant_id", "key"])
            .returning(IdempotencyRecord.id)
        )
        if claimed is not None:
            return claimed
        existing = connection.execute(
            select(
                IdempotencyRecord.id,
                IdempotencyRecord.fingerprint,
                IdempotencyRecord.status_code,
                IdempotencyRecord.response_body,
                IdempotencyRecord.created_at,
                IdempotencyRecord.locked_at,
            ).where(IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == key)
        ).one_or_none()
        if existing is None:
            continue  # released between our insert and our read: try again
        if existing.created_at <= now - RETENTION:
            connection.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == existing.id))
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different request. Use a new key "
                "for a new request; send exactly the same body to retry the first one."
            )
        if existing.status_code is not None:
            return StoredAnswer(existing.status_code, existing.response_body or "")
        if existing.locked_at is not None and existing.locked_at > now - LEASE:
            raise IdempotencyInProgress(
                "A request with this Idempotency-Key is still being processed. Retry in a moment "
                "to get its answer."
            )
        # The request holding the key died with its worker: take over, once.
        taken = connection.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == existing.id,
                IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.locked_at == existing.locked_at,
            )
            .values(locked_at=now)
        )
        if taken.rowcount == 1:
            return existing.id
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still being processed. Retry in a moment."
        )
    raise IdempotencyInProgress("This Idempotency-Key is busy. Retry in a moment.")


def store(session: Session, *, record_id: int, status_code: int, body: str) -> None:
    """Keep the answer; in the same transaction as the work, so both commit or neither does."""
    if is_postgres(session):
        _driver(session).execute(_STORE_PG, {"id": record_id, "status": status_code, "body": body})
        return
    session.connection().execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(status_code=status_code, response_body=body, locked_at=None)
    )


def release(session: Session, *, record_id: int) -> None:
    """The request was refused: forget the key so that a corrected request may use it."""
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.id == record_id, IdempotencyRecord.status_code.is_(None)
        )
    )


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Forget keys older than RETENTION; returns how many went."""
    now = now or utcnow()
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETENTION)
    )
    return result.rowcount or 0
