"""Shared browser fixtures: the system Chromium and a live app server thread on a file SQLite.

Modules seed their own data by passing a `seed(app) -> dict` to `live_server`, starting from
`seed_business` (a merchant, its shop, one person of staff and the programme) and `seed_member`;
screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    Membership,
    Merchant,
    Offering,
    Role,
    Shop,
    User,
)
from loyalty.services import member_access, merchants
from loyalty.services.enroll import enroll
from web import config as web_config
from web import create_app
from web.extensions import db

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}


def chromium_executable() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "Chromium not found on PATH (install Debian's chromium package)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and REQUIRE_BROWSER=1 demands browser tests run.")
        pytest.skip(reason)
    return path


@dataclass
class Business:
    """What most pages need: a merchant with one shop, one person who signs in, the programme."""

    merchant: Merchant
    shop: Shop
    person: User
    membership: Membership
    program: LoyaltyProgram


def seed_business(
    session: Session,
    *,
    name: str,
    email: str,
    password: str,
    person: str = "",
    role: Role = Role.OWNER,
    offering: Offering = Offering.PLUS,
    shop: str = "Grand-Rue",
    address: str = "",
) -> Business:
    """Through the services, as sign-up and the team page would. Staff are bound to the shop."""
    merchant = merchants.create_merchant(session, name=name, offering=offering)
    first_shop = merchants.create_shop(session, merchant=merchant, name=shop, address=address)
    user = merchants.create_user(session, email=email, password=password, name=person)
    membership = merchants.add_membership(
        session,
        user=user,
        merchant=merchant,
        role=role,
        shop=first_shop if role == Role.STAFF else None,
    )
    program = merchants.program_of(session, merchant)
    return Business(merchant, first_shop, user, membership, program)


def seed_member(
    session: Session,
    program: LoyaltyProgram,
    *,
    name: str,
    key: str = "seed-member",
    **details: Any,
) -> LoyaltyMember:
    """A member who joined with the terms accepted; `details`: email, phone, consents…"""
    return enroll(
        session, program=program, idempotency_key=key, terms_accepted=True, name=name, **details
    )


def card_link(session: Session, app: Flask, member: LoyaltyMember) -> str:
    """A sign-in link to the member's card page (each opens the card once)."""
    slug = member.program.slug
    token = member_access.issue_link(session, member=member, secret_key=app.config["SECRET_KEY"])
    return f"/p/{slug}/in/{token}"


@dataclass
class LiveServer:
    url: str
    app: Flask
    data: dict[str, Any] = field(default_factory=dict)


def live_server(
    tmp_path_factory: pytest.TempPathFactory, seed: Callable[[Flask], dict[str, Any]]
) -> Iterator[LiveServer]:
    """The app as production serves it (CSRF on) in a thread, seeded by `seed` once migrated."""
    database = tmp_path_factory.mktemp("browser") / "loyalty.db"
    config = web_config.test_config(f"sqlite:///{database}")
    config.update(TESTING=False, WTF_CSRF_ENABLED=True)
    app = create_app(config)
    with app.app_context():
        upgrade()
    data = seed(app)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{http.server_port}", app, data)
    finally:
        http.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
