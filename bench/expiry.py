"""Points expiry over 1,000,000 lots through the service, against one bare SQL UPDATE of the same lots.

    python -m bench.expiry [--members 100000] [--lots-per-member 10] [--rounds 2]

Seeds one programme on PostgreSQL (BENCH_DATABASE_URL, default loyalty_bench) with set-based
SQL: members, one earn row and one lot per purchase, every lot past its expiry date. Then,
alternating, in the same run: the bare `UPDATE point_lots SET remaining = 0 WHERE …` of those
lots, and `loyalty.services.expiry.expire_points` (locks the members, writes one ledger row per
member, updates balances and lots). Each is rolled back and the table vacuumed before the
next; the best of the rounds counts. Target: the service takes at most 2× the bare UPDATE.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bench.common import bench_url, migrate, recreate_database, report
from loyalty.db import make_engine, utcnow
from loyalty.models import ExpiryPolicy, LoyaltyProgram, Offering
from loyalty.services import merchants
from loyalty.services.expiry import expire_points

TARGET = "≤2"

SEED = (
    """INSERT INTO customers (merchant_id, name, name_search, language, consents, created_at)
       SELECT :merchant, 'Member ' || g, 'member ' || g, 'en', '{}', now()
       FROM generate_series(1, :members) AS g""",
    """INSERT INTO loyalty_members (merchant_id, program_id, customer_id, card_number, qr_secret,
           points_balance, lifetime_points, status, enrolled_at, last_activity_at, updated_at)
       SELECT :merchant, :program, c.id, (100000000000 + c.id)::text, md5(c.id::text),
              10 * :per, 10 * :per, 'active', now(), now(), now()
       FROM customers AS c WHERE c.merchant_id = :merchant""",
    """INSERT INTO loyalty_transactions (merchant_id, program_id, member_id, type, points,
           balance_after, description, idempotency_key, created_at)
       SELECT :merchant, :program, m.id, 'earn', 10, 10 * k, '', 'seed-' || m.id || '-' || k,
              now() - interval '400 days' + k * interval '1 hour'
       FROM loyalty_members AS m, generate_series(1, :per) AS k""",
    """INSERT INTO point_lots (merchant_id, member_id, transaction_id, points, remaining,
           expires_at, created_at)
       SELECT merchant_id, member_id, id, 10, 10, created_at + interval '365 days', created_at
       FROM loyalty_transactions WHERE type = 'earn'""",
)

BARE_UPDATE = text("UPDATE point_lots SET remaining = 0 WHERE remaining > 0 AND expires_at <= :now")


def seed(engine: Engine, members: int, per_member: int) -> int:
    Session = sessionmaker(engine)
    with Session.begin() as session:
        merchant = merchants.create_merchant(
            session, name="Bench Bakery", offering=Offering.PLUS, points_per_euro=Decimal("1")
        )
        program = merchants.program_of(session, merchant)
        program.expiry_policy = ExpiryPolicy.AFTER_DAYS
        program.expiry_days = 365
        session.flush()
        ids = {"merchant": merchant.id, "program": program.id}
        for statement in SEED:
            session.execute(text(statement), {**ids, "members": members, "per": per_member})
        program_id = program.id
    vacuum(engine)
    return program_id


def vacuum(engine: Engine) -> None:
    """Back to the same state before each timed statement: dead rows reclaimed, and no dirty
    pages or half-filled WAL segment left over for the next one to pay for (a checkpoint falls
    in whichever statement fills `max_wal_size`, and that moved single rounds by seconds)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))


def time_bare_update(engine: Engine, now) -> tuple[float, int]:
    with engine.connect() as connection:
        transaction = connection.begin()
        started = time.perf_counter()
        rows = connection.execute(BARE_UPDATE, {"now": now}).rowcount
        elapsed = time.perf_counter() - started
        transaction.rollback()
    return elapsed, rows


def time_service(engine: Engine, program_id: int, now) -> tuple[float, int]:
    with Session(engine) as session:
        program = session.get(LoyaltyProgram, program_id)
        assert program is not None
        started = time.perf_counter()
        run = expire_points(session, program=program, now=now)
        session.flush()
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed, run.points // 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--lots-per-member", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    url = bench_url()
    recreate_database(url)
    migrate(url)
    engine = make_engine(url, pool_size=2, max_overflow=0)
    started = time.perf_counter()
    program_id = seed(engine, args.members, args.lots_per_member)
    lots = args.members * args.lots_per_member
    print(
        f"seeded {args.members:,} members, {lots:,} lots in {time.perf_counter() - started:.1f} s"
    )
    now = utcnow() + timedelta(days=1)
    bare, service = [], []
    for round_ in range(1, args.rounds + 1):
        elapsed, rows = time_bare_update(engine, now)
        assert rows == lots, rows
        bare.append(elapsed)
        vacuum(engine)
        elapsed, rows = time_service(engine, program_id, now)
        assert rows == lots, rows
        service.append(elapsed)
        vacuum(engine)
        print(f"round {round_}: bare UPDATE {bare[-1]:.2f} s, expire_points {service[-1]:.2f} s")
    engine.dispose()
    best_bare, best_service = min(bare), min(service)
    print(f"{lots:,} lots: expire_points {best_service:.2f} s | bare UPDATE {best_bare:.2f} s")
    print(report("expiry", best_service * 1000, "ms", best_bare * 1000, TARGET))


if __name__ == "__main__":
    main()
