"""A stamp card as the cashier and the member see it, in a real Chromium, on a phone and a desktop.

A café runs "one stamp per item, the 10th is a free coffee". Lina already has 8 stamps. The
cashier scans her card and rings up 3 coffees: the preview says the card fills, the receipt
shows the free-coffee voucher and the new card with 1 stamp; Lina's card page shows the grid.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from loyalty.models import Offering, ProgramKind, Reward, RewardType, Role, StampPer
from loyalty.services import lookup, merchants
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, card_link, live_server
from web.extensions import db

pytestmark = pytest.mark.browser

CASHIER_EMAIL = "cashier@cafe-lune.example.com"
CASHIER_PASSWORD = "cafe-au-lait-77"
OWNER_EMAIL = "owner@cafe-lune.example.com"
OWNER_PASSWORD = "croissant-et-cafe-12"
DESKTOP = {"width": 1280, "height": 900}


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        merchant = merchants.create_merchant(session, name="Café Lune", offering=Offering.PLUS)
        shop = merchants.create_shop(session, merchant=merchant, name="Place d'Armes")
        cashier = merchants.create_user(
            session, email=CASHIER_EMAIL, password=CASHIER_PASSWORD, name="Tom"
        )
        merchants.add_membership(
            session, user=cashier, merchant=merchant, role=Role.STAFF, shop=shop
        )
        owner = merchants.create_user(
            session, email=OWNER_EMAIL, password=OWNER_PASSWORD, name="Claire"
        )
        merchants.add_membership(session, user=owner, merchant=merchant, role=Role.OWNER)
        program = merchants.program_of(session, merchant)
        coffee = Reward(
            merchant_id=merchant.id,
            program_id=program.id,
            name="Free coffee",
            type=RewardType.FREE_ITEM,
            points_cost=1,
        )
        session.add(coffee)
        session.flush()
        program.kind = ProgramKind.STAMPS
        program.stamp_card_size = 10
        program.stamp_per = StampPer.ITEM
        program.stamp_reward_id = coffee.id
        member = enroll(
            session,
            program=program,
            idempotency_key="seed-member",
            terms_accepted=True,
            name="Lina Schmit",
            email="lina@example.com",
        )
        earn(session, member=member, amount_cents=2_400, items=8, idempotency_key="earlier")
        secret = app.config["SECRET_KEY"]
        data = {
            "member_id": member.id,
            "token": lookup.qr_token(member, secret.encode()),
            # A sign-in link opens the card once: one for each viewport.
            "card_links": {name: card_link(session, app, member) for name in ("phone", "desktop")},
            "slug": program.slug,
        }
        session.commit()
        return data


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _sign_in_at_the_till(page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(CASHIER_EMAIL)
    page.get_by_label("Password").fill(CASHIER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/staff/")


@pytest.mark.parametrize(("viewport", "name"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_the_till_and_the_card_page_show_the_stamp_grid(chromium, server, viewport, name):
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport=viewport, device_scale_factor=2)
    till = context.new_page()
    _sign_in_at_the_till(till, server)
    till.locator("#query").fill(server.data["token"])
    till.keyboard.press("Enter")
    till.wait_for_url(f"{server.url}/staff/members/{server.data['member_id']}")
    grid = till.get_by_test_id("stamp-grid")
    stamped = int(grid.get_attribute("data-stamps"))
    assert grid.locator("li").count() == 10
    assert grid.locator("li.is-stamped").count() == stamped
    till.screenshot(path=ARTIFACTS / f"stamps-till-{name}.png", full_page=True)

    till.locator("#amount").fill("9.00")
    till.get_by_test_id("items").fill("3")
    till.get_by_test_id("preview").filter(has_text="+3 stamps").wait_for()
    till.get_by_test_id("confirm-earn").click()
    till.wait_for_url("**/staff/receipts/*")
    assert till.get_by_test_id("points").inner_text() == "+3"
    after = (stamped + 3) % 10
    receipt_grid = till.get_by_test_id("receipt-stamps").get_by_test_id("stamp-grid")
    assert receipt_grid.locator("li.is-stamped").count() == after
    if stamped + 3 >= 10:
        assert "Free coffee" in till.get_by_test_id("card-voucher").inner_text()
    till.screenshot(path=ARTIFACTS / f"stamps-receipt-{name}.png", full_page=True)

    card = context.new_page()
    card.goto(server.url + server.data["card_links"][name])
    card.get_by_role("button", name="Open my card").click()
    card.wait_for_url(f"{server.url}/p/{server.data['slug']}")
    assert card.get_by_test_id("balance").inner_text() == f"{after} of 10 stamps"
    assert card.get_by_test_id("stamp-grid").locator("li.is-stamped").count() == after
    summary = card.get_by_test_id("stamp-summary").inner_text()
    assert f"{10 - after} more stamps for Free coffee" in summary
    card.screenshot(path=ARTIFACTS / f"stamps-card-{name}.png", full_page=True)
    context.close()


@pytest.mark.parametrize(("viewport", "name"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_the_owner_sees_the_stamp_card_settings_and_the_members_grid(
    chromium, server, viewport, name
):
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport=viewport, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.goto(f"{server.url}/backoffice/settings")
    assert page.get_by_label("Programme type").input_value() == "stamps"
    assert page.get_by_label("Stamps for a full card").input_value() == "10"
    assert page.get_by_label("A full card gives").locator("option:checked").inner_text() == (
        "Free coffee"
    )
    page.get_by_test_id("programme-type").screenshot(path=ARTIFACTS / f"stamps-settings-{name}.png")
    page.goto(f"{server.url}/backoffice/members/{server.data['member_id']}")
    grid = page.get_by_test_id("stamp-grid")
    assert grid.locator("li").count() == 10
    page.screenshot(path=ARTIFACTS / f"stamps-backoffice-member-{name}.png", full_page=True)
    context.close()
