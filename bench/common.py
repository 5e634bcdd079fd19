"""What every benchmark needs: a fresh PostgreSQL database with the real schema, and the report line."""

from __future__ import annotations

import os
import subprocess

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/loyalty_bench"


def bench_url() -> str:
    from web.config import database_url

    return database_url(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)


def recreate_database(url: str) -> None:
    """Drop and create the database named in `url`, connecting to the server's `postgres` db."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def migrate(url: str) -> None:
    """Build the schema the way production does: through the Alembic migrations."""
    from flask_migrate import upgrade

    from web import create_app
    from web.config import test_config

    app = create_app(test_config(url))
    with app.app_context():
        upgrade()


def libpq_args(url: str) -> list[str]:
    parsed = make_url(url)
    return [
        "-h", parsed.host or "127.0.0.1",
        "-p", str(parsed.port or 5432),
        "-U", parsed.username or "postgres",
    ]  # fmt: skip


def pgbench(url: str, *args: str) -> str:
    command = ["pgbench", *libpq_args(url), *args, make_url(url).database]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def report(name: str, figure: float, unit: str, reference: float, target: float | str) -> str:
    """The last line of every bench script, in the one format `make bench` collects."""
    ratio = figure / reference if reference else 0.0
    return (
        f"{name}: {_figure(figure)} {unit}, reference {_figure(reference)} {unit}, "
        f"ratio {ratio:.2f}, target {target}"
    )


def _figure(value: float) -> str:
    """Whole numbers, but small ones (a 3.4 ms p95) keep a decimal."""
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"
