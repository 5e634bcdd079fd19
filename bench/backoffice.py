"""Till lookups, the back-office member list and the dashboard on 1,000,000 members: p95 per request.

    python -m bench.backoffice [--members 1000000] [--ledger 10000000] [--merchants 200]
                               [--lookups 200] [--pages 30]

Reads the database bench.dataset builds (built first if missing at that size; at the full size
the build takes minutes, once). Every request goes through the real Flask app (test client,
signed in as the large merchant's owner):
- till lookups: `POST /staff/identify` with a card number, a phone number in national form and
  an e-mail address, and `GET /staff/search` (the typeahead) with a name prefix;
- the back-office member list `GET /backoffice/members`: its first page, and a page filtered by
  tier and last visit; a name-prefix search of the list;
- the dashboard `GET /backoffice/` (the default 30 days, with the Enterprise figures), read
  from the snapshot the worker's `dashboard_snapshots` job computes (run here first, timed).
For each kind, the SQL statements one request sends are captured and printed with their
`EXPLAIN (ANALYZE, BUFFERS)` plans. The reference, measured in the same run, is those very
statements replayed with psycopg (the database's share of the request). Targets: lookups p95
under 20 ms, list pages and dashboard p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.common import migrate, report
from bench.dataset import OWNER_EMAIL, OWNER_PASSWORD, Size, build, large_url
from loyalty.identity import format_card_number
from loyalty.services import analytics

LOOKUP_TARGET_MS = 20.0
PAGE_TARGET_MS = 300.0


@dataclass
class Kind:
    name: str
    target_ms: float
    requests: list[Callable[[], object]]  # one per sample, each a different text
    statements: list[tuple[str, object]] = field(default_factory=list)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


def sample_members(connection, merchant_id: int, count: int, rng: random.Random) -> list:
    return connection.execute(
        text(
            "SELECT m.card_number, c.phone, c.email, c.name FROM loyalty_members m "
            "JOIN customers c ON c.id = m.customer_id "
            "WHERE m.merchant_id = :merchant AND m.id % 997 = :residue LIMIT :n"
        ),
        {"merchant": merchant_id, "residue": rng.randrange(997), "n": count},
    ).all()


def national(phone: str) -> str:
    """'+352621001234' as a customer says it: '621 001 234'."""
    digits = phone[4:]
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def kinds(client, rows: list, tiers: dict[str, int], pages: int, rng: random.Random) -> list[Kind]:
    def ok(response, *codes: int) -> None:
        assert response.status_code in codes, (response.status_code, response.data[:300])

    def identify(query: str) -> Callable[[], object]:
        return lambda: ok(client.post("/staff/identify", data={"query": query}), 302, 303)

    def get(url: str) -> Callable[[], object]:
        return lambda: ok(client.get(url), 200)

    def name_prefix(name: str) -> str:
        return name[: name.index(" ") + rng.randint(2, 4)]

    return [
        Kind(
            "lookup-card",
            LOOKUP_TARGET_MS,
            [identify(format_card_number(r.card_number)) for r in rows],
        ),
        Kind("lookup-phone", LOOKUP_TARGET_MS, [identify(national(r.phone)) for r in rows]),
        Kind("lookup-email", LOOKUP_TARGET_MS, [identify(r.email.upper()) for r in rows]),
        Kind(
            "lookup-name",
            LOOKUP_TARGET_MS,
            [get(f"/staff/search?q={name_prefix(r.name)}") for r in rows],
        ),
        Kind("list-first-page", PAGE_TARGET_MS, [get("/backoffice/members") for _ in range(pages)]),
        Kind(
            "list-filtered",
            PAGE_TARGET_MS,
            [
                get(f"/backoffice/members?tier={tiers['Silver']}&visit=30d&page={1 + n % 3}")
                for n in range(pages)
            ],
        ),
        Kind(
            "list-search",
            PAGE_TARGET_MS,
            [get(f"/backoffice/members?q={name_prefix(r.name)}") for r in rows[:pages]],
        ),
        Kind("dashboard", PAGE_TARGET_MS, [get("/backoffice/") for _ in range(pages)]),
    ]


def capture(engine, run: Callable[[], object]) -> list[tuple[str, object]]:
    """The SQL statements (and their parameters) one request sends."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def explain(cursor, kind: Kind) -> None:
    print(f"\n== {kind.name}: {len(kind.statements)} statements per request")
    for statement, parameters in kind.statements:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        plan = [row[0] for row in cursor.fetchall()]
        print("\n-- " + " ".join(statement.split())[:300])
        print("\n".join("   " + line for line in plan))


