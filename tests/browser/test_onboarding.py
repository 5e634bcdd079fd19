"""A new business goes from sign-up to a live programme in a real Chromium, on a real server.

Sign up → offering → programme → shop → invite a member of staff → (the invitation link read
from the sent-mail page) the invitee accepts in a browser of their own and signs in → first
promotion → checklist → live. The outbox is delivered by running the worker's Deliverer with
the local-log sender, as the worker does without SMTP settings. Screenshots of every step at
desktop and phone width land in test-artifacts/ (and in $ONBOARD_SHOTS when set).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from loyalty.models import OutboxChannel
from loyalty.notify.delivery import Deliverer
from loyalty.notify.senders import LocalLogSender
from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, live_server
from web.extensions import db

pytestmark = pytest.mark.browser

OWNER = {"email": "claire@lumiere.example.com", "password": "croissant-au-beurre-42"}
STAFF = {"email": "tom@lumiere.example.com", "password": "baguette-tradition-7"}
DESKTOP = {"width": 1280, "height": 900}
SHOTS = [ARTIFACTS] + (
    [Path(os.environ["ONBOARD_SHOTS"])] if os.environ.get("ONBOARD_SHOTS") else []
)


def _seed(app: Flask) -> dict[str, Any]:
    return {}  # the test creates everything through the pages


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def shot(page, name: str) -> None:
    for folder in SHOTS:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"onboard-{name}.png"), full_page=True)


def deliver_mail(server: LiveServer) -> None:
    with server.app.app_context():
        Deliverer({OutboxChannel.EMAIL: LocalLogSender("email")}).run(db.session)
        db.session.remove()


def logo_file(tmp_path: Path) -> str:
    path = tmp_path / "logo.png"
    image = Image.new("RGB", (240, 240), "#2a4b7a")
    image.paste(Image.new("RGB", (120, 120), "#f5c542"), (60, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_a_business_signs_up_and_goes_live(chromium, server: LiveServer, tmp_path: Path) -> None:
    errors: list[str] = []
    owner_context = chromium.new_context(viewport=DESKTOP)
    page = owner_context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    url = server.url

    # Sign up, from the sign-in page.
    page.goto(f"{url}/login")
    page.get_by_role("link", name="Create a loyalty programme for your business").click()
    page.get_by_label("Business name").fill("Café Lumière")
    page.get_by_label("Your name").fill("Claire Martin")
    page.get_by_label("Your e-mail").fill(OWNER["email"])
    page.get_by_label("Password", exact=True).fill(OWNER["password"])
    page.get_by_label("Repeat the password").fill(OWNER["password"])
    shot(page, "1-signup-desktop")
    page.get_by_role("button", name="Create my account").click()

    # Offering: the three side by side; Plus chosen.
    page.wait_for_url(f"{url}/backoffice/offering")
    assert page.get_by_role("columnheader", name="Enterprise").is_visible()
    shot(page, "2-offering-desktop")
    page.get_by_role("button", name="Choose Plus").click()

    # Programme settings.
    page.wait_for_url(f"{url}/backoffice/settings")
    page.get_by_label("Programme name").fill("Lumière Club")
    page.get_by_label("Points per euro spent").fill("2")
    page.get_by_label("Points expiry").select_option("after_days")
    page.get_by_label("Days until points expire").fill("365")
    page.get_by_label("Sign-up bonus (points)").fill("50")
    page.get_by_label("Birthday bonus (points)").fill("100")
    page.get_by_label("Logo (PNG or JPEG, up to 2 MB)").set_input_files(logo_file(tmp_path))
    shot(page, "3-programme-desktop")
    page.get_by_role("button", name="Save settings").click()

    # First shop.
    page.wait_for_url(f"{url}/backoffice/shops/new")
    page.get_by_label("Shop name").fill("Grand-Rue")
    page.get_by_label("Address").fill("12 Grand-Rue, 1660 Luxembourg")
    shot(page, "4-shop-desktop")
    page.get_by_role("button", name="Add the shop").click()

    # Invite a member of staff for that shop.
    page.wait_for_url(f"{url}/backoffice/staff")
    page.get_by_label("E-mail").fill(STAFF["email"])
    page.get_by_label("Role").select_option("staff")
    page.get_by_label("Shop", exact=True).select_option(label="Grand-Rue")
    shot(page, "5-team-desktop")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_url(f"{url}/backoffice/launch")

    # The worker delivers to the local log; the owner reads the link on the sent-mail page.
    deliver_mail(server)
    page.goto(f"{url}/backoffice/mail")
    page.get_by_text("Read the message").first.click()
    text = page.locator(".mail-text").first.inner_text()
    link = re.search(r"http://\S+/invitations/\S+", text).group(0)
    shot(page, "6-sent-mail-desktop")

    # The invitee, in a browser of their own: sets a password, then signs in.
    staff_context = chromium.new_context(viewport=PHONE)
    invitee = staff_context.new_page()
    invitee.goto(link.replace("http://127.0.0.1:5000", url))
    assert invitee.get_by_role("heading", name="Join Café Lumière").is_visible()
    invitee.get_by_label("Your name").fill("Tom Weber")
    invitee.get_by_label("Password", exact=True).fill(STAFF["password"])
    invitee.get_by_label("Repeat the password").fill(STAFF["password"])
    shot(invitee, "7-accept-phone")
    invitee.get_by_role("button", name="Create my account").click()
    invitee.wait_for_url(re.compile(rf"{re.escape(url)}/login.*"))
    assert invitee.get_by_label("E-mail").input_value() == STAFF["email"]
    invitee.get_by_label("Password").fill(STAFF["password"])
    invitee.get_by_role("button", name="Sign in").click()
    invitee.wait_for_url(f"{url}/staff/")
    assert "Grand-Rue" in invitee.content()
    shot(invitee, "8-staff-signed-in-phone")
    staff_context.close()

    # A first promotion, from the checklist, back to the checklist.
    page.goto(f"{url}/backoffice/launch")
    page.locator('[data-step="promotion"]').get_by_role("link").click()
    page.get_by_label("Name").fill("Welcome bonus")
    page.get_by_label("Type").select_option("bonus_points")
    page.get_by_label("Value").fill("50")
    page.get_by_role("button", name="Save promotion").click()
    page.wait_for_url(f"{url}/backoffice/launch")

    # Everything done: go live.
    for step in ("offering", "programme", "shop", "staff", "promotion"):
        assert page.locator(f'[data-step="{step}"] .badge').inner_text() == "Done", step
    shot(page, "9-checklist-desktop")
    page.get_by_role("button", name="Go live").click()
    page.get_by_test_id("live-badge").wait_for()
    shot(page, "10-live-desktop")

    # The same pages on a phone, for people to look at.
    phone = chromium.new_context(viewport=PHONE)
    mobile = phone.new_page()
    mobile.goto(f"{url}/signup")
    shot(mobile, "1-signup-phone")
    mobile.goto(f"{url}/login")
    mobile.get_by_label("E-mail").fill(OWNER["email"])
    mobile.get_by_label("Password").fill(OWNER["password"])
    mobile.get_by_role("button", name="Sign in").click()
    mobile.wait_for_url(f"{url}/backoffice/")
    for name, path in [
        ("2-offering", "/backoffice/offering"),
        ("3-programme", "/backoffice/settings"),
        ("4-shop", "/backoffice/shops/new"),
        ("5-team", "/backoffice/staff"),
        ("6-sent-mail", "/backoffice/mail"),
        ("10-live", "/backoffice/launch"),
    ]:
        mobile.goto(f"{url}{path}")
        width = mobile.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
        shot(mobile, f"{name}-phone")
    phone.close()
    owner_context.close()
    assert not errors, errors
