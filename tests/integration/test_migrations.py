"""The Alembic migrations build exactly the schema the models declare, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect

from loyalty.db import Base
from web.extensions import db


def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_name_search_index_serves_prefix_search_on_postgresql(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return
        indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("customers")}
        assert "varchar_pattern_ops" in str(
            indexes["ix_customers_merchant_name"].get("dialect_options")
        )
