"""Security settings: headers on every answer, cookie flags, session protection, local assets."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from loyalty.models import Role
from tests import factories


@pytest.fixture
def owner(session: Session):
    return factories.make_user(session, factories.make_tenant(session), role=Role.OWNER)


@pytest.mark.parametrize("path", ["/login", "/no/such/page", "/static/app.css", "/healthz"])
def test_security_headers_are_on_every_response(client, path: str) -> None:
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "http" not in policy  # no other origin is trusted


def test_pages_are_not_cached_but_static_files_are(client) -> None:
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/app.css").headers.get("Cache-Control", "")


def test_bootstrap_is_served_from_this_site(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "/bootstrap/static/css/bootstrap.min.css" in page
    assert "/bootstrap/static/js/bootstrap.min.js" in page
    assert "cdn." not in page
    assert "https://" not in page
    assert client.get("/bootstrap/static/css/bootstrap.min.css").status_code == 200


def test_pages_have_no_inline_script_or_style(client, login_as, owner) -> None:
    login_as(owner)
    for path in ("/login", "/backoffice/", "/staff/", "/backoffice/shops"):
        page = client.get(path).get_data(as_text=True)
        # A <script> without src, a <style> block or a style="" attribute would need 'unsafe-inline'.
        inline = re.findall(r"<script(?![^>]*\ssrc=)[^>]*>|<style\b|\sstyle=", page)
        assert not inline, f"{path}: {inline}"


def test_session_cookie_is_http_only_and_same_site(client, owner) -> None:
    response = client.post("/login", data={"email": owner.email, "password": factories.PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_session_protection_is_strong(app: Flask) -> None:
    assert app.config["SESSION_PROTECTION"] == "strong"


def test_a_session_replayed_from_another_browser_is_dropped(client, login_as, owner) -> None:
    login_as(owner)
    assert client.get("/backoffice/").status_code == 200
    replayed = client.get("/backoffice/", headers={"User-Agent": "Another browser/1.0"})
    assert replayed.status_code == 302
    assert replayed.headers["Location"].startswith("/login")


def test_secure_cookie_settings_add_strict_transport_security(database_uri: str) -> None:
    from web import config as web_config
    from web import create_app
    from web.extensions import db

    config = web_config.test_config(database_uri)
    config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    secure = create_app(config)
    try:
        response = secure.test_client().get("/login")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        with secure.app_context():
            db.engine.dispose()


def test_a_session_older_than_its_lifetime_is_signed_out(
    app: Flask, client, login_as, owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time
    from datetime import timedelta

    login_as(owner)
    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", timedelta(seconds=1))
    time.sleep(2.1)  # the cookie's signature carries its time to the second
    assert client.get("/backoffice/").headers["Location"].startswith("/login")
