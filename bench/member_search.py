"""Back-office member search on 100,000 members: p95 by card, phone, e-mail and name prefix.

    python -m bench.member_search [--members 100000] [--queries 200]

Builds one merchant with N members on PostgreSQL (BENCH_DATABASE_URL, default
loyalty_bench_members on 127.0.0.1) with COPY and set-based INSERT ... SELECT, then for each kind
of search text times a list page three ways in the same run:
- the service (`member_search.find_members`: its count and its page statements, ORM objects),
- the back-office list page through the Flask test client (HTML rendered),
- the reference: the very same two statements, compiled to SQL text, sent with psycopg.
It prints each statement's EXPLAIN ANALYZE, so the plan the figures come from is on record.
The last line's figure is the worst of the service's p95s. Target: every p95 under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import Select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from bench.common import migrate, recreate_database, report
from loyalty.db import make_engine
from loyalty.identity import new_card_number, search_key
from loyalty.models import Merchant, Offering, Role
from loyalty.services import member_search, merchants
from loyalty.services.member_search import MemberFilters

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/loyalty_bench_members"
TARGET_MS = 50.0
PASSWORD = "bench-password-1"
# Names built from syllables: ~1,600 first names and ~64,000 family names, so a name prefix
# matches as few or as many people as in a real customer base, not a tenth of it.
SYLLABLES = [
    "an", "ma", "lo", "ré", "jo", "su", "ki", "el", "ber", "tin", "mar", "sch", "mit", "wa",
    "gné", "pa", "ul", "li", "da", "vi", "ro", "sa", "ni", "co", "la", "mi", "te", "no", "va",
    "ho", "fe", "zo", "ka", "de", "ri", "lu", "gi", "bo", "ne", "si",
]  # fmt: skip


def person(rng: random.Random) -> str:
    first = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
    last = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
    return f"{first} {last}"


def bench_url() -> str:
    from web.config import database_url

    return database_url(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)


def seed(Session: sessionmaker[Session], members: int) -> int:
    """One merchant, N customers and cards: card numbers from identity.py through COPY."""
    with Session.begin() as session:
        merchant = merchants.create_merchant(
            session, name="Bench Bakery", offering=Offering.PLUS, points_per_euro=Decimal("1")
        )
        program = merchants.program_of(session, merchant)
        user = merchants.create_user(session, email="owner@bench.example.com", password=PASSWORD)
        merchants.add_membership(session, user=user, merchant=merchant, role=Role.OWNER)
        merchant_id, program_id = merchant.id, program.id
        connection = session.connection()
        connection.execute(
            text(
                "CREATE TEMP TABLE cards (n integer, card text, name text, key text) ON COMMIT DROP"
            )
        )
        cursor = connection.connection.driver_connection.cursor()
        numbers: set[str] = set()
        rng = random.Random(42)
        with cursor.copy("COPY cards (n, card, name, key) FROM STDIN") as copy:
            for n in range(members):
                while (card := new_card_number()) in numbers:
                    pass
                numbers.add(card)
                name = person(rng)
                copy.write_row((n, card, name, search_key(name)))
        connection.execute(
            text("""
            WITH people AS MATERIALIZED (
                SELECT n, card, name, key,
                    nextval(pg_get_serial_sequence('customers', 'id')) AS customer_id
                FROM cards
            ), new_customers AS (
                INSERT INTO customers (id, merchant_id, name, name_search, email, phone,
                    language, consents, created_at)
                SELECT customer_id, :merchant_id, name, key,
                    replace(key, ' ', '.') || n || '@example.com',
                    CASE WHEN n % 2 = 0 THEN '+352621' || lpad(n::text, 6, '0') END,
                    'en', '{}', now() - (n || ' minutes')::interval
                FROM people
            )
            INSERT INTO loyalty_members (merchant_id, program_id, customer_id, card_number,
                qr_secret, points_balance, lifetime_points, status, enrolled_at,
                last_activity_at, updated_at)
            SELECT :merchant_id, :program_id, customer_id, card, md5(card), n % 5000, n % 9000,
                'active', now() - (n || ' minutes')::interval,
                now() - ((n % 400) || ' days')::interval, now()
            FROM people
            """),
            {"merchant_id": merchant_id, "program_id": program_id},
        )
    with Session() as session:
        session.execute(text("ANALYZE"))
        session.commit()
    return merchant_id


def search_texts(Session: sessionmaker[Session], queries: int) -> dict[str, list[str]]:
    """Search texts as people type them, drawn from real rows."""
    rng = random.Random(7)
    with Session() as session:
        rows = session.execute(
            text(
                "SELECT m.card_number, c.email, c.phone, c.name FROM loyalty_members m "
                "JOIN customers c ON c.id = m.customer_id ORDER BY random() LIMIT :n"
            ),
            {"n": queries * 2},
        ).all()
    phones = [r.phone for r in rows if r.phone][:queries]
    return {
        "card": [f"{r.card_number[:4]} {r.card_number[4:8]}" for r in rows[:queries]],
        # National form, as a customer says it: "621 001 234".
        "phone": [f"{p[4:7]} {p[7:10]} {p[10:]}" for p in phones],
        "email": [r.email[: rng.randint(6, 14)] for r in rows[:queries]],
        # The first name and the start of the family name: "Mala Ber".
        "name": [r.name[: r.name.index(" ") + rng.randint(2, 4)] for r in rows[:queries]],
    }


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


def timed(runs: dict[str, Callable[[str], object]], texts: list[str]) -> dict[str, list[float]]:
    """Milliseconds per call of each way, taking turns on every text so load hits all alike."""
    for warm in texts[:5]:
        for run in runs.values():
            run(warm)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for query in texts:
        for name, run in runs.items():
            start = time.perf_counter()
            run(query)
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def compiled(statement: Select) -> str:
    return str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )


def raw_statements(merchant: Merchant, query: str) -> tuple[str, str]:
    """The service's two statements for this text, as the SQL text it sends."""
    statement = member_search.member_select(merchant, MemberFilters(q=query))
    return (
        compiled(member_search.count_statement(statement)),
        compiled(member_search.rows_statement(statement, page=1, per_page=member_search.PER_PAGE)),
    )


