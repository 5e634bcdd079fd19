"""The realistic-size database the scale benchmarks read: one large merchant and many small ones.

    python -m bench.dataset [--members 1000000] [--ledger 10000000] [--merchants 200] [--force]

Builds on PostgreSQL (BENCH_LARGE_DATABASE_URL, default loyalty_bench_large on 127.0.0.1):
the schema through the Alembic migrations (`flask db upgrade`), the merchants, shops, tiers and
an owner login through the services, then every customer, card, ledger row and point lot with
COPY. Each member's history is replayed in Python as the services would have written it: earns
create a lot, redemptions consume lots oldest first, `balance_after` follows the balance, and
the member's balance, lifetime points, tier and last visit are those the history leaves, so
`points_balance == Σ ledger == Σ lots.remaining` holds for every member.

The build runs in phases (schema, merchants, people and ledger, statistics); each phase is one
transaction and marks itself done in the database's comment, so a second run with the same
sizes skips what is built and an interrupted run resumes at the phase it was in. Secondary
indexes and unique constraints of the bulk tables are dropped for the COPY and rebuilt after
it, in the same transaction. Other sizes, or --force, rebuild the database from scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.common import migrate, recreate_database
from bench.member_search import person
from loyalty.db import make_engine
from loyalty.identity import luhn_check_digit, search_key
from loyalty.models import LoyaltyTier, Offering, Role
from loyalty.services import merchants

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/loyalty_bench_large"
OWNER_EMAIL = "owner@large.bench.example.com"
OWNER_PASSWORD = "bench-password-1"
LARGE_SHOPS = 20
HISTORY_DAYS = 730
STILL_ACTIVE = 0.25
VERSION = 2  # of the generated history: a database built by another version is rebuilt
# Tiers of every programme: name, lifetime points from which it applies, earn multiplier.
TIERS = (("Bronze", 0, "1"), ("Silver", 500, "1.25"), ("Gold", 2000, "1.5"))
PHASES = ("schema", "merchants", "ledger", "statistics")
BULK_TABLES = ("customers", "loyalty_members", "loyalty_transactions", "point_lots")


def large_url() -> str:
    from web.config import database_url

    return database_url(os.environ.get("BENCH_LARGE_DATABASE_URL") or DEFAULT_URL)


@dataclass(frozen=True)
class Size:
    members: int
    ledger: int
    merchants: int

    @property
    def label(self) -> str:
        return (
            f"members={self.members} ledger={self.ledger} merchants={self.merchants} "
            f"version={VERSION}"
        )


# --- what is already built ----------------------------------------------------------------------


def _admin(url: str) -> Engine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def built_state(url: str) -> dict:
    """The build's marker ({"size": ..., "done": [...]}) from the database comment, or {}."""
    engine = _admin(url)
    with engine.connect() as connection:
        comment = connection.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = :name"
            ),
            {"name": make_url(url).database},
        ).scalar()
    engine.dispose()
    if not comment or not comment.startswith("bench dataset "):
        return {}
    return json.loads(comment.removeprefix("bench dataset "))


def _mark(connection, url: str, size: Size, done: list[str]) -> None:
    marker = "bench dataset " + json.dumps({"size": size.label, "done": done})
    name = make_url(url).database
    connection.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'"))


def is_built(url: str, size: Size) -> bool:
    state = built_state(url)
    return state.get("size") == size.label and state.get("done") == list(PHASES)


# --- merchants, shops, tiers: few rows, through the services ------------------------------------


