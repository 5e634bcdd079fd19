"""The tenancy helpers on their own: the role decorator and the tenant query road."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from loyalty.models import LoyaltyMember, Role, User
from tests import factories
from tests.conftest import FreshContextClient
from web import config as web_config
from web import create_app
from web.extensions import db
from web.tenancy import require_role, tenant_get_or_404, tenant_select


@pytest.fixture(scope="module")
def helper_app(database_uri: str) -> Iterator[Flask]:
    app = create_app(web_config.test_config(database_uri))

    @app.get("/owners-only")
    @require_role(Role.OWNER)
    def owners_only() -> str:
        return "for owners"

    @app.get("/member/<int:member_id>")
    def member(member_id: int) -> str:
        return str(tenant_get_or_404(LoyaltyMember, member_id).id)

    @app.get("/users")
    def users() -> str:
        tenant_select(User)  # not tenant data: must refuse
        return "unreachable"

    app.test_client_class = FreshContextClient
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def helper_client(helper_app: Flask, session: Session) -> FlaskClient:
    return helper_app.test_client()


def _sign_in(client: FlaskClient, user: User) -> None:
    response = client.post("/login", data={"email": user.email, "password": factories.PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize(("role", "status"), [(Role.OWNER, 200), (Role.MANAGER, 403)])
def test_require_role_lets_in_the_minimum_role_and_above(
    helper_client, session: Session, role: Role, status: int
) -> None:
    _sign_in(helper_client, factories.make_user(session, factories.make_tenant(session), role=role))
    assert helper_client.get("/owners-only").status_code == status


def test_require_role_sends_visitors_to_sign_in(helper_client) -> None:
    assert helper_client.get("/owners-only").headers["Location"] == "/login?next=/owners-only"


def test_tenant_get_needs_a_current_merchant(helper_client, session: Session) -> None:
    tenant = factories.make_tenant(session)
    member = factories.make_member(session, tenant)
    _sign_in(helper_client, factories.make_user(session, platform_admin=True))
    assert helper_client.get(f"/member/{member.id}").status_code == 404


def test_tenant_select_refuses_a_model_without_merchant_id(helper_client, session) -> None:
    _sign_in(helper_client, factories.make_user(session, factories.make_tenant(session)))
    # TESTING lets the programming error surface here instead of as a 500 page.
    with pytest.raises(TypeError, match="not tenant data"):
        helper_client.get("/users")
