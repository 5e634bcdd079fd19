"""Carry-over and pending points as the cashier and the member see them, in a real Chromium.

A bakery gives 1 point per €5, carries the remainder over and holds points for a 14-day return
window. The cashier scans a card and rings up €32: the receipt shows 6 points pending, when they
become available and the €2 that counts towards the next point; the member's card page says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask

from loyalty.models import Role
from loyalty.services import lookup
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

CASHIER_EMAIL = "cashier@hoffmann.example.com"
CASHIER_PASSWORD = "tarte-aux-pommes-9"


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        program = seed_business(
            session,
            name="Boulangerie Hoffmann",
            email=CASHIER_EMAIL,
            password=CASHIER_PASSWORD,
            person="Marc",
            role=Role.STAFF,
        ).program
        program.points_per_euro = Decimal("0.2")
        program.carry_over_spend = True
        program.pending_days = 14
        member = seed_member(session, program, name="Jeanne Weber", email="jeanne@example.com")
        secret = app.config["SECRET_KEY"]
        data = {
            "member_id": member.id,
            "token": lookup.qr_token(member, secret.encode()),
            "card_link": card_link(session, app, member),
            "slug": program.slug,
        }
        session.commit()
        return data


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def test_receipt_and_card_show_pending_points_and_spend_carried_over(chromium, server):
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2)
    till = context.new_page()
    till.goto(f"{server.url}/login")
    till.get_by_label("E-mail").fill(CASHIER_EMAIL)
    till.get_by_label("Password").fill(CASHIER_PASSWORD)
    till.get_by_role("button", name="Sign in").click()
    till.wait_for_url(f"{server.url}/staff/")
    till.locator("#query").fill(server.data["token"])
    till.keyboard.press("Enter")
    till.wait_for_url(f"{server.url}/staff/members/{server.data['member_id']}")
    till.locator("#amount").fill("32.00")
    till.get_by_test_id("preview").filter(has_text="+6 points").wait_for()
    till.get_by_test_id("confirm-earn").click()
    till.wait_for_url("**/staff/receipts/*")
    assert till.get_by_test_id("points").inner_text() == "+6"
    assert till.get_by_test_id("balance").inner_text() == "0 pts"  # pending, not spendable
    assert till.get_by_test_id("pending-until").inner_text()  # the release date
    assert till.get_by_test_id("carry").inner_text() == "€2.00"
    till.screenshot(path=ARTIFACTS / "mechanics-receipt.png", full_page=True)

    card = chromium.new_context(viewport=PHONE, device_scale_factor=2).new_page()
    card.goto(server.url + server.data["card_link"])
    card.get_by_role("button", name="Open my card").click()
    card.wait_for_url(f"{server.url}/p/{server.data['slug']}")
    assert "6 more points become available on" in card.get_by_test_id("pending").inner_text()
    assert "€2.00 of spending already counts" in card.get_by_test_id("carry").inner_text()
    card.screenshot(path=ARTIFACTS / "mechanics-card.png", full_page=True)
    context.close()
