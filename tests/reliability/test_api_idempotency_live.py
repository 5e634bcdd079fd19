"""One Idempotency-Key sent many times at once to the real server (gunicorn: two worker
processes of four threads, as the Procfile runs it), some copies with a different body.

tests/integration/test_api_idempotency_concurrency.py covers one process and one body; here the
copies land in separate processes with their own connection pools, and the key is also misused.
Whichever body claims the key first is the request: it is credited once, every copy of it gets
the same answer (after 409 `idempotency_in_progress` while the first runs, as a client retries),
and every copy of the other body gets 422 `idempotency_key_reused` and changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from flask import Flask
from sqlalchemy import func, select

from loyalty.models import IdempotencyRecord, LoyaltyTransaction
from tests import factories
from tests.e2e.api_support import make_api_tenant
from tests.invariants import assert_ledger_consistent
from tests.reliability.live import LiveServer

pytestmark = pytest.mark.postgres_only

SAME = 16  # copies of the real request
OTHER = 6  # copies of a different request under the same key
KEY = "pos-3-receipt-88107"


def test_one_key_sent_22_times_at_once_to_gunicorn_credits_one_purchase(
    app: Flask, committed, tmp_path: Path
) -> None:
    with committed.begin() as session:
        api = make_api_tenant(session)
        member_id = factories.make_member(session, api.tenant).id
    bodies = {
        "same": {"member_id": member_id, "amount_cents": 4250, "order_reference": "88107"},
        "other": {"member_id": member_id, "amount_cents": 9999, "order_reference": "88107"},
    }
    sends = ["same"] * SAME + ["other"] * OTHER
    headers = {**api.headers, "Idempotency-Key": KEY}
    server = LiveServer(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    barrier = threading.Barrier(len(sends))

    def send(which: str) -> list[tuple[int, dict]]:
        """Post, and retry while the key is in progress, as a client library does."""
        answers = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            barrier.wait()
            for _ in range(100):
                response = client.post("/api/v1/transactions", json=bodies[which], headers=headers)
                answers.append((response.status_code, response.json()))
                if response.status_code != 409:
                    break
                time.sleep(0.05)
        return answers

    try:
        with ThreadPoolExecutor(max_workers=len(sends)) as pool:
            histories = list(pool.map(send, sends))
    finally:
        server.stop()

    finals = [(which, history[-1]) for which, history in zip(sends, histories, strict=True)]
    winner = next(which for which, (status, _) in finals if status == 201)
    loser = "other" if winner == "same" else "same"
    credited = [payload for which, (status, payload) in finals if which == winner]
    for which, history in zip(sends, histories, strict=True):
        *waits, (status, payload) = history
        assert all(s == 409 and p["code"] == "idempotency_in_progress" for s, p in waits), history
        if which == winner:
            assert status == 201, history
            assert payload == credited[0]  # every copy gets the first answer
        else:
            assert status == 422, history
            assert payload["code"] == "idempotency_key_reused"
            assert "different request" in payload["detail"]
    waited = Counter(len(history) - 1 for history in histories)
    print(
        f"{len(sends)} concurrent POSTs with one key to gunicorn (2 workers x 4 threads): "
        f"body '{winner}' won; {len(credited)} got its 201, "
        f"{len(sends) - len(credited)} got 422; retries after 409 per request: {dict(waited)}"
    )

    with committed() as session:
        rows = session.scalars(
            select(LoyaltyTransaction.amount_cents).where(LoyaltyTransaction.member_id == member_id)
        ).all()
        assert rows == [bodies[winner]["amount_cents"]]  # one purchase, the winner's
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
        assert assert_ledger_consistent(session, member_id) == credited[0]["balance"]
    assert bodies[loser]["amount_cents"] != bodies[winner]["amount_cents"]
