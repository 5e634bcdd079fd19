"""Upgrading a SQLite database that holds data keeps the data.

Alembic's batch mode rebuilds a SQLite table (copy, DROP, rename). With foreign keys enforced,
that DROP deletes through ON DELETE CASCADE: rebuilding `loyalty_programs` used to wipe every
member, ledger row, reward and tier of an existing installation.
"""

from __future__ import annotations

from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import text

from web import config as web_config
from web import create_app
from web.extensions import db


def test_upgrading_a_sqlite_database_keeps_members_and_ledger(tmp_path: Path) -> None:
    app = create_app(web_config.test_config(f"sqlite:///{tmp_path / 'old.db'}"))
    with app.app_context():
        upgrade(revision="e1de200683e7")  # the initial schema: an installation from day one
        with db.engine.begin() as connection:
            for statement in (
                "INSERT INTO merchants (id, name, slug, offering, status, default_country, timezone,"
                " branding, created_at) VALUES (1, 'Bakery', 'bakery', 'plus', 'active', 'LU',"
                " 'Europe/Luxembourg', '{}', '2026-01-01 00:00:00')",
                "INSERT INTO loyalty_programs (id, merchant_id, name, slug, join_code,"
                " points_per_euro, rounding, expiry_policy, signup_bonus, birthday_bonus,"
                " category_multipliers, currency, primary_color, secondary_color, terms_version,"
                " settings, created_at) VALUES (1, 1, 'Rewards', 'bakery', 'ABC123', 1, 'floor',"
                " 'none', 0, 0, '{}', 'EUR', '#000000', '#ffffff', '1', '{}',"
                " '2026-01-01 00:00:00')",
                "INSERT INTO customers (id, merchant_id, name, name_search, language, consents,"
                " created_at) VALUES (1, 1, 'Anne', 'anne', 'en', '{}', '2026-01-01 00:00:00')",
                "INSERT INTO loyalty_members (id, merchant_id, program_id, customer_id, card_number,"
                " qr_secret, points_balance, lifetime_points, status, enrolled_at,"
                " last_activity_at, updated_at) VALUES (1, 1, 1, 1, '1234', 's', 10, 10, 'active',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                "INSERT INTO loyalty_transactions (id, merchant_id, program_id, member_id, type,"
                " points, balance_after, description, idempotency_key, created_at) VALUES"
                " (1, 1, 1, 1, 'earn', 10, 10, '', 'k1', '2026-01-01 00:00:00')",
            ):
                connection.execute(text(statement))
        upgrade()
        with db.engine.connect() as connection:
            members = connection.execute(text("SELECT count(*) FROM loyalty_members")).scalar()
            ledger = connection.execute(text("SELECT count(*) FROM loyalty_transactions")).scalar()
            enforced = connection.execute(text("PRAGMA foreign_keys")).scalar()
        db.engine.dispose()
    assert (members, ledger) == (1, 1)
    assert enforced == 1  # the pooled connection enforces foreign keys again
