"""The programme catalogue pages in a real Chromium: a promotion with its preview, a tier, a
reward, branding and the audit log, each at desktop and phone width without sideways scrolling.

Screenshots go to test-artifacts/ (or CATALOG_SHOTS_DIR, e.g. /work/team/shots) as catalog-*.png.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from loyalty.models import Offering, PromotionType, RewardType, Role
from loyalty.services import merchants, promotion_catalog, reward_catalog, tier_catalog
from loyalty.services.actors import Actor
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, live_server
from web.extensions import db

pytestmark = pytest.mark.browser

PASSWORD = "croissant-au-beurre-42"
OWNER = "owner@mosel.example.com"
BASIC_OWNER = "owner@hoffmann.example.com"
SHOTS = Path(os.environ.get("CATALOG_SHOTS_DIR") or ARTIFACTS)


def _picture(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), colour).save(out, format="JPEG")
    return out.getvalue()


def _seed(app: Flask) -> dict[str, Any]:
    with app.app_context():
        session = db.session
        folder = Path(app.config["UPLOAD_FOLDER"])
        merchant = merchants.create_merchant(
            session, name="Café Mosel", offering=Offering.ENTERPRISE
        )
        remich = merchants.create_shop(session, merchant=merchant, name="Remich")
        merchants.create_shop(session, merchant=merchant, name="Grevenmacher")
        # A name without a space to break at: the shop list and every shop picker must wrap it.
        merchants.create_shop(session, merchant=merchant, name="Wasserbillig" + "W" * 100)
        owner = merchants.create_user(session, email=OWNER, password=PASSWORD, name="Marc Schmit")
        merchants.add_membership(session, user=owner, merchant=merchant, role=Role.OWNER)
        actor = Actor(user_id=owner.id, role=Role.OWNER)
        for name, points, multiplier in (
            ("Bronze", 0, "1"),
            ("Silver", 500, "1.25"),
            ("Gold", 1500, "1.5"),
        ):
            tier_catalog.create_tier(
                session,
                merchant=merchant,
                actor=actor,
                draft=tier_catalog.TierDraft(
                    name,
                    points,
                    Decimal(multiplier),
                    benefits=("Birthday coffee",) if points else (),
                ),
            )
        coffee = reward_catalog.create_reward(
            session,
            merchant=merchant,
            actor=actor,
            draft=reward_catalog.RewardDraft(
                "Free coffee", RewardType.FREE_ITEM, 80, stock=1000, description="Any espresso"
            ),
        )
        reward_catalog.set_picture(
            session,
            reward=coffee,
            merchant=merchant,
            actor=actor,
            data=_picture((120, 70, 40)),
            folder=folder,
        )
        reward_catalog.create_reward(
            session,
            merchant=merchant,
            actor=actor,
            draft=reward_catalog.RewardDraft("€5 off", RewardType.DISCOUNT_FIXED, 300, value=500),
        )
        promotion_catalog.create_promotion(
            session,
            merchant=merchant,
            actor=actor,
            draft=promotion_catalog.PromotionDraft(
                "Double points Tuesdays", PromotionType.POINTS_MULTIPLIER, Decimal(2), weekdays=(1,)
            ),
        )
        program = merchants.program_of(session, merchant)
        for n, name in enumerate(("Éloïse Muller", "Jean Weber", "Ana Costa", "Luca Rossi")):
            member = enroll(
                session,
                program=program,
                idempotency_key=f"seed-{n}",
                terms_accepted=True,
                name=name,
                email=f"m{n}@example.com",
            )
            earn(
                session,
                member=member,
                amount_cents=900 * (n + 1),
                idempotency_key=f"e{n}",
                shop=remich,
            )

        basic = merchants.create_merchant(
            session, name="Boulangerie Hoffmann", offering=Offering.BASIC
        )
        merchants.create_shop(session, merchant=basic, name="Grund")
        basic_owner = merchants.create_user(
            session, email=BASIC_OWNER, password=PASSWORD, name="Anne"
        )
        merchants.add_membership(session, user=basic_owner, merchant=basic, role=Role.OWNER)
        session.commit()
        return {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _sign_in(page, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def _shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"catalog-{name}.png"), full_page=True)


PAGES = {
    "promotions": "/backoffice/promotions",
    "promotion-new": "/backoffice/promotions/new",
    "tiers": "/backoffice/tiers",
    "tier-new": "/backoffice/tiers/new",
    "rewards": "/backoffice/rewards",
    "reward-new": "/backoffice/rewards/new",
    "branding": "/backoffice/branding",
    "audit": "/backoffice/audit",
    "shops": "/backoffice/shops",
    "segment-new": "/backoffice/segments/new",
}


def test_a_manager_creates_a_promotion_after_previewing_who_qualifies(chromium, server):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server, OWNER)
    page.goto(f"{server.url}/backoffice/promotions/new?next=/backoffice/promotions")
    page.get_by_label("Name").fill("Gold members: 50 bonus points")
    page.get_by_label("Type").select_option("bonus_points")
    page.get_by_label("Value").fill("50")
    page.get_by_role("checkbox", name="Saturday").check()
    page.get_by_role("button", name="Preview who qualifies").click()
    count = page.get_by_test_id("preview-count")
    assert count.inner_text() == "4"
    _shoot(page, "promotion-preview-desktop")
    page.get_by_role("button", name="Save promotion").click()
    page.wait_for_url(f"{server.url}/backoffice/promotions")
    assert page.get_by_role("link", name="Gold members: 50 bonus points").is_visible()
    page.close()


def test_every_catalogue_page_at_desktop_and_phone_width(chromium, server):
    for width, suffix in ((1280, "desktop"), (PHONE["width"], "phone")):
        page = chromium.new_page(viewport={"width": width, "height": 900})
        _sign_in(page, server, OWNER)
        for name, path in PAGES.items():
            answer = page.goto(f"{server.url}{path}")
            assert answer.status == 200, path
            _shoot(page, f"{name}-{suffix}")
            width_used = page.evaluate("document.documentElement.scrollWidth")
            assert width_used <= width, f"{path} scrolls sideways at {width} px"
        page.close()


def test_a_basic_merchant_sees_no_tiers_or_branding_in_the_menu(chromium, server):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server, BASIC_OWNER)
    page.goto(f"{server.url}/backoffice/rewards")
    page.get_by_role("button", name="Programme").click()
    menu = page.locator(".dropdown-menu.show")
    menu.wait_for()
    labels = menu.locator("a").all_inner_texts()
    assert "Rewards" in labels
    assert "Promotions" in labels
    assert "Tiers" not in labels
    assert "Branding" not in labels
    _shoot(page, "basic-menu-desktop")
    page.goto(f"{server.url}/backoffice/tiers")
    assert page.get_by_test_id("feature-not-included").is_visible()
    _shoot(page, "basic-tiers-desktop")
    page.close()
