"""Signing in and out: credentials, redirects, CSRF, the rate limit, choosing a business."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from loyalty.models import Role, User
from loyalty.passwords import needs_rehash, verify_password
from tests import factories
from web import config as web_config
from web import create_app
from web.auth.views import BAD_CREDENTIALS, safe_next
from web.extensions import db


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def owner(session: Session) -> User:
    tenant = factories.make_tenant(session, name="Bakery Dupont")
    return factories.make_user(session, tenant, role=Role.OWNER)


def test_login_page_has_a_labelled_email_and_password_form(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    page = _text(response)
    assert '<label class="form-label" for="email">E-mail</label>' in page
    assert '<label class="form-label" for="password">Password</label>' in page
    assert 'autocomplete="username"' in page
    assert 'autocomplete="current-password"' in page


def test_login_with_the_right_password_signs_the_owner_in(client, login_as, owner) -> None:
    response = login_as(owner)
    assert response.status_code == 302
    assert response.headers["Location"] == "/backoffice/"
    assert "Bakery Dupont" in _text(client.get("/backoffice/"))


def test_login_refuses_wrong_password_without_revealing_the_email(client, owner) -> None:
    wrong_password = client.post(
        "/login", data={"email": owner.email, "password": "nope-nope-nope"}
    )
    unknown_email = client.post(
        "/login", data={"email": "nobody@example.com", "password": "nope-nope-nope"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    for response in (wrong_password, unknown_email):
        assert BAD_CREDENTIALS in _text(response)
    # Apart from the address typed in, the two pages are the same.
    assert _text(wrong_password).replace(owner.email, "X") == _text(unknown_email).replace(
        "nobody@example.com", "X"
    )
    assert client.get("/backoffice/").status_code == 302  # still signed out


def test_login_accepts_the_email_in_another_case_and_with_spaces(client, owner) -> None:
    response = client.post(
        "/login", data={"email": f"  {owner.email.upper()} ", "password": factories.PASSWORD}
    )
    assert response.status_code == 302


def test_login_refuses_a_switched_off_account(client, session, owner) -> None:
    owner.active = False
    session.flush()
    response = client.post("/login", data={"email": owner.email, "password": factories.PASSWORD})
    assert response.status_code == 401
    assert "switched off" in _text(response)
    assert client.get("/backoffice/").status_code == 302


def test_switching_an_account_off_ends_its_open_session(client, login_as, session, owner) -> None:
    login_as(owner)
    assert client.get("/backoffice/").status_code == 200
    owner.active = False
    session.flush()
    response = client.get("/backoffice/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_login_records_last_login_time(client, login_as, session, owner) -> None:
    assert owner.last_login_at is None
    login_as(owner)
    session.expire_all()
    assert session.get(User, owner.id).last_login_at is not None


def test_login_rehashes_a_password_hashed_with_weaker_parameters(
    client, login_as, session, owner
) -> None:
    owner.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
        factories.PASSWORD
    )
    session.flush()
    assert needs_rehash(owner.password_hash)
    login_as(owner)
    session.expire_all()
    upgraded = session.get(User, owner.id).password_hash
    assert not needs_rehash(upgraded)
    assert verify_password(upgraded, factories.PASSWORD)


def test_login_form_with_missing_fields_says_what_is_missing(client) -> None:
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 400
    page = _text(response)
    assert "Enter your e-mail address." in page
    assert "Enter your password." in page
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="email-error"' in page


def test_login_follows_next_to_a_page_of_this_site(client, owner) -> None:
    response = client.post(
        "/login",
        data={"email": owner.email, "password": factories.PASSWORD, "next": "/backoffice/shops"},
    )
    assert response.headers["Location"] == "/backoffice/shops"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "backoffice",
        "/\tevil",
        "",
    ],
)
def test_login_ignores_next_that_leaves_the_site(client, owner, target: str) -> None:
    response = client.post(
        "/login", data={"email": owner.email, "password": factories.PASSWORD, "next": target}
    )
    assert response.headers["Location"] == "/backoffice/"


def test_safe_next_keeps_local_paths_with_query_strings() -> None:
    assert safe_next("/staff/members/3?tab=ledger") == "/staff/members/3?tab=ledger"
    assert safe_next("http://127.0.0.1/") is None


def test_a_protected_page_sends_visitors_to_login_and_back(client, owner) -> None:
    response = client.get("/backoffice/shops")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/backoffice/shops"
    page = _text(client.get("/login?next=/backoffice/shops"))
    assert 'name="next" type="hidden" value="/backoffice/shops"' in page


def test_signed_in_user_opening_login_goes_home(client, login_as, owner) -> None:
    login_as(owner)
    response = client.get("/login")
    assert response.headers["Location"] == "/backoffice/"


def test_logout_signs_out_and_only_accepts_post(client, login_as, owner) -> None:
    login_as(owner)
    assert client.get("/logout").status_code == 405
    assert client.get("/backoffice/").status_code == 200
    response = client.post("/logout", follow_redirects=True)
    assert "You are signed out." in _text(response)
    assert client.get("/backoffice/").status_code == 302


def test_login_post_without_csrf_token_is_refused(
    app: Flask, client, owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    refused = client.post("/login", data={"email": owner.email, "password": factories.PASSWORD})
    assert refused.status_code == 400
    assert "Reload the page and try again" in _text(refused)
    assert client.get("/backoffice/").status_code == 302

    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', _text(client.get("/login"))
    )
    assert token is not None
    accepted = client.post(
        "/login",
        data={"email": owner.email, "password": factories.PASSWORD, "csrf_token": token[1]},
    )
    assert accepted.status_code == 302


def test_logout_without_csrf_token_is_refused(
    app: Flask, client, login_as, owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(owner)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/logout").status_code == 400
    assert client.get("/backoffice/").status_code == 200


@pytest.fixture
def rate_limited_client(database_uri: str, session: Session) -> Iterator[FlaskClient]:
    """A second app on the same test database, with a login limit of 3 failed tries a minute."""
    config = web_config.test_config(database_uri)
    config.update(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    limited = create_app(config)
    yield limited.test_client()
    with limited.app_context():
        db.engine.dispose()


def test_login_rate_limit_answers_429_with_when_to_try_again(rate_limited_client, owner) -> None:
    for _ in range(3):
        response = rate_limited_client.post(
            "/login", data={"email": owner.email, "password": "wrong-password"}
        )
        assert response.status_code == 401
    blocked = rate_limited_client.post(
        "/login", data={"email": owner.email, "password": factories.PASSWORD}
    )
    assert blocked.status_code == 429
    seconds = int(blocked.headers["Retry-After"])
    assert 0 < seconds <= 61
    assert re.search(r"Try again in \d+ seconds?\.", _text(blocked))
    assert rate_limited_client.get("/login").status_code == 200  # the page itself stays open


def test_successful_sign_ins_do_not_use_up_the_login_limit(rate_limited_client, owner) -> None:
    for _ in range(5):
        response = rate_limited_client.post(
            "/login", data={"email": owner.email, "password": factories.PASSWORD}
        )
        assert response.status_code == 302
        rate_limited_client.post("/logout")


# --- several businesses ----------------------------------------------------------------------


@pytest.fixture
def two_business_user(session: Session) -> tuple[User, factories.Tenant, factories.Tenant]:
    bakery = factories.make_tenant(session, name="Bakery Dupont")
    florist = factories.make_tenant(session, name="Florist Weber")
    user = factories.make_user(session, bakery, role=Role.OWNER)
    from loyalty.services.merchants import add_membership

    add_membership(
        session, user=user, merchant=florist.merchant, role=Role.STAFF, shop=florist.shop
    )
    return user, bakery, florist


def test_user_of_two_businesses_picks_one_after_login(client, login_as, two_business_user) -> None:
    user, bakery, florist = two_business_user
    response = login_as(user)
    assert response.headers["Location"] == "/switch-business"
    page = _text(client.get("/switch-business"))
    assert "Bakery Dupont" in page
    assert "Florist Weber" in page
    # Pages of a business wait for the choice.
    assert client.get("/backoffice/").headers["Location"].startswith("/switch-business")

    chosen = client.post("/switch-business", data={"merchant_id": florist.merchant.id})
    assert chosen.headers["Location"] == "/staff/"  # staff in the florist's shop
    assert "Florist Weber" in _text(client.get("/staff/"))
    assert client.get("/backoffice/").status_code == 403

    switched = client.post("/switch-business", data={"merchant_id": bakery.merchant.id})
    assert switched.headers["Location"] == "/backoffice/"
    assert "Bakery Dupont" in _text(client.get("/backoffice/"))


def test_switch_business_keeps_next_through_the_choice(client, login_as, two_business_user) -> None:
    user, bakery, _ = two_business_user
    response = client.post(
        "/login",
        data={"email": user.email, "password": factories.PASSWORD, "next": "/backoffice/shops"},
    )
    assert response.headers["Location"] == "/switch-business?next=/backoffice/shops"
    page = _text(client.get(response.headers["Location"]))
    assert '<input type="hidden" name="next" value="/backoffice/shops">' in page
    chosen = client.post(
        "/switch-business", data={"merchant_id": bakery.merchant.id, "next": "/backoffice/shops"}
    )
    assert chosen.headers["Location"] == "/backoffice/shops"


def test_switch_business_refuses_a_business_the_user_does_not_work_for(
    client, login_as, session, two_business_user
) -> None:
    user, _, _ = two_business_user
    stranger = factories.make_tenant(session, name="Butcher Klein")
    login_as(user)
    response = client.post("/switch-business", data={"merchant_id": stranger.merchant.id})
    assert response.status_code == 404
    assert client.post("/switch-business", data={"merchant_id": "abc"}).status_code == 400
