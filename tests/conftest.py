"""Fixtures shared by every test tier.

Database tests run once per configured database: SQLite always, PostgreSQL too when
TEST_DATABASE_URL is set. Each test runs inside an outer transaction that is rolled back
(SQLAlchemy's "join into an external transaction" recipe), so tests never see each other.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.globals import app_ctx
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from loyalty.db import Base
from loyalty.models import LoyaltyMember
from loyalty.services import events
from tests import factories
from web import create_app
from web.config import database_url, test_config
from web.extensions import db

PG_URL = os.environ.get("TEST_DATABASE_URL")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
DATABASES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_POSTGRES and not PG_URL:
        raise pytest.UsageError(
            "REQUIRE_POSTGRES=1 needs TEST_DATABASE_URL pointing at PostgreSQL."
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests run on the PostgreSQL pass; without one they skip and say why."""
    keep, dropped = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("database")
        if item.get_closest_marker("postgres_only") and backend == "sqlite":
            if PG_URL:
                dropped.append(item)
                continue
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL row locks: set TEST_DATABASE_URL")
            )
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session", params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_uri(database: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if database == "postgresql":
        return database_url(PG_URL)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _reset_schema(app: Flask) -> None:
    """Drop whatever a previous run left, then build the schema the way production does."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # Whatever schema an older checkout left (foreign-key cycles included) goes at once.
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(db.engine)
            with db.engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()


@pytest.fixture(scope="session")
def app(database_uri: str) -> Iterator[Flask]:
    app = create_app(test_config(database_uri))
    _reset_schema(app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """The Flask-SQLAlchemy session, bound to a connection whose transaction is rolled back."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        # A plain Session: Flask-SQLAlchemy's own would route to the engine and ignore `bind`.
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=lambda: id(app_ctx._get_current_object()),
        )
        # Rolled-back tests hand the same merchant ids out again: a "who listens" answer
        # cached by an earlier test would be about a merchant that no longer exists.
        events.forget_targets()
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, hence its own `g`, as in production.

    The `session` fixture keeps an app context pushed for the whole test, and Flask reuses a
    pushed context for requests: they would share `g` (Flask-Login's cached user, the request
    id, the chosen membership). Running each request in an empty contextvars context makes
    Flask push a fresh one; the database session stays bound to the test's connection.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app: Flask, session: Session) -> FlaskClient:
    app.test_client_class = FreshContextClient
    try:
        return app.test_client()
    finally:
        app.test_client_class = None


@pytest.fixture
def tenant(session: Session) -> factories.Tenant:
    """A Plus merchant with its programme and first shop; modules override it when they need more."""
    return factories.make_tenant(session)


@pytest.fixture
def member(session: Session, tenant: factories.Tenant) -> LoyaltyMember:
    return factories.make_member(session, tenant)


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def secret_key(app: Flask) -> bytes:
    return app.config["SECRET_KEY"].encode()


def pytest_report_header(config: pytest.Config) -> str:
    where = (
        "SQLite and PostgreSQL" if PG_URL else "SQLite only (set TEST_DATABASE_URL for PostgreSQL)"
    )
    return f"databases: {where}; tests dir: {Path(__file__).parent}"


# --- signing in, for web tests ------------------------------------------------------------

from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:  # annotations only; this section is appended, so no new imports at the top
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from loyalty.models import User


class AuthActions:
    """Sign in and out through the real form, as flaskr's tests do: `login_as(user)`.

    The password is factories.PASSWORD, which every factory-made user has. A user working for
    several businesses lands on /switch-business; post `merchant_id` there to pick one.
    """

    def __init__(self, client: FlaskClient, password: str) -> None:
        self._client = client
        self._password = password

    def __call__(
        self, user: User, *, password: str | None = None, follow_redirects: bool = False
    ) -> TestResponse:
        return self._client.post(
            "/login",
            data={"email": user.email, "password": password or self._password},
            follow_redirects=follow_redirects,
        )

    def logout(self) -> TestResponse:
        return self._client.post("/logout")


@pytest.fixture
def login_as(client: FlaskClient) -> AuthActions:
    from tests.factories import PASSWORD

    return AuthActions(client, PASSWORD)
