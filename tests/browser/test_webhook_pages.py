"""An Enterprise owner sets up a webhook endpoint in a real Chromium, at desktop and phone widths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from loyalty.db import utcnow
from loyalty.models import Offering, Role, WebhookDelivery
from loyalty.services import merchants, webhooks
from loyalty.services.actors import Actor
from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, live_server
from web.extensions import db

pytestmark = pytest.mark.browser

OWNER_EMAIL = "owner@weber.example.com"
OWNER_PASSWORD = "tulipes-et-roses-42"


def _seed(app: Flask) -> dict[str, Any]:
    """An Enterprise florist with one endpoint whose log holds a failure, a retry and a success."""
    with app.app_context():
        session = db.session
        merchant = merchants.create_merchant(
            session, name="Fleurs Weber", offering=Offering.ENTERPRISE
        )
        owner = merchants.create_user(
            session, email=OWNER_EMAIL, password=OWNER_PASSWORD, name="Anna Weber"
        )
        merchants.add_membership(session, user=owner, merchant=merchant, role=Role.OWNER)
        endpoint = webhooks.create_endpoint(
            session,
            merchant=merchant,
            actor=Actor(user_id=owner.id, role=Role.OWNER),
            url="https://shop.fleurs-weber.example/loyalty/events",
            description="E-shop: show points at checkout",
            event_types=["points.earned", "points.redeemed", "voucher.used"],
        )
        now = utcnow()
        for n, (status, answer, error) in enumerate(
            [
                (503, "<html>Service Unavailable</html>", "The receiver answered HTTP 503."),
                (None, "", "No answer within 10 s."),
                (200, '{"received": true}', None),
            ]
        ):
            session.add(
                WebhookDelivery(
                    merchant_id=merchant.id,
                    endpoint_id=endpoint.id,
                    event_id="evt_5f0c2a9b8e7d6c5b4a392817",
                    event_type="points.earned",
                    payload={"id": "evt_5f0c2a9b8e7d6c5b4a392817", "type": "points.earned"},
                    attempt=n + 1,
                    status_code=status,
                    response_excerpt=answer,
                    duration_ms=[412, 10_004, 87][n],
                    error=error,
                    succeeded=status == 200,
                    created_at=now - timedelta(minutes=3 - n),
                )
            )
        session.commit()
        return {"endpoint_id": endpoint.id}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _sign_in(page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("E-mail").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/backoffice/")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"webhooks-{name}.png"), full_page=True)


def test_an_owner_adds_an_endpoint_and_reads_the_delivery_log(chromium, server) -> None:
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server)
    page.goto(f"{server.url}/backoffice/webhooks")
    _shot(page, "list-desktop")
    page.get_by_role("link", name="Add endpoint").first.click()
    page.get_by_label("URL").fill("http://shop.example/hooks")
    page.get_by_role("button", name="Add endpoint").click()
    assert page.get_by_text("must use https://").is_visible()
    _shot(page, "form-error-desktop")
    page.get_by_label("URL").fill("https://pos.fleurs-weber.example/webhooks")
    page.get_by_label("tier.changed").uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    page.get_by_text("Endpoint added").wait_for()
    page.get_by_text("Show the secret").click()
    assert page.get_by_test_id("webhook-secret").inner_text().startswith("whsec_")
    _shot(page, "new-endpoint-desktop")
    page.goto(f"{server.url}/backoffice/webhooks/{server.data['endpoint_id']}")
    log = page.get_by_test_id("delivery-log")
    assert log.get_by_text("No answer", exact=True).is_visible()
    assert log.get_by_role("button", name="Resend").count() == 3
    _shot(page, "detail-desktop")
    page.close()


def test_the_endpoint_page_fits_a_phone(chromium, server) -> None:
    page = chromium.new_page(viewport=PHONE)
    _sign_in(page, server)
    page.goto(f"{server.url}/backoffice/webhooks/{server.data['endpoint_id']}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    _shot(page, "detail-phone")
    page.goto(f"{server.url}/backoffice/webhooks/{server.data['endpoint_id']}/delete")
    assert page.get_by_text("cannot be undone").is_visible()
    _shot(page, "delete-phone")
    page.close()
