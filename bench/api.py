"""REST API earn requests per second through gunicorn, against a bare Flask endpoint doing the
same earn, served by the same gunicorn configuration in the same run.

    python -m bench.api [--workers 2] [--clients 8] [--seconds 15] [--rounds 3] [--members 5000]

Both servers run `gunicorn -c gunicorn.conf.py` with the same workers and threads, against the
same PostgreSQL (BENCH_DATABASE_URL's server, database loyalty_bench_api), and the same client
(keep-alive HTTP/1.1 connections, one per client thread, in two processes) posts purchases for
random members to each:

- figure: `POST /api/v1/transactions` as a till sends it, with a bearer key and an
  Idempotency-Key: authentication, rate limit, validation, the key's claim and stored answer,
  problem+json handling, the request log and security headers included;
- reference: a bare Flask endpoint that parses the same JSON, loads the member and calls the
  same `loyalty.services.earn.earn` in one session and commit, and answers a small JSON object.

So the ratio is what the API layer costs around the work itself. A hello-world endpoint (no
database) is measured too and printed for scale. Target: ratio >= 0.4.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path

from flask import Flask, jsonify, request
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from bench.common import bench_url, migrate, recreate_database, report

TARGET = 0.4
ROOT = Path(__file__).resolve().parent.parent
CLIENT_PROCESSES = 2


def bare_app() -> Flask:
    """The reference: the same earn behind the least Flask can do (no auth, no extensions)."""
    from loyalty.db import session_factory
    from loyalty.models import LoyaltyMember
    from loyalty.services.earn import earn

    app = Flask(__name__)
    sessions = session_factory(os.environ["DATABASE_URL"])

    @app.post("/hello")
    def hello():
        body = request.get_json()
        return jsonify(ok=True, member_id=body["member_id"]), 201

    @app.post("/earn")
    def bare_earn():
        body = request.get_json()
        with sessions() as session:
            member = session.get(LoyaltyMember, body["member_id"])
            result = earn(
                session,
                member=member,
                amount_cents=body["amount_cents"],
                idempotency_key=uuid.uuid4().hex,
            )
            session.commit()
        return jsonify(transaction_id=result.transaction_id, balance=result.balance), 201

    return app


def api_url() -> str:
    url = make_url(bench_url())
    if not os.environ.get("BENCH_DATABASE_URL"):
        url = url.set(database="loyalty_bench_api")  # not the ledger bench's database
    return url.render_as_string(hide_password=False)


def seed(url: str, members: int) -> tuple[str, list[int]]:
    """One Enterprise merchant, its API key and `members` cards (Core inserts: a second)."""
    from loyalty.db import make_engine, utcnow
    from loyalty.identity import new_qr_secret
    from loyalty.models import Customer, LoyaltyMember, Offering
    from loyalty.services import api_keys, merchants
    from loyalty.services.actors import Actor

    engine = make_engine(url)
    with sessionmaker(engine).begin() as session:
        merchant = merchants.create_merchant(
            session, name="Bench Market", offering=Offering.ENTERPRISE, points_per_euro=Decimal(1)
        )
        program = merchants.program_of(session, merchant)
        secret = api_keys.create_key(session, merchant=merchant, actor=Actor.system("bench")).secret
        now = utcnow()
        customer_ids = session.scalars(
            insert(Customer).returning(Customer.id),
            [
                {"merchant_id": merchant.id, "name": f"Member {i}", "name_search": f"member {i}",
                 "consents": {}, "created_at": now}
                for i in range(members)
            ],
        ).all()  # fmt: skip
        member_ids = session.scalars(
            insert(LoyaltyMember).returning(LoyaltyMember.id),
            [
                {"merchant_id": merchant.id, "program_id": program.id, "customer_id": cid,
                 "card_number": f"{i:012d}", "qr_secret": new_qr_secret(),
                 "enrolled_at": now, "last_activity_at": now, "updated_at": now}
                for i, cid in enumerate(customer_ids)
            ],
        ).all()  # fmt: skip
    engine.dispose()
    return secret, list(member_ids)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn with the project's gunicorn.conf.py, started and stopped around one measurement."""

    def __init__(self, app: str, workers: int, env: dict[str, str]) -> None:
        self.port = free_port()
        environment = {
            **os.environ,
            **env,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "LOG_LEVEL": "warning",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, path: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", path)
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not start in time")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _client(port: int, path: str, headers: dict[str, str], members: list[int], threads: int,
            seconds: float, idempotent: bool) -> tuple[int, int]:  # fmt: skip
    """One client process: `threads` keep-alive connections posting for `seconds`."""
    stop_at = time.monotonic() + seconds
    counts = [0, 0]  # answered as expected, anything else
    lock = threading.Lock()

    def loop(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ok = bad = 0
        while time.monotonic() < stop_at:
            body = json.dumps(
                {"member_id": rng.choice(members), "amount_cents": rng.randint(100, 9000)}
            )
            sent = dict(headers, **{"Content-Type": "application/json"})
            if idempotent:
                sent["Idempotency-Key"] = uuid.uuid4().hex
            connection.request("POST", path, body=body, headers=sent)
            response = connection.getresponse()
            response.read()
            if response.status == 201:
                ok += 1
            else:
                bad += 1
        connection.close()
        with lock:
            counts[0] += ok
            counts[1] += bad

    workers = [threading.Thread(target=loop, args=(i + os.getpid(),)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counts[0], counts[1]


def measure(port: int, path: str, headers: dict[str, str], members: list[int], clients: int,
            seconds: float, idempotent: bool = False) -> float:  # fmt: skip
    per_process = max(1, clients // CLIENT_PROCESSES)
    args = (port, path, headers, members, per_process)
    with ProcessPoolExecutor(CLIENT_PROCESSES) as pool:
        # A short warm-up: workers load the app, connections and prepared statements exist.
        list(pool.map(_client, *zip(*[(*args, 1.0, idempotent)] * CLIENT_PROCESSES, strict=True)))
        started = time.monotonic()
        results = list(
            pool.map(_client, *zip(*[(*args, seconds, idempotent)] * CLIENT_PROCESSES, strict=True))
        )
        elapsed = time.monotonic() - started
    ok = sum(good for good, _ in results)
    failed = sum(bad for _, bad in results)
    if failed:
        raise SystemExit(f"{failed} requests to {path} did not answer 201")
    return ok / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15, help="per server, in all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--members", type=int, default=5000)
    args = parser.parse_args()

    url = api_url()
    recreate_database(url)
    migrate(url)
    secret, members = seed(url, args.members)

    env = {"DATABASE_URL": url, "API_RATE_LIMIT": "1000000 per second", "SECRET_KEY": "bench"}
    headers = {"Authorization": f"Bearer {secret}"}
    # Both servers stay up and are measured in alternating rounds, so that a change in the
    # machine's load during the run weighs on both figures alike (an idle server costs nothing).
    bare = Server("bench.api:bare_app()", args.workers, env)
    api = Server("web:create_app()", args.workers, env)
    done = {"bare": 0.0, "api": 0.0}
    try:
        bare.wait_ready("/")
        api.wait_ready("/api/v1/openapi.json")
        window = args.seconds / args.rounds
        hello = measure(bare.port, "/hello", {}, members, args.clients, window)
        print(f"bare Flask hello-world (no database), for scale: {hello:.0f} requests/s")
        for round_ in range(args.rounds):
            bare_rate = measure(bare.port, "/earn", {}, members, args.clients, window)
            api_rate = measure(
                api.port, "/api/v1/transactions", headers, members, args.clients, window,
                idempotent=True,
            )  # fmt: skip
            done["bare"] += bare_rate
            done["api"] += api_rate
            print(f"round {round_ + 1}: bare earn {bare_rate:.0f}/s, API earn {api_rate:.0f}/s")
    finally:
        bare.stop()
        api.stop()
    reference, figure = done["bare"] / args.rounds, done["api"] / args.rounds
    print(f"bare Flask endpoint calling earn(): {reference:.0f} requests/s")
    print(f"API earn with Idempotency-Key: {figure:.0f} requests/s")
    print(report("api-earn", figure, "req/s", reference, TARGET))


if __name__ == "__main__":
    main()
