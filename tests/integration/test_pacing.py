"""The shared rate limit: every worker copy reserves its sends from one row, so together they
keep the pace (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pytest
from flask import Flask
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from loyalty.db import make_engine
from loyalty.models import SendSlot
from loyalty.notify.pacing import SharedRateLimit


@pytest.fixture
def engine(app: Flask) -> Iterator[Engine]:
    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    yield engine
    with engine.begin() as connection:
        connection.execute(delete(SendSlot))
    engine.dispose()


def test_two_copies_share_one_pace(engine) -> None:
    # Two limiters on one key, as two worker processes would have; sleeping is recorded only.
    first, second = (SharedRateLimit(engine, "sms", 50, sleep=lambda _: None) for _ in range(2))
    slots = []
    for _ in range(10):
        slots += [first.take(), second.take()]
    assert first.rate == second.rate == pytest.approx(48)  # two a second below the limit
    gaps = [b - a for a, b in pairwise(slots)]
    assert min(gaps) >= 1 / 48 - 1e-6  # whoever asked, never closer than the pace


def test_each_provider_has_its_own_pace(engine) -> None:
    waits: list[float] = []
    sms = SharedRateLimit(engine, "sms", 1, sleep=waits.append)
    telegram = SharedRateLimit(engine, "telegram", 30, sleep=waits.append)
    sms.take()
    telegram.take()  # not held back by the SMS slot
    assert waits == []