def replay(cursor, statements: list[tuple[str, object]]) -> float:
    started = time.perf_counter()
    for statement, parameters in statements:
        cursor.execute(statement, parameters)
        if cursor.description is not None:
            cursor.fetchall()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--ledger", type=int, default=10_000_000)
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--lookups", type=int, default=200, help="requests per lookup kind")
    parser.add_argument("--pages", type=int, default=30, help="requests per page kind")
    args = parser.parse_args()
    url = large_url()
    size = Size(args.members, args.ledger, args.merchants)
    started = time.perf_counter()
    if build(url, size):
        print(f"built the dataset ({size.label}) in {time.perf_counter() - started:.0f} s")
    migrate(url)  # a dataset built before the newest migrations gets them (indexes)
    print(f"{make_url(url).database}: {size.label}; load {os.getloadavg()[0]:.2f}")

    from web import create_app
    from web.config import test_config
    from web.extensions import db

    app = create_app(test_config(url))
    client = app.test_client()
    response = client.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert response.status_code == 302, response.data[:500]
    rng = random.Random(3)
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            merchant_id = connection.execute(
                text("SELECT merchant_id FROM memberships m JOIN users u ON u.id = m.user_id "
                     "WHERE u.email = :email"),
                {"email": OWNER_EMAIL},
            ).scalar_one()  # fmt: skip
            tiers = dict(
                connection.execute(
                    text("SELECT name, id FROM loyalty_tiers WHERE merchant_id = :m"),
                    {"m": merchant_id},
                ).all()
            )
            rows = sample_members(connection, merchant_id, args.lookups, rng)
        with Session(engine) as session:
            started = time.perf_counter()
            snapshots = analytics.refresh_snapshots(session)
            session.commit()
            print(
                f"worker's dashboard snapshots: {snapshots} periods in "
                f"{time.perf_counter() - started:.1f} s (load {os.getloadavg()[0]:.2f})"
            )
        todo = kinds(client, rows, tiers, args.pages, rng)
        raw = engine.raw_connection()
        cursor = raw.driver_connection.cursor()
        for kind in todo:
            kind.requests[0]()  # warm: templates compiled, statements cached
            kind.statements = capture(engine, kind.requests[0])
            explain(cursor, kind)
        raw.driver_connection.rollback()

        print(f"\n{'kind':<18}{'p50 ms':>9}{'p95 ms':>9}{'raw p95':>9}{'target':>9}  load")
        results = []
        for kind in todo:
            web, db_only = [], []
            for request in kind.requests:
                begun = time.perf_counter()
                request()
                web.append((time.perf_counter() - begun) * 1000)
            for _ in range(min(len(kind.requests), 50)):
                db_only.append(replay(cursor, kind.statements))
            raw.driver_connection.rollback()
            figure, reference = p95(web), p95(db_only)
            verdict = "met" if figure < kind.target_ms else "MISSED"
            print(
                f"{kind.name:<18}{statistics.median(web):>9.1f}{figure:>9.1f}{reference:>9.1f}"
                f"{'<' + str(int(kind.target_ms)):>9}  {os.getloadavg()[0]:.2f} {verdict}",
                flush=True,
            )
            results.append((kind, figure, reference))
        raw.close()
    print()
    for kind, figure, reference in results:
        print(report(kind.name, figure, "ms", reference, f"p95<{kind.target_ms:.0f}ms"))


if __name__ == "__main__":
    main()