def explain(Session: sessionmaker[Session], merchant: Merchant, texts: dict[str, list[str]]):
    with Session() as session:
        for kind, queries in texts.items():
            for label, sql in zip(
                ("count", "page"), raw_statements(merchant, queries[0]), strict=True
            ):
                plan = session.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}"))
                print(f"\n-- {kind} search '{queries[0]}', {label} statement:")
                print("\n".join(f"   {line}" for (line,) in plan))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    url = bench_url()
    recreate_database(url)
    migrate(url)
    engine = make_engine(url)
    Session = sessionmaker(engine, expire_on_commit=False)
    started = time.perf_counter()
    merchant_id = seed(Session, args.members)
    print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s")
    texts = search_texts(Session, args.queries)
    with Session() as session:
        merchant = session.get(Merchant, merchant_id)
        session.expunge(merchant)
    explain(Session, merchant, texts)

    from web import create_app
    from web.config import test_config

    app = create_app(test_config(url))
    client = app.test_client()
    client.post("/login", data={"email": "owner@bench.example.com", "password": PASSWORD})
    raw = engine.raw_connection()
    cursor = raw.cursor()

    def service(query: str) -> None:
        with Session() as session:
            page = member_search.find_members(
                session, merchant=merchant, filters=MemberFilters(q=query)
            )
            assert page.total > 0, query

    # Compiled before timing: SQL text with literal values is not cached and takes longer to
    # build than the database takes to answer it.
    raw_sql = {q: raw_statements(merchant, q) for queries in texts.values() for q in queries}

    def reference(query: str) -> None:
        for sql in raw_sql[query]:
            cursor.execute(sql)
            cursor.fetchall()

    def web_page(query: str) -> None:
        response = client.get("/backoffice/members", query_string={"q": query})
        assert response.status_code == 200, response.status_code

    print(f"\n{'search':<8}{'service':>18}{'raw SQL':>18}{'web page':>18}   ms, p50 / p95")
    worst_service = worst_raw = 0.0
    for kind, queries in texts.items():
        samples = timed({"service": service, "raw": reference, "web": web_page}, queries)
        cells = "".join(
            f"{statistics.median(samples[way]):>10.2f} /{p95(samples[way]):>6.2f}"
            for way in ("service", "raw", "web")
        )
        print(f"{kind:<8}{cells}")
        worst_service = max(worst_service, p95(samples["service"]))
        worst_raw = max(worst_raw, p95(samples["raw"]))
    raw.close()
    verdict = "met" if worst_service < TARGET_MS else "MISSED"
    print(f"\nworst service p95 {worst_service:.2f} ms: target < {TARGET_MS:.0f} ms {verdict}")
    print(
        report(
            "member_search",
            worst_service * 1000,
            "us",
            worst_raw * 1000,
            target=f"p95<{TARGET_MS:.0f}ms",  # type: ignore[arg-type]
        )
    )


if __name__ == "__main__":
    main()
