"""A merchant's own domain serves its join and member pages, branded, and nothing else."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import LoyaltyMember, Offering
from loyalty.services import member_access
from loyalty.services.actors import Actor
from loyalty.services.enroll import enroll
from loyalty.services.merchants import set_custom_domain
from tests import factories
from web.merchant_cli import merchants as merchants_cli

SHOP = "http://shop.example.com"
PLATFORM_NAME = "Loyalty platform"


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def human_speed(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "JOIN_MIN_SECONDS", 0)


@pytest.fixture
def tenant(app: Flask, session: Session) -> factories.Tenant:
    tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE, name="Boulangerie Dupont")
    tenant.program.primary_color = "#1d4ed8"
    set_custom_domain(
        session,
        merchant=tenant.merchant,
        domain="Shop.Example.com",
        actor=Actor.system("test"),
        platform_url=app.config["PUBLIC_BASE_URL"],
    )
    session.flush()
    return tenant


@pytest.fixture
def other(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, offering=Offering.ENTERPRISE, name="Café Lux")


def on_shop(client: FlaskClient, method: str, path: str, **kwargs):
    return client.open(path, method=method, base_url=SHOP, **kwargs)


@pytest.mark.parametrize("path", ["/", "/j", "/j/"])
def test_the_domain_root_and_j_serve_the_branded_join_page(client, tenant, path):
    response = on_shop(client, "GET", path)
    assert response.status_code == 200
    page = text(response)
    assert f"<title>Join · {tenant.program.name}</title>" in page
    assert f'href="/j/{tenant.program.slug}/theme.css"' in page
    assert f'action="/j/{tenant.program.slug}"' in page  # relative: stays on this host
    assert PLATFORM_NAME not in page


def test_the_theme_logo_and_assets_are_served_on_the_domain(client, tenant):
    slug = tenant.program.slug
    assert "--brand: #1d4ed8;" in text(on_shop(client, "GET", f"/j/{slug}/theme.css"))
    assert on_shop(client, "GET", f"/wallet/programs/{slug}/logo.png").status_code == 200
    assert on_shop(client, "GET", "/static/app.css").status_code == 200


def test_joining_on_the_domain_stays_on_the_domain(client, session, tenant):
    slug = tenant.program.slug
    page = text(on_shop(client, "GET", "/"))
    hidden = dict(
        re.findall(r'<input id="(started|key)" name="\1" type="hidden" value="([^"]*)"', page)
    )
    response = on_shop(
        client,
        "POST",
        f"/j/{slug}",
        data=hidden | {"name": "Ann", "email": "ann@example.com", "terms": "y", "language": "en"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/j/{slug}/welcome"
    welcome = on_shop(client, "GET", f"/j/{slug}/welcome")
    assert welcome.status_code == 200
    assert PLATFORM_NAME not in text(welcome)
    assert session.scalar(
        select(LoyaltyMember.id).where(LoyaltyMember.program_id == tenant.program.id)
    )


def test_member_pages_work_under_the_same_paths_on_the_domain(app, client, session, tenant):
    member = enroll(
        session,
        program=tenant.program,
        idempotency_key="join-ann",
        terms_accepted=True,
        name="Ann Weber",
        email="ann@example.com",
    )
    token = member_access.issue_link(session, member=member, secret_key=app.config["SECRET_KEY"])
    slug = tenant.program.slug
    opened = on_shop(client, "POST", f"/p/{slug}/in/{token}")
    assert opened.status_code == 303
    assert opened.headers["Location"] == f"/p/{slug}"
    card = on_shop(client, "GET", f"/p/{slug}")
    assert card.status_code == 200
    assert member.card_number[:4] in text(card)
    assert PLATFORM_NAME not in text(card)
    missing = on_shop(client, "GET", f"/p/{slug}/vouchers/NOPE-NOPE")
    assert missing.status_code == 404
    assert tenant.program.name in text(missing)  # the site's own error page, in its colours
    assert PLATFORM_NAME not in text(missing)


@pytest.mark.parametrize(
    "path",
    [
        "/j/{other}",
        "/p/{other}",
        "/p/{other}/terms",
        "/j/{other}/theme.css",
        "/wallet/programs/{other}/logo.png",
    ],
)
def test_another_merchants_programme_is_a_404_on_the_domain(client, tenant, other, path):
    response = on_shop(client, "GET", path.format(other=other.program.slug))
    assert response.status_code == 404
    page = text(response)
    assert other.merchant.name not in page
    assert PLATFORM_NAME not in page
    assert tenant.program.name in page


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/backoffice/",
        "/staff/",
        "/admin/",
        "/api/v1/members",
        "/switch-business",
        "/no-such-page",
    ],
)
def test_platform_pages_are_not_reachable_on_the_domain(client, tenant, path):
    response = on_shop(client, "GET", path)
    assert response.status_code == 404
    assert "password" not in text(response).lower()
    assert PLATFORM_NAME not in text(response)


def test_sign_in_cannot_be_posted_on_the_domain(client, tenant):
    response = on_shop(client, "POST", "/login", data={"email": "a@b.c", "password": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("offering", [Offering.BASIC, Offering.PLUS])
def test_a_downgraded_merchants_stored_domain_is_not_served(client, session, tenant, offering):
    tenant.merchant.offering = offering
    session.flush()
    for path in ("/", f"/j/{tenant.program.slug}", f"/p/{tenant.program.slug}"):
        response = on_shop(client, "GET", path)
        assert response.status_code == 404
        page = text(response)
        assert "No loyalty programme is served at this address" in page
        assert tenant.merchant.name not in page
        assert PLATFORM_NAME not in page
    assert on_shop(client, "GET", "/static/app.css").status_code == 200  # the page's styles
    assert tenant.merchant.custom_domain == "shop.example.com"


def test_the_platform_host_is_unchanged(client, tenant, other):
    front = client.get("/")
    assert front.status_code == 302
    assert front.headers["Location"].endswith("/login")
    assert client.get("/login").status_code == 200
    for program in (tenant.program, other.program):
        assert client.get(f"/j/{program.slug}").status_code == 200


def test_an_unknown_host_is_treated_like_the_platform(client, tenant, other):
    response = client.get("/", base_url="http://elsewhere.example.org")
    assert response.status_code == 302
    assert (
        client.get(f"/j/{other.program.slug}", base_url="http://elsewhere.example.org").status_code
        == 200
    )


def test_the_host_is_matched_without_case_port_or_final_dot(client, tenant):
    for base in (
        "http://SHOP.example.com",
        "http://shop.example.com:8080",
        "http://shop.example.com.",
    ):
        response = client.get("/", base_url=base)
        assert response.status_code == 200, base
        assert "Join ·" in text(response)


def test_the_cli_sets_and_clears_a_domain(app, session, other):
    runner = app.test_cli_runner()
    result = runner.invoke(merchants_cli, ["set-domain", other.merchant.slug, "Club.Example.org"])
    assert result.exit_code == 0, result.output
    assert "https://club.example.org/" in result.output
    assert other.merchant.custom_domain == "club.example.org"
    result = runner.invoke(merchants_cli, ["set-domain", other.merchant.slug, "-"])
    assert result.exit_code == 0, result.output
    assert other.merchant.custom_domain is None


def test_the_cli_explains_a_refusal(app, session, tenant, other):
    runner = app.test_cli_runner()
    taken = runner.invoke(merchants_cli, ["set-domain", other.merchant.slug, "shop.example.com"])
    assert taken.exit_code != 0
    assert "already in use" in taken.output
    assert tenant.merchant.name not in taken.output
    unknown = runner.invoke(merchants_cli, ["set-domain", "no-such-merchant", "a.example.org"])
    assert unknown.exit_code != 0
    assert "No merchant with the slug" in unknown.output
