"""PostgreSQL restarted under load: the web app (gunicorn, as in production) keeps serving earns
through the API while its database is shut down fast, then crashed, and comes back by itself.

The database is a throwaway cluster of the test's own (tests/reliability/live.py), never the
machine's. Client threads send earns continuously, each with its own Idempotency-Key. Then:
- no gunicorn worker was replaced (the app recovered without restarting its own processes);
- every refusal during the outage was a 503 problem+json with Retry-After, never a 500;
- after recovery each refused request is sent again with its key, and the ledger then holds
  exactly the acknowledged earns: none lost (even across a crash), none credited twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from loyalty.db import make_engine
from loyalty.models import LoyaltyTransaction
from tests import factories
from tests.e2e.api_support import make_api_tenant
from tests.invariants import assert_ledger_consistent
from tests.reliability.live import LiveServer, ThrowawayPostgres, wait_until
from web import config, create_app

pytestmark = pytest.mark.postgres_only

CLIENTS = 3
ACKS_PER_PHASE = 25  # acknowledged earns wanted before the restart and after the recovery


@dataclass
class Answer:
    key: str
    sent_at: float
    status: int | None  # None: no HTTP answer at all (connection refused or reset)
    body: dict = field(default_factory=dict)
    retry_after: str | None = None
    content_type: str = ""


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres().start()
    yield cluster
    cluster.stop()


def prepare(url: str) -> tuple[dict[str, str], int]:
    """The schema as production builds it (Alembic), and a business with an API key."""
    app = create_app(config.test_config(url))
    with app.app_context():
        upgrade()
    engine = make_engine(url)
    with sessionmaker(engine, expire_on_commit=False).begin() as session:
        api = make_api_tenant(session)
        member_id = factories.make_member(session, api.tenant).id
    engine.dispose()
    return api.headers, member_id


class Till:
    """Client threads sending earns one after another until told to stop."""

    def __init__(self, base_url: str, headers: dict[str, str], member_id: int) -> None:
        self.base_url = base_url
        self.headers = headers
        self.member_id = member_id
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(CLIENTS)]

    def send(self, client: httpx.Client, key: str) -> Answer:
        body = {"member_id": self.member_id, "amount_cents": 1000, "order_reference": key}
        sent_at = time.monotonic()
        try:
            response = client.post(
                "/api/v1/transactions",
                json=body,
                headers={**self.headers, "Idempotency-Key": key},
            )
        except httpx.TransportError:
            return Answer(key, sent_at, None)
        try:
            payload = response.json()
        except ValueError:
            payload = {"raw": response.text[:500]}
        return Answer(
            key,
            sent_at,
            response.status_code,
            payload,
            response.headers.get("Retry-After"),
            response.headers.get("Content-Type", ""),
        )

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=20) as client:
            i = 0
            while not self.stopping.is_set():
                answer = self.send(client, f"till-{n}-{i}")
                i += 1
                with self.lock:
                    self.answers.append(answer)
                if answer.status != 201:
                    time.sleep(0.05)  # a real till shows the error before the next try

    def acknowledged_since(self, moment: float) -> int:
        with self.lock:
            return sum(1 for a in self.answers if a.status == 201 and a.sent_at >= moment)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_the_app_rides_out_a_database_restart_and_loses_no_acknowledged_earn(
    database, throwaway_postgres, tmp_path: Path, record_property
) -> None:
    headers, member_id = prepare(throwaway_postgres.url)
    server = LiveServer(throwaway_postgres.url, tmp_path)
    till = Till(server.url, headers, member_id)
    try:
        workers = server.workers()
        till.start()
        outages = []
        for mode in ("fast", "immediate"):
            phase = time.monotonic()
            wait_until(
                lambda phase=phase: till.acknowledged_since(phase) >= ACKS_PER_PHASE,
                timeout=60,
                what=f"{ACKS_PER_PHASE} earns acknowledged before the {mode} restart",
            )
            down = time.monotonic()
            throwaway_postgres.restart(mode)
            back = time.monotonic()
            wait_until(
                lambda back=back: till.acknowledged_since(back) >= 1,
                timeout=60,
                what=f"an earn acknowledged after the {mode} restart",
            )
            recovered = min(
                a.sent_at for a in till.answers if a.status == 201 and a.sent_at >= back
            )
            first_refusal = min(
                (a.sent_at for a in till.answers if a.status != 201 and a.sent_at >= down),
                default=recovered,
            )
            outages.append((mode, back - down, recovered - back, recovered - first_refusal))
        final = time.monotonic()
        wait_until(
            lambda: till.acknowledged_since(final) >= ACKS_PER_PHASE,
            timeout=60,
            what="earns after the second recovery",
        )
        till.stop()
        assert server.workers() == workers, "gunicorn replaced a worker:\n" + server.tail()

        answers = list(till.answers)
        refused = [a for a in answers if a.status != 201]
        for answer in refused:
            # The server stayed up: every request got an HTTP answer, a clear 503, never a 500.
            assert answer.status == 503, (answer, server.tail())
            assert answer.content_type.startswith("application/problem+json"), answer
            assert answer.body["code"] == "database_unavailable", answer
            assert "Send it again" in answer.body["detail"]
            assert answer.retry_after is not None

        # The clients retry what was refused, with the same keys, now that the database is back.
        retried: list[Answer] = []
        with httpx.Client(base_url=server.url, timeout=20) as client:
            for answer in refused:
                retried.append(till.send(client, answer.key))
        replayed = [a for a in retried if a.status == 201 and a.body.get("transaction")]
        in_progress = [a for a in retried if a.status == 409]
        for answer in in_progress:  # its first attempt died holding the key: the lease frees it
            assert answer.body["code"] == "idempotency_in_progress", answer
        assert all(a.status in (201, 409) for a in retried), retried

        acknowledged = {
            a.body["transaction"]["id"]: a.key for a in answers + retried if a.status == 201
        }
        acknowledged_keys = {a.key for a in answers + retried if a.status == 201}
        engine = make_engine(throwaway_postgres.url)
        with sessionmaker(engine)() as session:
            ledger = set(
                session.scalars(
                    select(LoyaltyTransaction.id).where(LoyaltyTransaction.member_id == member_id)
                )
            )
            rows = session.scalar(
                select(func.count()).where(LoyaltyTransaction.member_id == member_id)
            )
            balance = assert_ledger_consistent(session, member_id)
        engine.dispose()
    finally:
        till.stop()
        server.stop()

    figure = (
        f"{len(answers)} earns sent by {CLIENTS} clients, {len(answers) - len(refused)} "
        f"acknowledged at once, {len(refused)} refused with 503 during the outages; "
        + "; ".join(
            f"{mode} restart: pg_ctl {took:.1f} s, earns refused for {seen:.1f} s, first earn "
            f"acknowledged {after:.1f} s after PostgreSQL was back"
            for mode, took, after, seen in outages
        )
        + f"; on retry {len(replayed)} acknowledged, {len(in_progress)} still held by a lease; "
        f"ledger {rows} rows = {len(acknowledged_keys)} acknowledged keys"
    )
    print(figure)
    record_property("database_restart", figure)

    assert ledger == set(acknowledged), "ledger rows differ from the acknowledged earns"
    assert rows == len(acknowledged_keys) == len(acknowledged)  # nothing lost, nothing twice
    assert balance == 10 * rows
