"""Two workers on one PostgreSQL outbox never send a message twice (SKIP LOCKED claims)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db import Base, make_engine
from loyalty.models import OutboxChannel, OutboxMessage, OutboxStatus
from loyalty.notify import outbox
from loyalty.notify.delivery import Deliverer, DeliveryPolicy, Outcome
from tests import factories

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def committed(app: Flask) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=5, max_overflow=0)
    yield sessionmaker(engine, expire_on_commit=False)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


class CountingProvider:
    def __init__(self) -> None:
        self.received: Counter[int] = Counter()
        self.lock = threading.Lock()

    def send(self, message: OutboxMessage) -> Outcome:
        time.sleep(0.001)
        with self.lock:
            self.received[message.id] += 1
        return Outcome(OutboxStatus.SENT, provider_id=f"p{message.id}")


def test_two_workers_never_send_one_message_twice(committed, database) -> None:
    with committed.begin() as session:
        tenant = factories.make_tenant(session)
        for i in range(300):
            outbox.enqueue(
                session,
                merchant_id=tenant.merchant.id,
                channel=OutboxChannel.SMS,
                template="points_changed",
                address=f"+35262100{i:04d}",
                payload={"program": "Bakery"},
            )
    provider = CountingProvider()
    barrier = threading.Barrier(2)

    def worker(_: int) -> dict:
        barrier.wait()
        with committed() as session:
            deliverer = Deliverer(
                {OutboxChannel.SMS: provider}, policy=DeliveryPolicy(batch=20, quiet_hours=None)
            )
            return deliverer.run(session)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(worker, range(2)))
    assert sum(r.get(OutboxStatus.SENT, 0) for r in results) == 300
    assert all(r.get(OutboxStatus.SENT, 0) > 0 for r in results)  # both did work
    assert len(provider.received) == 300
    assert max(provider.received.values()) == 1
    with committed() as session:
        assert (
            session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT))
            == 300
        )
