"""Per-key rate limits of the API, with the RateLimit-* headers and 429 problem+json."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.e2e.api_support import make_api_tenant
from web import config as web_config
from web import create_app
from web.extensions import db


@pytest.fixture
def limited_client(database_uri: str, session: Session) -> Iterator[FlaskClient]:
    """A second app on the same test database, allowing 3 API requests a minute per key."""
    config = web_config.test_config(database_uri)
    config.update(RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute")
    limited = create_app(config)
    yield limited.test_client()
    with limited.app_context():
        db.engine.dispose()


def test_each_key_gets_its_own_budget_and_then_429(limited_client, session: Session) -> None:
    first = make_api_tenant(session)
    second = make_api_tenant(session)
    remaining = []
    for _ in range(3):
        response = limited_client.get("/api/v1/shops", headers=first.headers)
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
        assert 0 <= int(response.headers["RateLimit-Reset"]) <= 60
    assert remaining == [2, 1, 0]
    refused = limited_client.get("/api/v1/shops", headers=first.headers)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Another merchant's key is not slowed down by the first one's traffic.
    assert limited_client.get("/api/v1/shops", headers=second.headers).status_code == 200
    # The reference stays readable whatever the budget.
    assert limited_client.get("/api/v1/openapi.json").status_code == 200
