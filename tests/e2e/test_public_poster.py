"""The counter poster: per shop, in the back-office, with the join QR code and the Telegram link."""

from __future__ import annotations

import pytest
from flask import Flask

from loyalty.models import Role
from tests import factories


@pytest.fixture
def tenant(session):
    return factories.make_tenant(session, name="Boulangerie Dupont")


def test_the_owner_prints_a_poster_with_the_join_link_and_telegram(
    client, session, login_as, tenant
):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = client.get(f"/backoffice/shops/{tenant.shop.id}/poster")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"http://127.0.0.1:5000/j/{tenant.program.slug}" in page
    assert f"https://t.me/LoyaltyDemoBot?start=join_{tenant.program.join_code}" in page
    assert f"/j/{tenant.program.slug}/qr.png" in page
    assert "poster-a4" in page
    assert "poster-a5" in client.get(f"/backoffice/shops/{tenant.shop.id}/poster?size=a5").get_data(
        as_text=True
    )


def test_the_bot_username_comes_from_the_environment(
    client, session, login_as, tenant, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "@DupontBot")
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    page = client.get(f"/backoffice/shops/{tenant.shop.id}/poster").get_data(as_text=True)
    assert f"https://t.me/DupontBot?start=join_{tenant.program.join_code}" in page


def test_staff_and_other_merchants_get_no_poster(client, session, login_as, tenant):
    other = factories.make_tenant(session)
    login_as(factories.make_user(session, other, role=Role.OWNER))
    assert client.get(f"/backoffice/shops/{tenant.shop.id}/poster").status_code == 404
    client.post("/logout")
    login_as(factories.make_user(session, tenant, role=Role.STAFF))
    assert client.get(f"/backoffice/shops/{tenant.shop.id}/poster").status_code == 403


def test_the_join_qr_codes_are_png_images(app: Flask, client, tenant):
    for path in ("qr.png", "telegram.png"):
        response = client.get(f"/j/{tenant.program.slug}/{path}")
        assert response.status_code == 200
        assert response.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_shop_page_links_to_its_counter_poster(session, client, login_as) -> None:
    from loyalty.models import Role

    tenant = factories.make_tenant(session)
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    page = client.get(f"/backoffice/shops/{tenant.shop.id}").get_data(as_text=True)
    assert f"/backoffice/shops/{tenant.shop.id}/poster" in page
