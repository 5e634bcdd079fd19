"""A manager in a real Chromium: finds a member, adjusts the points with a reason, sees the result.

Also imports a small CSV through the progress page (its script runs the steps). Screenshots of
the members list, the member page and the import land in test-artifacts/members-*.png, at
desktop width and on a 390-px phone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from loyalty.models import LoyaltyMember, Role
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

MANAGER_EMAIL = "manager@dupont.example.com"
MANAGER_PASSWORD = "croissant-au-beurre-9"
DESKTOP = {"width": 1280, "height": 900}


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        business = seed_business(
            session,
            name="Boulangerie Dupont",
            email=MANAGER_EMAIL,
            password=MANAGER_PASSWORD,
            person="Claire",
            role=Role.MANAGER,
        )
        shop, program = business.shop, business.program
        people = [
            ("Éloïse Muller", "eloise@example.com", "+352621123456", 4_200),
            ("Marc Weber", "marc@example.com", None, 1_250),
            ("Anna Schmit", None, "+352621654321", 0),
            ("Jean Dupont", "jean.dupont@example.com", None, 800),
        ]
        found = None
        for n, (name, email, phone, cents) in enumerate(people):
            member = seed_member(
                session, program, name=name, key=f"seed-{n}", email=email, phone=phone
            )
            if cents:
                earn(
                    session, member=member, amount_cents=cents, idempotency_key=f"e-{n}", shop=shop
                )
            found = found or member
        data = {"member_id": found.id, "card": found.card_number}
        session.commit()
        return data


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _sign_in(chromium, server: LiveServer, viewport: dict):
    context = chromium.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(MANAGER_EMAIL)
    page.get_by_label("Password").fill(MANAGER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return context, page, problems


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"members-{name}.png", full_page=True)


def _balance(server: LiveServer) -> int:
    with server.app.app_context():
        try:
            return db.session.execute(
                select(LoyaltyMember.points_balance).where(
                    LoyaltyMember.id == server.data["member_id"]
                )
            ).scalar_one()
        finally:
            db.session.remove()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_manager_finds_a_member_and_adjusts_points_with_a_reason(
    chromium, server: LiveServer, viewport: dict, request
) -> None:
    size = request.node.callspec.id
    context, page, problems = _sign_in(chromium, server, viewport)
    page.goto(f"{server.url}/backoffice/members")
    _shot(page, f"list-{size}")
    page.get_by_label("Search").fill("elo")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Éloïse Muller").click()
    page.wait_for_url(f"{server.url}/backoffice/members/{server.data['member_id']}")
    before = _balance(server)
    page.get_by_label("Points", exact=True).fill("+30")
    page.get_by_label("Reason").fill(f"Goodwill ({size})")
    page.get_by_role("button", name="Adjust balance").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("balance").inner_text().startswith(f"{before + 30:,}")
    assert page.get_by_text(f"Goodwill ({size})").is_visible()
    assert _balance(server) == before + 30
    _shot(page, f"member-{size}")
    # The layout holds on the phone: nothing wider than the viewport.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], width
    context.close()
    assert not problems, problems


def test_a_csv_import_runs_to_the_end_on_its_progress_page(
    chromium, server: LiveServer, tmp_path
) -> None:
    source = tmp_path / "customers.csv"
    rows = "".join(f"Client {n},client{n}@example.com\n" for n in range(40))
    source.write_text("Name,Email\n" + rows + "Broken,not-an-email\n", encoding="utf-8")
    context, page, problems = _sign_in(chromium, server, PHONE)
    page.goto(f"{server.url}/backoffice/members/import")
    page.get_by_label("CSV file").set_input_files(str(source))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_load_state()
    _shot(page, "import-columns-phone")
    page.get_by_role("button", name="Import all rows").click()
    expect(page.locator('[data-field="state"]')).to_have_text("Finished")  # the script ran it
    assert page.get_by_test_id("imported").inner_text() == "40"
    assert page.locator('[data-field="rows_failed"]').inner_text() == "1"
    _shot(page, "import-done-phone")
    context.close()
    assert not problems, problems
