"""One JSON line per request, with its id echoed back, and nothing secret in it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from loyalty.models import Role
from tests import factories
from web.logging import REQUEST_LOGGER, JsonFormatter


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def requests(self) -> list[dict]:
        return [line for line in map(json.loads, self.lines) if line.get("event") == "request"]


@pytest.fixture
def log() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("web")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_each_request_logs_one_json_line(client, log: Lines) -> None:
    client.get("/login")
    (line,) = log.requests()
    assert line["logger"] == REQUEST_LOGGER
    assert line["method"] == "GET"
    assert line["path"] == "/login"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["user_id"] is None
    assert line["merchant_id"] is None
    assert len(line["request_id"]) == 32


def test_request_id_from_the_caller_is_logged_and_echoed(client, log: Lines) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.42"
    assert log.requests()[0]["request_id"] == "lb-7f3a.42"


@pytest.mark.parametrize("offered", ["", "has space", "x" * 101, 'quote"s', "a\u00e9b"])
def test_an_unsafe_request_id_is_replaced(client, log: Lines, offered: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": offered})
    generated = response.headers["X-Request-ID"]
    assert generated != offered
    assert len(generated) == 32
    assert log.requests()[0]["request_id"] == generated


def test_a_request_refused_before_the_view_is_still_logged_with_an_id(client, log: Lines) -> None:
    response = client.get("/backoffice/")
    assert response.status_code == 302
    assert log.requests()[0]["request_id"] == response.headers["X-Request-ID"]


def test_signed_in_requests_log_user_and_merchant(
    client, login_as, session: Session, log: Lines
) -> None:
    tenant = factories.make_tenant(session)
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    login_as(owner)
    client.get("/backoffice/")
    line = log.requests()[-1]
    assert line["path"] == "/backoffice/"
    assert line["user_id"] == owner.id
    assert line["merchant_id"] == tenant.merchant.id


def test_logs_hold_no_password_email_or_query_string(client, session: Session, log: Lines) -> None:
    owner = factories.make_user(session, factories.make_tenant(session), role=Role.OWNER)
    client.post(
        "/login?token=magic-secret",
        data={"email": owner.email, "password": "wrong-but-secret-password"},
    )
    client.post("/login", data={"email": owner.email, "password": factories.PASSWORD})
    everything = "\n".join(log.lines)
    assert "wrong-but-secret-password" not in everything
    assert factories.PASSWORD not in everything
    assert owner.email not in everything
    assert "magic-secret" not in everything
    assert [line["path"] for line in log.requests()] == ["/login", "/login"]
