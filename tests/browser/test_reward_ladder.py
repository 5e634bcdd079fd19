"""The reward ladder on the member's card and a once-per-member reward at the till, in Chromium.

A bakery offers a welcome coffee (100 points, once per member), a croissant box (250) and a
cake (500). Jeanne holds 260 points: her card shows the ladder with the cake next. Two till
tabs have her page open; the first redeems the coffee, the second, still showing the button,
is refused with the reason and nothing changes; her card then shows the coffee as used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from loyalty.models import LoyaltyMember, Offering, RedemptionLimit, Reward, Role
from loyalty.services import lookup, merchants
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, card_link, live_server
from web.extensions import db

pytestmark = pytest.mark.browser

CASHIER_EMAIL = "cashier@weber.example.com"
CASHIER_PASSWORD = "pain-au-chocolat-7"
DESKTOP = {"width": 1280, "height": 900}
SHOTS = Path("/work/team/shots")


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        merchant = merchants.create_merchant(
            session, name="Boulangerie Weber", offering=Offering.PLUS
        )
        shop = merchants.create_shop(session, merchant=merchant, name="Place d'Armes")
        cashier = merchants.create_user(
            session, email=CASHIER_EMAIL, password=CASHIER_PASSWORD, name="Paul"
        )
        merchants.add_membership(
            session, user=cashier, merchant=merchant, role=Role.STAFF, shop=shop
        )
        program = merchants.program_of(session, merchant)
        for name, cost, limit in (
            ("Welcome coffee", 100, RedemptionLimit.ONCE),
            ("Croissant box", 250, RedemptionLimit.REPEATABLE),
            ("Birthday cake", 500, RedemptionLimit.REPEATABLE),
        ):
            session.add(
                Reward(
                    merchant_id=merchant.id,
                    program_id=program.id,
                    name=name,
                    points_cost=cost,
                    value=300,
                    redemption_limit=limit,
                )
            )
        member = enroll(
            session,
            program=program,
            idempotency_key="seed-member",
            terms_accepted=True,
            name="Jeanne Weber",
            email="jeanne@example.com",
        )
        earn(session, member=member, amount_cents=26_000, idempotency_key="seed-earn", shop=shop)
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


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"ladders-{name}.png", full_page=True)
    if SHOTS.is_dir():
        page.screenshot(path=SHOTS / f"ladders-{name}.png", full_page=True)


def _open_card(chromium, server: LiveServer, viewport: dict):
    """The member's card page, opened once with the single-use link."""
    page = chromium.new_context(viewport=viewport, device_scale_factor=1).new_page()
    page.goto(server.url + server.data["card_link"])
    page.get_by_role("button", name="Open my card").click()
    page.wait_for_url(f"{server.url}/p/{server.data['slug']}")
    return page


def test_card_shows_the_ladder_and_the_till_refuses_a_second_once_per_member_reward(
    chromium, server
):
    card = _open_card(chromium, server, PHONE)
    ladder = card.get_by_test_id("ladder")
    assert (
        "Next reward: Birthday cake in 240 pts" in ladder.get_by_test_id("next-reward").inner_text()
    )
    assert card.locator("#ladder-progress").get_attribute("value") == "52"  # 260 of 500
    states = [r.get_attribute("data-state") for r in ladder.get_by_test_id("rung").all()]
    assert states == ["ready", "ready", "ahead"]
    _shot(card, "card-phone")
    card.set_viewport_size(DESKTOP)
    _shot(card, "card-desktop")
    card.set_viewport_size(PHONE)

    till_context = chromium.new_context(viewport=DESKTOP)
    first = till_context.new_page()
    first.goto(f"{server.url}/login")
    first.get_by_label("E-mail").fill(CASHIER_EMAIL)
    first.get_by_label("Password").fill(CASHIER_PASSWORD)
    first.get_by_role("button", name="Sign in").click()
    first.wait_for_url(f"{server.url}/staff/")
    member_url = f"{server.url}/staff/members/{server.data['member_id']}"
    second = till_context.new_page()  # a second till tab with the same customer open
    second.goto(member_url)
    first.goto(member_url)

    coffee = "form:has(input[name=reward]) >> nth=0"
    first.locator(coffee).get_by_role("button", name="Redeem").click()
    first.wait_for_url("**/staff/receipts/*")

    second.locator(coffee).get_by_role("button", name="Redeem").click()
    refusal = second.get_by_role("alert")
    refusal.wait_for()
    text = refusal.inner_text()
    assert "“Welcome coffee” can be redeemed once per member" in text
    assert "Nothing was changed." in text
    _shot(second, "till-refused")
    with server.app.app_context():
        assert db.session.get(LoyaltyMember, server.data["member_id"]).points_balance == 160

    second.reload()
    assert "Welcome coffee (once per member)" in second.get_by_test_id("used-rewards").inner_text()
    second.set_viewport_size(PHONE)
    _shot(second, "till-phone")

    card.reload()
    states = [r.get_attribute("data-state") for r in card.get_by_test_id("rung").all()]
    assert states == ["used", "ahead", "ahead"]
    assert "Next reward: Croissant box in 90 pts" in card.get_by_test_id("next-reward").inner_text()
    _shot(card, "card-used-phone")
    till_context.close()
