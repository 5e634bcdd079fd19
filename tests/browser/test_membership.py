"""A paid membership renewed at the till, in a real Chromium: the card had lapsed, the cashier
sees why it cannot earn and presses "Renew membership – €30.00"; the member's card page then
shows the new valid-until date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask

from loyalty.db import utcnow
from loyalty.models import Role
from loyalty.services import lookup, membership, merchants
from loyalty.services.actors import Actor
from tests.browser.conftest import (
    ARTIFACTS,
    PHONE,
    LiveServer,
    card_link,
    live_server,
    seed_business,
    seed_member,
)
from web.extensions import db

pytestmark = pytest.mark.browser

CASHIER_EMAIL = "cashier@gym-sport.example.com"
CASHIER_PASSWORD = "kettlebell-swing-12"
OWNER_EMAIL = "owner@gym-sport.example.com"


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        business = seed_business(
            session,
            name="Sport Wagner",
            shop="Gare",
            email=CASHIER_EMAIL,
            password=CASHIER_PASSWORD,
            person="Lena",
            role=Role.STAFF,
        )
        cashier, program = business.person, business.program
        owner = merchants.create_user(
            session, email=OWNER_EMAIL, password=CASHIER_PASSWORD, name="Paul"
        )
        merchants.add_membership(session, user=owner, merchant=business.merchant, role=Role.OWNER)
        program.paid_membership = True
        program.membership_price_cents = 3000
        program.membership_months = 12
        member = seed_member(session, program, name="Jonas Becker", email="jonas@example.com")
        # Paid a year and a bit ago: the card ran out last month.
        membership.renew(
            session,
            member=member,
            actor=Actor(user_id=cashier.id, role=Role.STAFF),
            idempotency_key="seed-renewal",
            now=utcnow() - timedelta(days=400),
        )
        secret = app.config["SECRET_KEY"]
        data = {
            "member_id": member.id,
            "token": lookup.qr_token(member, secret.encode()),
            # One sign-in link per visit: a link opens the card once.
            "card_links": [card_link(session, app, member) for _ in range(4)],
            "slug": program.slug,
        }
        session.commit()
        return data


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _sign_in(page, url: str, email: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(CASHIER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_renewing_at_the_till_shows_the_new_valid_until_on_the_card_page(chromium, server):
    ARTIFACTS.mkdir(exist_ok=True)
    shots = ARTIFACTS
    links = iter(server.data["card_links"])
    for name, viewport in (("phone", PHONE), ("desktop", {"width": 1280, "height": 900})):
        context = chromium.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(server.url + next(links))
        page.get_by_role("button", name="Open my card").click()
        page.wait_for_url(f"{server.url}/p/{server.data['slug']}")
        assert "Your membership expired on" in page.get_by_test_id("membership").inner_text()
        page.screenshot(path=shots / f"membership-card-lapsed-{name}.png", full_page=True)
        context.close()

    context = chromium.new_context(viewport=PHONE, device_scale_factor=2)
    till = context.new_page()
    _sign_in(till, server.url, CASHIER_EMAIL)
    till.wait_for_url(f"{server.url}/staff/")
    till.locator("#query").fill(server.data["token"])
    till.keyboard.press("Enter")
    till.wait_for_url(f"{server.url}/staff/members/{server.data['member_id']}")
    assert "Membership expired" in till.get_by_test_id("membership").inner_text()
    assert till.locator("#earn-form").count() == 0  # no purchase on a lapsed card
    till.screenshot(path=shots / "membership-till-lapsed-phone.png", full_page=True)
    till.get_by_role("button", name="Renew membership – €30.00").click()
    till.get_by_test_id("valid-until").wait_for()
    new_until = till.get_by_test_id("valid-until").inner_text()
    expected = (utcnow() + timedelta(days=365)).strftime("%Y")
    assert expected in new_until
    assert till.locator("#earn-form").count() == 1
    till.screenshot(path=shots / "membership-till-renewed-phone.png", full_page=True)
    context.close()

    for name, viewport in (("phone", PHONE), ("desktop", {"width": 1280, "height": 900})):
        context = chromium.new_context(viewport=viewport)
        card = context.new_page()
        card.goto(server.url + next(links))
        card.get_by_role("button", name="Open my card").click()
        card.wait_for_url(f"{server.url}/p/{server.data['slug']}")
        assert card.get_by_test_id("valid-until").inner_text() == new_until
        card.screenshot(path=shots / f"membership-card-renewed-{name}.png", full_page=True)
        context.close()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    office = context.new_page()
    _sign_in(office, server.url, OWNER_EMAIL)
    office.wait_for_url(lambda url: "/login" not in url)
    office.goto(f"{server.url}/backoffice/members/{server.data['member_id']}")
    assert new_until in office.get_by_test_id("membership-status").inner_text()
    office.screenshot(path=shots / "membership-backoffice-desktop.png", full_page=True)
    office.set_viewport_size(PHONE)
    office.screenshot(path=shots / "membership-backoffice-phone.png", full_page=True)
    office.set_viewport_size({"width": 1280, "height": 900})
    office.goto(f"{server.url}/backoffice/settings")
    section = office.locator("#paid-membership")
    assert section.get_by_label("Paid membership").is_checked()
    assert section.get_by_label("Price of a period (€)").input_value() == "30.00"
    section.screenshot(path=shots / "membership-settings-desktop.png")
    context.close()
