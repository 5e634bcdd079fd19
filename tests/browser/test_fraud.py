"""Fraud controls in a real Chromium: a flagged earn reaches a manager's alert list and is
acknowledged; a card whose QR code was renewed is refused at the till with its old code.

The cashier works on a 390-px phone; the manager on a desktop and on a phone. Screenshots land
in test-artifacts/fraud-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from loyalty.models import AlertStatus, FraudAlert, LoyaltyMember, Role
from loyalty.services import lookup, merchants
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

DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "croissant-au-beurre-9"


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        business = seed_business(
            session,
            name="Boulangerie Dupont",
            email="marc@dupont.example.com",
            password=PASSWORD,
            person="Marc",
            role=Role.STAFF,
        )
        program = business.program
        manager = merchants.create_user(
            session, email="lea@dupont.example.com", password=PASSWORD, name="Léa"
        )
        merchants.add_membership(
            session, user=manager, merchant=business.merchant, role=Role.MANAGER
        )
        program.fraud_max_earn_cents = 20_000  # a purchase above €200 is flagged
        secret = app.config["SECRET_KEY"].encode()
        members = {}
        for key, name in (("big", "Éloïse Muller"), ("copied", "Paul Weber")):
            member = seed_member(
                session, program, name=name, key=f"seed-{key}", email=f"{key}@example.com"
            )
            members[key] = {"id": member.id, "token": lookup.qr_token(member, secret)}
        session.commit()
        return members


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _signed_in(chromium, server: LiveServer, email: str, viewport: dict):
    context = chromium.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if m.type == "error" and "status of 4" not in m.text else None
        ),
    )
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return context, page, problems


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"fraud-{name}.png", full_page=True)


def scan(page, text: str) -> None:
    page.locator("#query").fill(text)
    page.keyboard.press("Enter")


def test_a_flagged_earn_appears_in_the_alert_list_and_a_manager_acknowledges_it(chromium, server):
    big = server.data["big"]
    context, till, problems = _signed_in(chromium, server, "marc@dupont.example.com", PHONE)
    scan(till, big["token"])
    till.wait_for_url(f"{server.url}/staff/members/{big['id']}")
    till.locator("#amount").fill("250.00")
    till.get_by_test_id("confirm-earn").click()
    till.wait_for_url("**/staff/receipts/*")
    assert till.get_by_test_id("points").inner_text() == "+250"  # flagged, not blocked
    context.close()
    assert not problems, problems

    context, office, problems = _signed_in(chromium, server, "lea@dupont.example.com", DESKTOP)
    office.goto(f"{server.url}/backoffice/fraud/alerts")
    alert = office.locator(".fraud-alert").first
    for shown in ("Éloïse Muller", "Marc", "Grand-Rue", "€250.00, limit €200.00"):
        assert shown in alert.inner_text()
    shot(office, "alerts-desktop")
    office.set_viewport_size(PHONE)
    shot(office, "alerts-phone")
    office.set_viewport_size(DESKTOP)
    alert.get_by_label("Note (needed to dismiss)").fill("Catering order for a wedding")
    alert.get_by_role("button", name="Acknowledge").click()
    office.get_by_text("No open alerts.").wait_for()
    shot(office, "alerts-empty")
    office.get_by_role("link", name="Acknowledged").click()
    assert "Catering order for a wedding" in office.locator(".fraud-alert").first.inner_text()
    shot(office, "alerts-acknowledged")
    office.goto(f"{server.url}/backoffice/fraud/settings")
    shot(office, "settings-desktop")
    office.set_viewport_size(PHONE)
    shot(office, "settings-phone")
    context.close()
    assert not problems, problems
    with server.app.app_context():
        status = db.session.scalar(select(FraudAlert.status))
        db.session.remove()
    assert status == AlertStatus.ACKNOWLEDGED


def test_a_card_given_a_new_qr_code_is_refused_with_its_old_one(chromium, server):
    copied = server.data["copied"]
    context, office, problems = _signed_in(chromium, server, "lea@dupont.example.com", DESKTOP)
    office.goto(f"{server.url}/backoffice/members/{copied['id']}")
    assert "Issued today" in office.get_by_test_id("qr-age").inner_text()
    office.get_by_test_id("new-qr-code").click()
    office.get_by_text("New QR code made.").wait_for()
    assert "Rotated today" in office.get_by_test_id("qr-age").inner_text()
    shot(office, "member-new-qr")
    context.close()
    assert not problems, problems

    context, till, problems = _signed_in(chromium, server, "marc@dupont.example.com", PHONE)
    scan(till, copied["token"])
    refusal = till.locator(".alert-danger")
    refusal.wait_for()
    assert "was replaced on" in refusal.inner_text()
    assert "no longer works" in refusal.inner_text()
    assert till.url == f"{server.url}/staff/"
    shot(till, "old-code-refused")
    with server.app.app_context():
        member = db.session.get(LoyaltyMember, copied["id"])
        current = lookup.qr_token(member, server.app.config["SECRET_KEY"].encode())
        db.session.remove()
    scan(till, current)
    till.wait_for_url(f"{server.url}/staff/members/{copied['id']}")
    assert till.get_by_test_id("qr-age").inner_text() == "QR code rotated today"
    shot(till, "new-code-accepted")
    context.close()
    assert not problems, problems