def build_merchants(Session: sessionmaker[Session], url: str, size: Size) -> None:
    with Session.begin() as session:
        large = merchants.create_merchant(
            session,
            name="Bench Hypermarket",
            offering=Offering.ENTERPRISE,
            points_per_euro=Decimal("1"),
        )
        owner = merchants.create_user(
            session, email=OWNER_EMAIL, password=OWNER_PASSWORD, name="Bench Owner"
        )
        merchants.add_membership(session, user=owner, merchant=large, role=Role.OWNER)
        offerings = (Offering.BASIC, Offering.PLUS, Offering.ENTERPRISE)
        everyone = [(large, LARGE_SHOPS)] + [
            (
                merchants.create_merchant(
                    session, name=f"Bench Shop {n:03d}", offering=offerings[n % 3]
                ),
                1 if offerings[n % 3] == Offering.BASIC else 1 + n % 3,
            )
            for n in range(1, size.merchants + 1)
        ]
        for merchant, shops in everyone:
            for n in range(1, shops + 1):
                merchants.create_shop(session, merchant=merchant, name=f"{merchant.name} {n}")
            program = merchants.program_of(session, merchant)
            program.launched_at = merchant.created_at
            session.add_all(
                LoyaltyTier(
                    merchant_id=merchant.id,
                    program_id=program.id,
                    name=name,
                    min_points=minimum,
                    earn_multiplier=Decimal(multiplier),
                    benefits={},
                )
                for name, minimum, multiplier in TIERS
            )
        _mark(session.connection(), url, size, ["schema", "merchants"])


# --- customers, cards, ledger and lots: COPY ----------------------------------------------------


class Stamp:
    """'YYYY-MM-DD HH:MM:SS+00' for epoch seconds, formatting each minute once."""

    def __init__(self) -> None:
        self.minutes: dict[int, str] = {}

    def __call__(self, seconds: int) -> str:
        minute, second = divmod(seconds, 60)
        prefix = self.minutes.get(minute)
        if prefix is None:
            prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M")
            self.minutes[minute] = prefix
        return f"{prefix}:{second:02d}+00"


@dataclass
class Programme:
    merchant_id: int
    program_id: int
    members: int
    transactions: int
    shop_ids: list[int]
    tier_ids: list[int]  # in TIERS order


def programmes(session: Session, size: Size) -> list[Programme]:
    rows = session.execute(
        text("""
        SELECT p.merchant_id, p.id,
               (SELECT array_agg(s.id ORDER BY s.id) FROM shops s WHERE s.merchant_id = p.merchant_id),
               (SELECT array_agg(t.id ORDER BY t.min_points) FROM loyalty_tiers t
                 WHERE t.program_id = p.id)
        FROM loyalty_programs p ORDER BY p.merchant_id
        """)
    ).all()
    rng = random.Random(11)
    result = []
    for index, (merchant_id, program_id, shop_ids, tier_ids) in enumerate(rows):
        if index == 0:
            members, transactions = size.members, size.ledger
        else:
            members = rng.randint(50, 500)
            transactions = members * rng.randint(3, 8)
        result.append(Programme(merchant_id, program_id, members, transactions, shop_ids, tier_ids))
    return result


class Writer:
    """Tab-separated COPY text for one table, spooled to a temporary file in large chunks."""

    def __init__(self, table: str, columns: tuple[str, ...]) -> None:
        self.table, self.columns = table, columns
        self.file: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed after the COPY)
        self.lines: list[str] = []
        self.rows = 0

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= 50_000:
            self.flush()

    def flush(self) -> None:
        self.rows += len(self.lines)
        self.file.write("".join(self.lines))
        self.lines.clear()

    def copy_into(self, cursor) -> None:
        self.flush()
        self.file.seek(0)
        statement = f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            while chunk := self.file.read(1 << 20):
                copy.write(chunk)
        self.file.close()


