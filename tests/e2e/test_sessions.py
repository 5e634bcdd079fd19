"""A new password ends the account's other sessions: after a reset by e-mail link, and after a
change while signed in (which keeps the session that made it)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalty.models import OutboxMessage, Role
from loyalty.passwords import verify_password
from tests import factories
from tests.conftest import AuthActions, FreshContextClient
from tests.factories import PASSWORD

NEW = "a brand new password 42"


@pytest.fixture
def owner(session, tenant):
    return factories.make_user(session, tenant, role=Role.OWNER)


@pytest.fixture
def laptop(app, owner):
    """Another browser, signed in to the same account before the password changes."""
    other = FreshContextClient(app, app.response_class, use_cookies=True)
    AuthActions(other, PASSWORD)(owner)
    assert other.get("/backoffice/").status_code == 200
    return other


def test_a_password_reset_signs_the_account_out_everywhere(client, session, owner, laptop):
    client.post("/forgot-password", data={"email": owner.email})
    link = session.scalars(select(OutboxMessage)).one().payload["link"]
    path = link.split("127.0.0.1:5000", 1)[-1]

    done = client.post(path, data={"password": NEW, "confirm": NEW})

    assert done.status_code == 302
    stale = laptop.get("/backoffice/")
    assert stale.status_code == 302
    assert "/login" in stale.headers["Location"]
    AuthActions(laptop, NEW)(owner)
    assert laptop.get("/backoffice/").status_code == 200  # the new password signs in


def test_changing_the_password_keeps_this_session_and_ends_the_others(
    client, login_as, session, owner, laptop
):
    login_as(owner)

    done = client.post("/account", data={"current": PASSWORD, "password": NEW, "confirm": NEW})

    assert done.status_code == 302
    session.refresh(owner)
    assert verify_password(owner.password_hash, NEW)
    assert client.get("/backoffice/").status_code == 200  # the session that changed it stays
    assert laptop.get("/backoffice/").status_code == 302  # the other one is signed out


def test_the_current_password_is_no_new_password(client, login_as, session, owner, laptop):
    login_as(owner)
    refused = client.post(
        "/account", data={"current": PASSWORD, "password": PASSWORD, "confirm": PASSWORD}
    )
    assert refused.status_code == 422
    assert "The new password is your current one" in refused.text
    assert laptop.get("/backoffice/").status_code == 200  # nobody was signed out


def test_a_wrong_current_password_changes_nothing(client, login_as, session, owner, laptop):
    login_as(owner)
    before = owner.password_hash

    refused = client.post(
        "/account", data={"current": "not it at all", "password": NEW, "confirm": NEW}
    )

    assert refused.status_code == 422
    assert "not your current password" in refused.text
    session.refresh(owner)
    assert owner.password_hash == before
    assert laptop.get("/backoffice/").status_code == 200


def test_the_password_page_is_for_signed_in_people(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
