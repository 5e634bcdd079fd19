"""CSV member import through the service, against PostgreSQL's own COPY of the same file, same run.

    python -m bench.imports [--rows 200000]

On PostgreSQL (BENCH_IMPORT_DATABASE_URL, default loyalty_bench_import on 127.0.0.1): writes a
CSV of N customers as a merchant exports them (name, e-mail, phone in national form,
birthday, consent), then
- the reference: `COPY … FROM STDIN (FORMAT csv, HEADER)` of that file into a table of text
  columns, the least any import of it can cost (no checks, no cards, no duplicates);
- the import: `member_import.save_upload`, `set_mapping`, `run_to_end` as the back-office runs
  it (steps of 10,000 rows, each committed: checks every row, normalises phones and e-mails,
  looks for duplicates, gives cards, writes customers, members and channel identities).
Figures are rows per second. Target: the import within 100× of COPY (each row is checked in
Python: e-mail syntax and phone parsing cost about 1 ms a row, most of the time).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from bench.common import migrate, recreate_database, report
from bench.member_search import person
from loyalty.db import make_engine
from loyalty.identity import search_key
from loyalty.models import ImportStatus, LoyaltyMember, Offering, Role
from loyalty.services import member_import, merchants
from loyalty.services.actors import Actor

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/loyalty_bench_import"
TARGET = 0.01
HEADER = ("Name", "Email", "Phone", "Birthday", "Marketing")


def import_url() -> str:
    from web.config import database_url

    return database_url(os.environ.get("BENCH_IMPORT_DATABASE_URL") or DEFAULT_URL)


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(5)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for n in range(rows):
            name = person(rng)
            writer.writerow(
                (
                    name,
                    f"{search_key(name).replace(' ', '.')}.{n}@example.com",
                    f"621 {n // 1000 % 1000:03d} {n % 1000:03d}" if n < 10**6 else "",
                    f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    rng.choice(("yes", "no")),
                )
            )


def time_copy(engine, path: Path) -> float:
    with engine.connect() as connection, connection.begin() as transaction:
        connection.execute(
            text(
                "CREATE TEMP TABLE raw_import "
                "(name text, email text, phone text, birthday text, marketing text)"
            )
        )
        cursor = connection.connection.driver_connection.cursor()
        started = time.perf_counter()
        with (
            path.open("rb") as file,
            cursor.copy("COPY raw_import FROM STDIN (FORMAT csv, HEADER)") as copy,
        ):
            while chunk := file.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - started
        transaction.rollback()
    return elapsed


def time_import(Session: sessionmaker, path: Path, directory: Path) -> tuple[float, int]:
    with Session.begin() as session:
        merchant = merchants.create_merchant(
            session, name="Bench Import", offering=Offering.PLUS, points_per_euro=Decimal("1")
        )
        user = merchants.create_user(
            session, email="owner@import.bench.example.com", password="bench-password-1"
        )
        merchants.add_membership(session, user=user, merchant=merchant, role=Role.OWNER)
        actor = Actor(user_id=user.id, role=Role.OWNER)
        merchant_id = merchant.id
    with Session() as session:
        started = time.perf_counter()
        with path.open("rb") as stream:
            job = member_import.save_upload(
                session,
                merchant=session.get(merchants.Merchant, merchant_id),
                actor=actor,
                filename=path.name,
                stream=stream,
                directory=directory,
            )
        member_import.set_mapping(session, job=job, chosen=dict(job.mapping["fields"]))
        session.commit()
        for _step in member_import.run_to_end(session, job=job, commit=session.commit):
            pass
        elapsed = time.perf_counter() - started
        assert job.status == ImportStatus.DONE, job.error
        imported = session.scalar(
            select(func.count(LoyaltyMember.id)).where(LoyaltyMember.merchant_id == merchant_id)
        )
        print(
            f"import: {job.rows_read:,} read, {job.rows_imported:,} imported, "
            f"{job.rows_duplicate:,} duplicates, {job.rows_failed:,} refused; "
            f"{imported:,} members in the database"
        )
    return elapsed, int(imported or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    url = import_url()
    recreate_database(url)
    migrate(url)
    engine = make_engine(url)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "members.csv"
        write_csv(path, args.rows)
        print(
            f"{args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB, load {os.getloadavg()[0]:.2f}"
        )
        copy_seconds = time_copy(engine, path)
        import_seconds, imported = time_import(
            sessionmaker(engine, expire_on_commit=False), path, Path(directory) / "uploads"
        )
    engine.dispose()
    if imported != args.rows:
        raise SystemExit(f"imported {imported:,} members of {args.rows:,} rows")
    figure, reference = args.rows / import_seconds, args.rows / copy_seconds
    print(f"COPY of the file: {copy_seconds:.2f} s; import: {import_seconds:.2f} s")
    print(report("csv-import", figure, "rows/s", reference, f"≥{TARGET}"))


if __name__ == "__main__":
    main()