def generate(programmes_: list[Programme], now: int, next_ids: dict[str, int]) -> list[Writer]:
    """Every member's history, replayed: the rows of the four bulk tables, in COPY text."""
    stamp = Stamp()
    customers = Writer(
        "customers",
        ("id", "merchant_id", "name", "name_search", "email", "phone", "language", "consents",
         "created_at"),
    )  # fmt: skip
    members = Writer(
        "loyalty_members",
        ("id", "merchant_id", "program_id", "customer_id", "card_number", "qr_secret",
         "points_balance", "lifetime_points", "tier_id", "status", "enrolled_at",
         "last_activity_at", "updated_at"),
    )  # fmt: skip
    ledger = Writer(
        "loyalty_transactions",
        ("id", "merchant_id", "program_id", "member_id", "type", "points", "balance_after",
         "amount_cents", "shop_id", "description", "idempotency_key", "created_at"),
    )  # fmt: skip
    lots = Writer(
        "point_lots",
        ("id", "merchant_id", "member_id", "transaction_id", "points", "remaining", "created_at"),
    )  # fmt: skip
    customer_id = next_ids["customers"]
    member_id = next_ids["loyalty_members"]
    tx_id = next_ids["loyalty_transactions"]
    lot_id = next_ids["point_lots"]
    rng = random.Random(42)
    span = HISTORY_DAYS * 86400
    phone_serial = 0
    for programme in programmes_:
        m, p = programme.merchant_id, programme.program_id
        shops, tiers = programme.shop_ids, programme.tier_ids
        base, extra = divmod(programme.transactions, programme.members)
        cards: set[str] = set()
        for n in range(programme.members):
            # Between 1 and 2*base-1 rows, in pairs that add up to 2*base: the total is exact.
            if n % 2 == 0:
                paired = base > 0 and n + 1 < programme.members
                spread = rng.randint(0, base - 1) if paired else 0
                count = base + spread
            else:
                count = base - spread
            count += 1 if n < extra else 0
            name = person(rng)
            key = search_key(name)
            email = f"{key.replace(' ', '.')}{n}@example.com"
            phone_serial += 1
            phone = f"+3526{21 + phone_serial // 1_000_000}{phone_serial % 1_000_000:06d}"
            enrolled = now - rng.randint(3600, span)
            customers.add(
                f"{customer_id}\t{m}\t{name}\t{key}\t{email}\t{phone}\ten\t{{}}\t"
                f"{stamp(enrolled)}\n"
            )
            while True:
                body = str(rng.randint(1, 9)) + f"{rng.getrandbits(34) % 10**10:010d}"
                card = body + luhn_check_digit(body)
                if card not in cards:
                    cards.add(card)
                    break
            # A quarter of the members still come; the others stopped some time after joining.
            if rng.random() < STILL_ACTIVE:
                until = now
            else:
                until = enrolled + int((now - enrolled) * rng.random() * rng.random())
            times = sorted(rng.randint(enrolled, until) for _ in range(count))
            balance = lifetime = 0
            open_lots: list[list[int]] = []  # [lot, transaction, points, remaining, at]
            last_visit = enrolled
            for at in times:
                shop = shops[rng.randrange(len(shops))]
                if balance >= 100 and rng.random() < 0.15:
                    points = -rng.choice((50, 100, min(balance, 250)))
                    balance += points
                    owed = -points
                    for lot in open_lots:
                        if owed == 0:
                            break
                        taken = min(lot[3], owed)
                        lot[3] -= taken
                        owed -= taken
                    ledger.add(
                        f"{tx_id}\t{m}\t{p}\t{member_id}\tredeem\t{points}\t{balance}\t\\N\t"
                        f"{shop}\tReward\tbench-{tx_id}\t{stamp(at)}\n"
                    )
                else:
                    amount = rng.randint(150, 12_000)
                    points = amount // 100
                    balance += points
                    lifetime += points
                    open_lots.append([lot_id, tx_id, points, points, at])
                    lot_id += 1
                    ledger.add(
                        f"{tx_id}\t{m}\t{p}\t{member_id}\tearn\t{points}\t{balance}\t{amount}\t"
                        f"{shop}\tPurchase\tbench-{tx_id}\t{stamp(at)}\n"
                    )
                tx_id += 1
                last_visit = at
            for lot in open_lots:
                lots.add(
                    f"{lot[0]}\t{m}\t{member_id}\t{lot[1]}\t{lot[2]}\t{lot[3]}\t{stamp(lot[4])}\n"
                )
            tier = tiers[0]
            for tier_id, (_name, minimum, _multiplier) in zip(tiers, TIERS, strict=False):
                if lifetime >= minimum:
                    tier = tier_id
            members.add(
                f"{member_id}\t{m}\t{p}\t{customer_id}\t{card}\t{rng.getrandbits(128):032x}\t"
                f"{balance}\t{lifetime}\t{tier}\tactive\t{stamp(enrolled)}\t{stamp(last_visit)}\t"
                f"{stamp(last_visit)}\n"
            )
            customer_id += 1
            member_id += 1
    return [customers, members, ledger, lots]


