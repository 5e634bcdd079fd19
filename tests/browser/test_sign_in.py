"""A real Chromium signs in to a real server and reaches the back-office; screenshots for people.

The app runs on 127.0.0.1 in a thread with a migrated file SQLite database, CSRF switched on,
exactly as it serves pages in production. Screenshots land in test-artifacts/ (gitignored)
at desktop and phone widths.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from loyalty.services import merchants
from loyalty.services.earn import earn
from tests.browser.conftest import ARTIFACTS, LiveServer, live_server, seed_business, seed_member
from web.extensions import db

pytestmark = pytest.mark.browser

OWNER_EMAIL = "owner@dupont.example.com"
OWNER_PASSWORD = "croissant-au-beurre-42"
MERCHANT_NAME = "Boulangerie Dupont"


def _seed(app: Flask) -> dict[str, Any]:
    """One merchant with an owner, two shops and a member with some history, via the services."""
    with app.app_context():
        session = db.session
        business = seed_business(
            session,
            name=MERCHANT_NAME,
            email=OWNER_EMAIL,
            password=OWNER_PASSWORD,
            person="Claire Dupont",
            address="12 Grand-Rue, Luxembourg",
        )
        main = business.shop
        merchants.create_shop(
            session, merchant=business.merchant, name="Gare", address="Place de la Gare"
        )
        member = seed_member(
            session, business.program, name="Éloïse Muller", email="eloise@example.com"
        )
        for n, cents in enumerate((1250, 480, 2675)):
            earn(session, member=member, amount_cents=cents, idempotency_key=f"seed-{n}", shop=main)
        session.commit()
        return {"member_id": member.id}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


@pytest.fixture(scope="module")
def browser(chromium):
    return chromium


def _sign_in(page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("E-mail").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/backoffice/")


def _open_menu(page) -> None:
    page.get_by_role("button", name="Show menu").click()
    page.locator("#main-nav.show").wait_for()  # .show lands when the slide-down has finished


@pytest.mark.parametrize(
    ("device", "viewport"),
    [("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})],
)
def test_owner_signs_in_and_sees_the_backoffice(
    browser, server: LiveServer, device, viewport
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(
        viewport=viewport, device_scale_factor=2 if device == "phone" else 1
    )
    page = context.new_page()
    # A CSP violation or a missing asset shows up as a console error: there must be none.
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"{server.url}/")
        assert page.url == f"{server.url}/login"
        page.screenshot(path=ARTIFACTS / f"sign-in-{device}.png", full_page=True)

        _sign_in(page, server)
        assert page.get_by_role("heading", level=1).inner_text() == MERCHANT_NAME
        assert page.get_by_test_id("member-count").inner_text() == "1"
        page.screenshot(path=ARTIFACTS / f"backoffice-{device}.png", full_page=True)

        if device == "phone":  # the menu hides behind the toggler; Bootstrap's JS opens it
            _open_menu(page)
            page.screenshot(path=ARTIFACTS / f"menu-{device}.png")

        page.goto(f"{server.url}/backoffice/members/{server.data['member_id']}")
        assert (
            page.get_by_test_id("balance").inner_text() == "42 pts"
        )  # 12 + 4 + 26, each purchase floored
        page.screenshot(path=ARTIFACTS / f"member-{device}.png", full_page=True)

        page.goto(f"{server.url}/backoffice/members/{server.data['member_id'] + 1000}")
        assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
        page.screenshot(path=ARTIFACTS / f"not-found-{device}.png", full_page=True)
        problems[:] = [p for p in problems if "404" not in p]  # the console reports the status

        if device == "phone":
            _open_menu(page)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{server.url}/login")
        assert "You are signed out." in page.content()
    finally:
        context.close()
    assert not problems, problems


def test_wrong_password_shows_the_generic_message(browser, server: LiveServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server.url}/login")
        page.get_by_label("E-mail").fill(OWNER_EMAIL)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        assert "do not match an account" in alert.inner_text()
        assert page.url.startswith(f"{server.url}/login")
    finally:
        context.close()
