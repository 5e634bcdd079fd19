"""Many retries of one API request at the same moment, on PostgreSQL: one purchase is credited.

Commits for real (threads cannot share the rolled-back test transaction): its own rows, wiped
afterwards, as in test_concurrency.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db import Base, make_engine
from loyalty.models import IdempotencyRecord, LoyaltyTransaction, TransactionType
from tests import factories
from tests.e2e.api_support import make_api_tenant

pytestmark = pytest.mark.postgres_only
THREADS = 8


@pytest.fixture
def committed(app: Flask) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=5, max_overflow=0)
    yield sessionmaker(engine, expire_on_commit=False)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def test_concurrent_requests_with_one_key_credit_one_purchase(
    app: Flask, committed: sessionmaker[Session]
) -> None:
    with committed() as session:
        api = make_api_tenant(session)
        member_id = factories.make_member(session, api.tenant).id
        session.commit()
    headers = {**api.headers, "Idempotency-Key": "till-7-receipt-4411"}
    body = {"member_id": member_id, "amount_cents": 4250, "order_reference": "4411"}
    barrier = threading.Barrier(THREADS)

    def send(_: int):
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/transactions", json=body, headers=headers)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(send, range(THREADS)))

    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {201, 409}, answers
    assert 201 in statuses
    credited = [payload for status, payload in answers if status == 201]
    assert all(payload == credited[0] for payload in credited)
    for status, payload in answers:
        if status == 409:
            assert payload["code"] == "idempotency_in_progress"
    with committed() as session:
        rows = session.scalar(
            select(func.count()).where(
                LoyaltyTransaction.member_id == member_id,
                LoyaltyTransaction.type == TransactionType.EARN,
            )
        )
        assert rows == 1
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
    # Once the first has finished, a late retry gets its answer back.
    late = app.test_client().post("/api/v1/transactions", json=body, headers=headers)
    assert late.status_code == 201
    assert late.get_json() == credited[0]
    assert late.headers["Idempotent-Replayed"] == "true"
