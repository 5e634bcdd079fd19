"""The Idempotency-Key store of the API: claims, stored answers, leases and the 24-hour purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput
from loyalty.models import IdempotencyRecord
from loyalty.services import idempotency
from tests import factories


def _claim(session: Session, tenant, key: str = "k-1", body: bytes = b'{"a": 1}', now=None):
    return idempotency.claim(
        session,
        merchant_id=tenant.merchant.id,
        key=key,
        fingerprint=idempotency.fingerprint("POST", "/api/v1/x", body),
        now=now,
    )


def test_the_same_json_in_another_spacing_or_order_is_the_same_request() -> None:
    one = idempotency.fingerprint("POST", "/p", b'{"a": 1, "b": [1, 2]}')
    assert one == idempotency.fingerprint("POST", "/p", b'{"b":[1,2],"a":1}')
    assert one != idempotency.fingerprint("POST", "/q", b'{"a": 1, "b": [1, 2]}')


def test_a_finished_key_returns_its_stored_answer(session: Session, tenant) -> None:
    record_id = _claim(session, tenant)
    idempotency.store(session, record_id=record_id, status_code=201, body='{"ok": true}')
    assert _claim(session, tenant) == idempotency.StoredAnswer(201, '{"ok": true}')


def test_another_body_under_the_same_key_is_refused(session: Session, tenant) -> None:
    _claim(session, tenant)
    with pytest.raises(IdempotencyKeyReused):
        _claim(session, tenant, body=b'{"a": 2}')


def test_a_key_in_use_is_busy_until_its_lease_runs_out(session: Session, tenant) -> None:
    started = utcnow()
    first = _claim(session, tenant, now=started)
    with pytest.raises(IdempotencyInProgress):
        _claim(session, tenant, now=started + timedelta(seconds=5))
    # The worker holding it died: after the lease, the retry takes the key over.
    assert _claim(session, tenant, now=started + idempotency.LEASE * 2) == first


def test_keys_are_kept_a_day_then_purged_and_free_again(session: Session, tenant) -> None:
    old = utcnow() - idempotency.RETENTION - timedelta(minutes=1)
    _claim(session, tenant, key="old", now=old)
    _claim(session, tenant, key="new")
    assert idempotency.purge(session) == 1
    remaining = session.scalars(select(IdempotencyRecord.key)).all()
    assert remaining == ["new"]
    assert isinstance(_claim(session, tenant, key="old", body=b"{}"), int)


def test_another_merchant_may_use_the_same_key(session: Session, tenant) -> None:
    other = factories.make_tenant(session)
    _claim(session, tenant)
    assert isinstance(_claim(session, other, body=b'{"other": true}'), int)
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 2


@pytest.mark.parametrize("bad", ["", "   ", "x" * 256, "clé", "tab\there"])
def test_unusable_keys_are_refused_with_a_readable_reason(bad: str) -> None:
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        idempotency.check_key(bad)
