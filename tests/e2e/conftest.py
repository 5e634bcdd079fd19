"""End-to-end fixtures: a test client whose every request runs as it would in production."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, hence its own `g` and its own database session.

    The shared `session` fixture keeps an app context pushed for the whole test, and Flask
    reuses a pushed app context for requests. Requests would then share `g` (the signed-in
    user Flask-Login caches there, the request id, the chosen membership) and the test's
    session, which production never does. Running each request in an empty contextvars
    context makes Flask push a fresh app context; the database session is still bound to the
    test's connection, so the test's rows are visible and everything is rolled back at the end.
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
