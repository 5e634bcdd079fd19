"""Backoff, token bucket and quiet hours: the delivery loop's rules without a database."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from loyalty.notify.delivery import DeliveryPolicy, TokenBucket, backoff
from loyalty.notify.rules import QuietHours


def test_backoff_doubles_with_jitter_and_stops_at_the_cap() -> None:
    policy = DeliveryPolicy(backoff_base=30, backoff_cap=3600)
    assert backoff(1, policy, rng=lambda: 0.0) == timedelta(seconds=15)
    assert backoff(1, policy, rng=lambda: 1.0) == timedelta(seconds=30)
    assert backoff(3, policy, rng=lambda: 1.0) == timedelta(seconds=120)
    assert backoff(30, policy, rng=lambda: 1.0) == timedelta(seconds=3600)
    spread = {backoff(4, policy) for _ in range(20)}
    assert len(spread) > 1
    assert all(timedelta(seconds=120) <= d <= timedelta(seconds=240) for d in spread)


def test_token_bucket_never_allows_more_than_the_rate_in_any_second() -> None:
    now = [0.0]
    stamps: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = TokenBucket(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(50):
        bucket.take()
        stamps.append(now[0])
    for i, start in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s < start + 1.0) <= 10
    assert stamps[-1] == pytest.approx(49 / (10 * 0.95))  # paced 5 % below the limit


def test_quiet_hours_span_midnight() -> None:
    quiet = QuietHours.parse("21:00-08:00")
    assert quiet == QuietHours(time(21), time(8))
    assert quiet.contains(time(23, 30))
    assert quiet.contains(time(7, 59))
    assert not quiet.contains(time(8))
    assert not quiet.contains(time(20, 59))
    assert QuietHours.parse("off") is None
    with pytest.raises(ValueError, match="21:00-08:00"):
        QuietHours.parse("nine to five")
