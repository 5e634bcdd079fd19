"""Error answers: HTML pages for people, problem+json under /api/, domain errors mapped, no 500s."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import exc as sa_exc

from loyalty import errors as domain
from web import config as web_config
from web import create_app
from web.errors import PROBLEM_JSON
from web.extensions import db

RAISED = {
    "not-found": domain.NotFound("Member 12 not found in Bakery Dupont."),
    "denied": domain.PermissionDenied("Only a manager or above can adjust points."),
    "invalid": domain.InvalidInput("Give the shop a name.", field="name"),
    "card": domain.InvalidCardNumber("Card number 1234 is not valid."),
    "points": domain.InsufficientPoints("Balance 40 points; the reward costs 100."),
    "offering": domain.FeatureNotInOffering("Webhooks are not included in the Basic offering."),
    "limit": domain.LimitReached("The Basic offering includes up to 1 shop."),
    "other": domain.LoyaltyError("Something about loyalty went wrong."),
}
EXPECTED_STATUS = {
    "not-found": 404,
    "denied": 403,
    "invalid": 422,
    "card": 422,
    "points": 409,
    "offering": 409,
    "limit": 409,
    "other": 400,
}

# What the app sees while PostgreSQL restarts: through SQLAlchemy, or from psycopg directly on
# the hot paths that use the driver's connection.
LOST_DATABASE = {
    "db-gone": sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    "db-starting": psycopg.OperationalError("FATAL:  the database system is starting up"),
    "db-closed": psycopg.InterfaceError("the connection is closed"),
}

# A value that slipped past the checks and that the database refuses.
UNSTORABLE = {
    "nul": sa_exc.DataError("SELECT", {}, Exception("text fields cannot contain NUL (0x00) bytes")),
    "range": psycopg.DataError("value out of range for type integer"),
}


@pytest.fixture(scope="module")
def error_app(database_uri: str) -> Iterator[Flask]:
    """An app with routes that fail on purpose, and exceptions handled as in production."""
    config = web_config.test_config(database_uri)
    config.update(PROPAGATE_EXCEPTIONS=False)
    app = create_app(config)

    @app.get("/fail/<name>")
    @app.get("/api/fail/<name>")
    def fail(name: str) -> str:
        if name == "crash":
            raise RuntimeError("a bug, not the user's fault")
        if name in LOST_DATABASE:
            raise LOST_DATABASE[name]
        if name in UNSTORABLE:
            raise UNSTORABLE[name]
        if name == "sqlite-bug":
            raise sa_exc.OperationalError(
                "SELECT", {}, sqlite3.OperationalError("no such table: x")
            )
        if name == "sqlite-locked":
            raise sa_exc.OperationalError(
                "SELECT", {}, sqlite3.OperationalError("database is locked")
            )
        raise RAISED[name]

    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def error_client(error_app: Flask) -> FlaskClient:
    return error_app.test_client()


@pytest.mark.parametrize("name", sorted(RAISED))
def test_domain_errors_become_pages_with_their_message(error_client, name: str) -> None:
    response = error_client.get(f"/fail/{name}")
    assert response.status_code == EXPECTED_STATUS[name]
    assert response.mimetype == "text/html"
    assert RAISED[name].message in response.get_data(as_text=True)


@pytest.mark.parametrize("name", sorted(RAISED))
def test_domain_errors_under_api_are_problem_json(error_client, name: str) -> None:
    response = error_client.get(f"/api/fail/{name}")
    assert response.status_code == EXPECTED_STATUS[name]
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["status"] == EXPECTED_STATUS[name]
    assert body["detail"] == RAISED[name].message
    assert body["code"] == RAISED[name].code
    assert body["title"]


def test_invalid_input_names_the_field_in_problem_json(error_client) -> None:
    assert error_client.get("/api/fail/invalid").get_json()["field"] == "name"


def test_unknown_page_is_a_404_page(client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in response.get_data(as_text=True)


def test_unknown_api_path_is_problem_json(client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["status"] == 404


def test_wrong_method_is_405_with_allow_header(client) -> None:
    response = client.put("/login")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_a_bug_gives_a_500_page_with_a_reference_and_no_details(error_client) -> None:
    response = error_client.get("/fail/crash", headers={"X-Request-ID": "ref-123"})
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page
    assert "ref-123" in page
    assert "a bug, not the user" not in page
    assert "Traceback" not in page


def test_a_bug_under_api_is_problem_json(error_client) -> None:
    response = error_client.get("/api/fail/crash")
    assert response.status_code == 500
    assert response.mimetype == PROBLEM_JSON
    assert "a bug" not in response.get_data(as_text=True)


@pytest.mark.parametrize("name", sorted(UNSTORABLE))
def test_a_value_the_database_cannot_store_is_a_422(error_client, name: str) -> None:
    response = error_client.get(f"/api/fail/{name}")
    assert response.status_code == 422
    assert response.json["code"] == "invalid_input"
    assert "cannot be stored" in response.json["detail"]
    assert "NUL (0x00)" not in response.json["detail"]


@pytest.mark.parametrize("name", sorted(LOST_DATABASE))
def test_a_lost_database_is_a_503_to_retry_not_a_500(error_client, name: str) -> None:
    api = error_client.get(f"/api/fail/{name}")
    assert api.status_code == 503
    assert api.mimetype == PROBLEM_JSON
    assert api.json["code"] == "database_unavailable"
    assert "Send it again" in api.json["detail"]
    assert "starting up" not in api.json["detail"]
    assert int(api.headers["Retry-After"]) > 0
    page = error_client.get(f"/fail/{name}")
    assert page.status_code == 503
    assert "Briefly unavailable" in page.get_data(as_text=True)
    assert "Retry-After" in page.headers


def test_a_sqlite_programming_error_stays_a_500_not_a_503(error_client) -> None:
    response = error_client.get("/api/fail/sqlite-bug")
    assert response.status_code == 500
    assert error_client.get("/api/fail/sqlite-locked").status_code == 503


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("POST", "/login", {"email": "x" * 5000, "password": "y"}),
        ("POST", "/login", {"email": "not-an-email", "password": ""}),
        ("POST", "/login", {"email": "a@b.com", "password": "p" * 5000}),
        ("GET", "/login?next=%00%ff", None),
        ("GET", "/backoffice/members/abc", None),
        ("GET", "/backoffice/members/-1", None),
        ("GET", "/staff/members/99999999999999999999999", None),
    ],
)
def test_bad_input_never_gives_a_500(client, method: str, path: str, data) -> None:
    response = client.open(path, method=method, data=data)
    assert response.status_code < 500
