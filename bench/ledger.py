"""Earn transactions per second through the service, against pgbench's TPC-B on the same server.

    python -m bench.ledger [--threads 8] [--seconds 15] [--members 20000]

Both run against the same PostgreSQL (BENCH_DATABASE_URL, default loyalty_bench on 127.0.0.1):
first pgbench TPC-B with N clients, then N threads each calling `loyalty.services.earn.earn`
in its own session and transaction, as tills do. Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import random
import re
import threading
import time
import uuid
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import bench_url, migrate, pgbench, recreate_database, report
from loyalty.db import make_engine, utcnow
from loyalty.identity import new_qr_secret
from loyalty.models import Customer, LoyaltyMember, LoyaltyTier, Offering
from loyalty.services import merchants
from loyalty.services.earn import earn

TARGET = 0.5


def measure_pgbench(url: str, clients: int, seconds: int) -> float:
    pgbench(url, "-i", "-q", "-s", str(max(clients, 8)))
    output = pgbench(url, "-n", "-c", str(clients), "-j", str(clients), "-T", str(seconds))
    match = re.search(r"tps = ([\d.]+)", output)
    if match is None:
        raise SystemExit(f"could not read pgbench's result:\n{output}")
    return float(match.group(1))


def seed(Session: sessionmaker[Session], members: int) -> list[LoyaltyMember]:
    """One Plus merchant with tiers, and members spread over them (Core inserts: seconds)."""
    with Session.begin() as session:
        merchant = merchants.create_merchant(
            session, name="Bench Bakery", offering=Offering.PLUS, points_per_euro=Decimal("1.5")
        )
        program = merchants.program_of(session, merchant)
        tiers = [
            LoyaltyTier(
                merchant_id=merchant.id, program_id=program.id, name=name,
                min_points=minimum, earn_multiplier=Decimal(multiplier), benefits={},
            )
            for name, minimum, multiplier in (("Bronze", 0, "1"), ("Silver", 10**9, "1.25"))
        ]  # fmt: skip
        session.add_all(tiers)
        session.flush()
        now = utcnow()
        customer_ids = session.scalars(
            insert(Customer).returning(Customer.id),
            [
                {"merchant_id": merchant.id, "name": f"Member {i}", "name_search": f"member {i}",
                 "consents": {}, "created_at": now}
                for i in range(members)
            ],
        ).all()  # fmt: skip
        session.execute(
            insert(LoyaltyMember),
            [
                {"merchant_id": merchant.id, "program_id": program.id, "customer_id": customer_id,
                 "card_number": f"{100000000000 + i}", "qr_secret": new_qr_secret(),
                 "tier_id": tiers[0].id, "enrolled_at": now, "last_activity_at": now}
                for i, customer_id in enumerate(customer_ids)
            ],
        )  # fmt: skip
    with Session() as session:
        found = list(session.scalars(select(LoyaltyMember)))
        session.expunge_all()  # tills hold the member they identified; the earn takes it from there
        return found


def measure_service(url: str, threads: int, seconds: int, members: int) -> float:
    engine = make_engine(url, pool_size=threads, max_overflow=0)
    Session = sessionmaker(engine, expire_on_commit=False)
    population = seed(Session, members)
    stop = threading.Event()
    counted = threading.Event()
    done = [0] * threads

    def till(index: int) -> None:
        # Each till thread keeps one session, as a long-running worker does, and commits one
        # unit of work per purchase; the session hands its connection back at every commit.
        rng = random.Random(index)
        with Session() as session:
            while not stop.is_set():
                with session.begin():
                    earn(
                        session,
                        member=rng.choice(population),
                        amount_cents=rng.randint(150, 6000),
                        idempotency_key=uuid.uuid4().hex,
                    )
                if counted.is_set():
                    done[index] += 1

    workers = [threading.Thread(target=till, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(2)  # warm-up: connections open, statements prepared
    counted.set()
    started = time.perf_counter()
    time.sleep(seconds)
    total = sum(done)
    elapsed = time.perf_counter() - started
    stop.set()
    for worker in workers:
        worker.join()
    engine.dispose()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--members", type=int, default=20_000)
    args = parser.parse_args()

    url = bench_url()
    recreate_database(url)
    reference = measure_pgbench(url, args.threads, args.seconds)
    print(f"pgbench TPC-B, {args.threads} clients: {reference:.0f} tps")
    recreate_database(url)
    migrate(url)
    figure = measure_service(url, args.threads, args.seconds, args.members)
    print(f"earn through loyalty.services.earn, {args.threads} threads: {figure:.0f} tps")
    print(report("ledger", figure, "tps", reference, TARGET))


if __name__ == "__main__":
    main()