def _droppable(connection, tables: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(drop statements, create statements) for the secondary indexes and unique constraints.

    A unique constraint that a foreign key points at (the ledger's key to its member's
    (id, merchant_id, program_id)) stays: the key depends on its index.
    """
    drops, creates = [], []
    constraints = connection.execute(
        text("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.conindid,
               EXISTS (SELECT 1 FROM pg_constraint f
                       WHERE f.contype = 'f' AND f.conindid = c.conindid) AS referenced
        FROM pg_constraint c
        WHERE c.conrelid::regclass::text = ANY(:tables) AND c.contype = 'u'
        """),
        {"tables": list(tables)},
    ).all()
    constraint_indexes = {row[3] for row in constraints}
    for table, name, definition, _index, referenced in constraints:
        if referenced:
            continue
        drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        creates.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    indexes = connection.execute(
        text("""
        SELECT i.indexrelid, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(:tables) AND NOT i.indisprimary
        """),
        {"tables": list(tables)},
    ).all()
    for oid, name, definition in indexes:
        if oid not in constraint_indexes:
            drops.append(f'DROP INDEX "{name}"')
            creates.append(definition)
    return drops, creates


def build_ledger(engine: Engine, url: str, size: Size) -> None:
    with engine.connect() as connection, connection.begin():
        connection.execute(text(f"TRUNCATE {', '.join(BULK_TABLES)} CASCADE"))
        session = Session(bind=connection)
        plan = programmes(session, size)
        next_ids = {
            table: connection.execute(
                text(f"SELECT COALESCE(max(id), 0) + 1 FROM {table}")
            ).scalar()
            for table in BULK_TABLES
        }
        started = time.perf_counter()
        writers = generate(plan, int(time.time()), next_ids)
        print(
            "  generated "
            + ", ".join(f"{w.rows + len(w.lines):,} {w.table}" for w in writers)
            + f" in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        drops, creates = _droppable(connection, BULK_TABLES)
        for statement in drops:
            connection.execute(text(statement))
        # Foreign keys are this generator's own ids: the row-by-row checks are left out.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        cursor = connection.connection.driver_connection.cursor()
        for writer in writers:
            started = time.perf_counter()
            writer.copy_into(cursor)
            print(f"  COPY {writer.table}: {time.perf_counter() - started:.0f} s", flush=True)
        connection.execute(text("SET LOCAL session_replication_role = origin"))
        connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        started = time.perf_counter()
        for statement in creates:
            connection.execute(text(statement))
        print(f"  {len(creates)} indexes rebuilt: {time.perf_counter() - started:.0f} s")
        for table in BULK_TABLES:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
        _mark(connection, url, size, ["schema", "merchants", "ledger"])


def build_statistics(url: str, size: Size) -> None:
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
        _mark(connection, url, size, list(PHASES))
    engine.dispose()


def build(url: str, size: Size, *, force: bool = False) -> bool:
    """Build what is missing; False when everything was already there at this size."""
    state = built_state(url)
    done = state.get("done", []) if state.get("size") == size.label and not force else []
    if done == list(PHASES):
        return False
    if "schema" not in done:
        recreate_database(url)
        migrate(url)
        schema_engine = make_engine(url, isolation_level="AUTOCOMMIT")
        with schema_engine.connect() as connection:
            _mark(connection, url, size, ["schema"])
        schema_engine.dispose()
        print("  schema migrated", flush=True)
    engine = make_engine(url)
    if "merchants" not in done:
        build_merchants(sessionmaker(engine), url, size)
        print(f"  {size.merchants + 1} merchants, shops and tiers created", flush=True)
    if "ledger" not in done:
        build_ledger(engine, url, size)
    engine.dispose()
    build_statistics(url, size)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--ledger", type=int, default=10_000_000)
    parser.add_argument("--merchants", type=int, default=200, help="small merchants besides")
    parser.add_argument("--force", action="store_true", help="rebuild even if built at this size")
    args = parser.parse_args()
    size = Size(args.members, args.ledger, args.merchants)
    url = large_url()
    started = time.perf_counter()
    print(f"building {make_url(url).database} ({size.label}), load {os.getloadavg()[0]:.2f}")
    if build(url, size, force=args.force):
        print(f"built in {time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.2f}")
    else:
        print(f"already built at this size ({size.label}): nothing to do")


if __name__ == "__main__":
    main()
