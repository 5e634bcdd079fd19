"""The dashboard and the platform admin in a real Chromium: no CSP refusals, no sideways scroll.

One merchant per offering, each with a few purchases; the page is opened at desktop and at a
390-px phone width. Screenshots land in test-artifacts/ for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from loyalty.models import Offering, Role
from loyalty.services import merchants
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, live_server
from web.extensions import db

pytestmark = pytest.mark.browser

PASSWORD = "dashboard-figures-2026"
ADMIN = "operator@platform.example.com"


def _seed(app: Flask) -> dict[str, Any]:
    with app.app_context():
        session = db.session
        owners = {}
        for offering in Offering:
            merchant = merchants.create_merchant(
                session, name=f"Épicerie {offering.value.title()}", offering=offering
            )
            shop = merchants.create_shop(session, merchant=merchant, name="Grand-Rue")
            email = f"owner-{offering.value}@example.com"
            owner = merchants.create_user(session, email=email, password=PASSWORD)
            merchants.add_membership(session, user=owner, merchant=merchant, role=Role.OWNER)
            program = merchants.program_of(session, merchant)
            for n in range(3):
                member = enroll(
                    session,
                    program=program,
                    idempotency_key=f"{offering}-{n}",
                    terms_accepted=True,
                    name=f"Member {n}",
                    email=f"m{n}-{offering.value}@example.com",
                )
                earn(
                    session,
                    member=member,
                    amount_cents=1000 + n * 250,
                    idempotency_key=f"{offering}-e{n}",
                    shop=shop,
                )
            owners[offering.value] = email
        merchants.create_user(session, email=ADMIN, password=PASSWORD, platform_admin=True)
        session.commit()
        return {"owners": owners}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _open(chromium, server: LiveServer, email: str, path: str, viewport: dict[str, int]):
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.goto(f"{server.url}{path}")
    return context, page, problems


@pytest.mark.parametrize("offering", ["basic", "plus", "enterprise"])
@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "phone"]
)
def test_dashboard_holds_on_every_width_without_csp_refusals(chromium, server, offering, viewport):
    context, page, problems = _open(
        chromium, server, server.data["owners"][offering], "/backoffice/", viewport
    )
    try:
        assert page.get_by_test_id("member-count").inner_text() == "3"
        charts = page.locator("svg.chart-svg")
        assert charts.count() == (0 if offering == "basic" else 4)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert not [p for p in problems if "Content Security Policy" in p], problems
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"dashboard-{offering}-{viewport['width']}.png"), full_page=True
        )
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/admin/", "/admin/merchants/1", "/admin/jobs"])
def test_admin_pages_hold_on_a_phone(chromium, server, path):
    context, page, problems = _open(chromium, server, ADMIN, path, PHONE)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert not problems, problems
    finally:
        context.close()
