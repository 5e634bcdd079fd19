"""A real Chromium builds a segment (live count), writes a campaign (live preview with SMS parts),
sends it and watches the progress bar; screenshots at desktop and phone widths.

Screenshots land in test-artifacts/, or in $SHOTS_DIR when set (campaigns-*.png).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select, update

from loyalty.models import Campaign, OutboxMessage, OutboxStatus
from loyalty.services.earn import earn
from tests.browser.conftest import (
    ARTIFACTS,
    PHONE,
    LiveServer,
    live_server,
    seed_business,
    seed_member,
)
from web.extensions import db

pytestmark = pytest.mark.browser

OWNER_EMAIL = "owner@campaigns.example.com"
OWNER_PASSWORD = "croissant-au-beurre-42"
SHOTS = Path(os.environ.get("SHOTS_DIR") or ARTIFACTS)
NAMES = ("Éloïse Muller", "Marc Weber", "Sofia Rossi", "Jan Schmit", "Lena Hoffmann", "Tom Klein")


def _seed(app: Flask) -> dict[str, Any]:
    with app.app_context():
        session = db.session
        business = seed_business(
            session,
            name="Boulangerie Dupont",
            email=OWNER_EMAIL,
            password=OWNER_PASSWORD,
            person="Claire Dupont",
        )
        shop, program = business.shop, business.program
        for n, name in enumerate(NAMES):
            member = seed_member(
                session,
                program,
                name=name,
                key=f"seed-{n}",
                phone=f"+35262100{n:04d}",
                email=f"m{n}@example.com",
                consents={"marketing_sms": True, "marketing_email": n % 2 == 0},
            )
            earn(
                session,
                member=member,
                amount_cents=1000 * (n + 1),
                idempotency_key=f"earn-{n}",
                shop=shop,
            )
        session.commit()
        return {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _page(chromium, server: LiveServer, viewport: dict[str, int]):
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/backoffice/**")
    return context, page, errors


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"campaigns-{name}.png"), full_page=True)


def test_segment_campaign_and_progress_in_a_real_browser(chromium, server: LiveServer) -> None:
    context, page, errors = _page(chromium, server, {"width": 1280, "height": 900})
    # The segment builder counts as you type.
    page.goto(f"{server.url}/backoffice/segments/new")
    count = page.get_by_test_id("segment-count")
    assert count.inner_text() == "6"
    page.get_by_label("Visits from").fill("1")
    page.get_by_label("Total spend from (€)").fill("30")
    expect(count).to_have_text("4")
    page.get_by_label("Name").fill("Regulars")
    _shot(page, "segment-builder")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url("**/backoffice/segments/*")

    # The editor previews each channel with its length; a long accented SMS takes 2 parts.
    page.goto(f"{server.url}/backoffice/campaigns/new")
    page.get_by_label("Name").fill("Spring croissants")
    page.get_by_label("Send to").select_option(label="Regulars")
    page.get_by_label("First try").select_option("sms")
    page.locator("#channel_2").select_option("email")
    page.locator("#channel_3").select_option("")
    page.get_by_label("E-mail subject").fill("Spring at {shop}")
    page.get_by_label("Message", exact=True).fill(
        "Bonjour {first_name} ! Vous avez {points} points. Cette semaine, deux croissants "
        "pour le prix d'un à {shop}. À bientôt !"
    )
    previews = page.get_by_test_id("campaign-previews")
    previews.get_by_text("SMS parts (UCS-2)").wait_for()
    page.get_by_label("Bonus points").fill("20")
    _shot(page, "editor")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/backoffice/campaigns/*")
    campaign_url = page.url

    page.get_by_role("link", name="Send now…").click()
    page.get_by_role("button", name="Send now").click()
    page.wait_for_url(campaign_url)
    assert page.get_by_test_id("count-queued").inner_text() == "4"
    # Half the messages go out while the page is open: the bar and counts follow.
    with server.app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        ids = db.session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.campaign_id == campaign.id)
            .order_by(OutboxMessage.id)
        ).all()
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids[:2]))
            .values(status=OutboxStatus.SENT, payload={"delivery_status": "delivered"})
        )
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == ids[2])
            .values(status=OutboxStatus.FAILED, last_error="twilio undelivered 30003")
        )
        db.session.commit()
    expect(page.get_by_test_id("count-sent")).to_have_text("2", timeout=15000)
    bar = page.locator("[data-part=sent]").locator("xpath=..")
    assert bar.evaluate("e => parseFloat(e.style.width)") == 50
    _shot(page, "progress")
    page.set_viewport_size(PHONE)
    _shot(page, "progress-phone")
    page.goto(f"{server.url}/backoffice/campaigns/new")
    _shot(page, "editor-phone")
    page.goto(f"{server.url}/backoffice/segments/new")
    page.get_by_label("Points from").fill("100")
    expect(page.get_by_test_id("segment-count")).to_have_text("0")
    expect(page.get_by_test_id("segment-count")).to_be_in_viewport()  # stays in view on phones
    page.screenshot(path=str(SHOTS / "campaigns-segment-builder-phone-typing.png"))
    _shot(page, "segment-builder-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not errors, errors
    context.close()


def test_an_automations_switch_says_whether_it_is_on(chromium, server: LiveServer) -> None:
    context, page, errors = _page(chromium, server, {"width": 1280, "height": 900})
    page.goto(f"{server.url}/backoffice/automations")
    switch = page.get_by_role("switch", name="Points-expiry reminder")
    state = page.locator("label[for=enabled-expiry_reminder]")
    expect(switch).to_be_checked()
    expect(state).to_have_text("On", use_inner_text=True)
    switch.uncheck()
    expect(state).to_have_text("Off", use_inner_text=True)
    # The merchant is told which placeholders the message may use.
    page.get_by_text("Placeholders: {first_name} {points} {tier} {reward}").first.wait_for()
    assert errors == []
    context.close()
