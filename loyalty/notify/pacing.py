"""A provider's rate limit shared by every worker copy: each send reserves the next slot in the database.

One UPDATE per send moves the provider's `send_slots.next_at` on by one interval (GCRA, the
generic cell rate algorithm) and returns the slot reserved; the worker sleeps until then, so
sends from all copies together are spaced evenly at `paced_rate(rate)`. The row lock lasts
only that statement, never the sleep. PostgreSQL's clock is the common clock on PostgreSQL;
SQLite is one host, whose clock it uses. A worker killed with a slot reserved wastes that slot
and nothing more. Chosen over a Redis bucket so that the system keeps running, limits
included, on SQLite with nothing else installed (docs/decisions.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from loyalty.models import SendSlot
from loyalty.notify.delivery import paced_rate


class SharedRateLimit:
    """`take()` blocks until this process may send one message under the shared limit."""

    def __init__(
        self,
        engine: Engine,
        key: str,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.key = key
        self.nominal_rate = rate
        self.rate = paced_rate(rate)
        self.interval = 1.0 / self.rate
        self._sleep = sleep
        self._postgres = engine.dialect.name == "postgresql"
        self._ensure_row()

    def _ensure_row(self) -> None:
        with self.engine.begin() as connection:
            if connection.scalar(select(SendSlot.key).where(SendSlot.key == self.key)) is None:
                # Another copy may insert it first: the row is all we need.
                with suppress(IntegrityError), connection.begin_nested():
                    connection.execute(insert(SendSlot).values(key=self.key, next_at=0.0))

    def take(self) -> float:
        """Wait for this send's slot; returns the slot (seconds, on the shared clock)."""
        if self._postgres:
            now = func.extract("epoch", func.clock_timestamp())
            later = func.greatest(SendSlot.next_at, now)
        else:
            now = literal(time.time())
            later = func.max(SendSlot.next_at, now)
        asked = time.monotonic()
        with self.engine.begin() as connection:
            reserved, clock = connection.execute(
                update(SendSlot)
                .where(SendSlot.key == self.key)
                .values(next_at=later + self.interval)
                .returning(SendSlot.next_at - self.interval, now)
            ).one()
            answered = time.monotonic()
        # The database read its clock about halfway through the round trip: aim at the slot
        # from then, not from when the answer arrived, so a slow answer does not push the
        # send late (late sends bunch with the next ones at the provider).
        due = (asked + answered) / 2 + (float(reserved) - float(clock))
        wait = due - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        return float(reserved)
