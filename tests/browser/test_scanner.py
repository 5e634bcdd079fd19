"""The till in a real Chromium on a 390-px phone: scan, earn, receipt, redeem, vouchers, undo.

A cashier bound to one shop signs in; a hand scanner is a keyboard that types the QR token
and presses Enter. Screenshots of each screen land in test-artifacts/scanner-*.png.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import qrcode
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import func, select

from loyalty.models import LoyaltyMember, LoyaltyTransaction, Role, Voucher, VoucherStatus
from loyalty.services import lookup
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from loyalty.services.vouchers import format_code
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

CASHIER_EMAIL = "cashier@dupont.example.com"
CASHIER_PASSWORD = "pain-au-chocolat-7"


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        business = seed_business(
            session,
            name="Boulangerie Dupont",
            email=CASHIER_EMAIL,
            password=CASHIER_PASSWORD,
            person="Marc",
            role=Role.STAFF,
        )
        merchant, shop, program = business.merchant, business.shop, business.program
        member = seed_member(session, program, name="Éloïse Muller", email="eloise@example.com")
        earn(session, member=member, amount_cents=40_000, idempotency_key="seed-earn", shop=shop)
        from loyalty.models import Reward

        reward = Reward(
            merchant_id=merchant.id,
            program_id=program.id,
            name="Free coffee",
            points_cost=50,
            value=250,
            stock=20,
        )
        session.add(reward)
        session.flush()
        shown = redeem(session, member=member, reward=reward, idempotency_key="seed-voucher")
        data = {
            "member_id": member.id,
            "token": lookup.qr_token(member, app.config["SECRET_KEY"].encode()),
            "voucher_code": shown.code,
            "merchant_id": merchant.id,
        }
        session.commit()
        return data


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory, _seed)


def _query(server: LiveServer, statement):
    with server.app.app_context():
        try:
            return db.session.execute(statement).scalar()
        finally:
            db.session.remove()


def balance(server: LiveServer) -> int:
    return _query(
        server,
        select(LoyaltyMember.points_balance).where(LoyaltyMember.id == server.data["member_id"]),
    )


def transactions(server: LiveServer) -> int:
    return _query(server, select(func.count()).select_from(LoyaltyTransaction))


@pytest.fixture
def page(chromium, server: LiveServer):
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(CASHIER_EMAIL)
    page.get_by_label("Password").fill(CASHIER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/staff/")
    yield page
    context.close()
    # Refusals answer 4xx on purpose and the console reports them; anything else (a CSP
    # violation, a script error, a missing asset) is a bug.
    # The offline test cuts the network on purpose too.
    expected = ("status of 4", "ERR_INTERNET_DISCONNECTED")
    assert not [p for p in problems if not any(e in p for e in expected)], problems


def shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"scanner-{name}.png", full_page=True)


def scan(page, text: str) -> None:
    """A keyboard-wedge scanner: types into the focused field, then Enter."""
    field = page.locator("#query")
    assert field.evaluate("el => el === document.activeElement")  # focused on arrival
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def open_member(page, server: LiveServer) -> None:
    scan(page, server.data["token"])
    page.wait_for_url(f"{server.url}/staff/members/{server.data['member_id']}")


def test_wedge_scan_then_earn_shows_points_and_balance_on_the_receipt(page, server):
    shot(page, "home")
    before = balance(server)
    open_member(page, server)
    assert page.get_by_role("heading", level=1).inner_text() == "Éloïse Muller"
    page.locator("#amount").fill("25.40")
    page.get_by_test_id("preview").filter(has_text="+25 points").wait_for()
    shot(page, "member")
    page.get_by_test_id("confirm-earn").click()
    page.wait_for_url("**/staff/receipts/*")
    assert page.get_by_test_id("points").inner_text() == "+25"
    assert page.get_by_test_id("balance").inner_text() == f"{before + 25:,} pts"
    assert balance(server) == before + 25
    shot(page, "receipt")


def test_a_photo_of_the_card_identifies_the_member(page, server):
    png = io.BytesIO()
    qrcode.make(server.data["token"]).save(png, format="PNG")
    page.locator("#photo").set_input_files(
        files=[{"name": "card.png", "mimeType": "image/png", "buffer": png.getvalue()}]
    )
    page.wait_for_url(f"{server.url}/staff/members/{server.data['member_id']}")
    assert page.get_by_role("heading", level=1).inner_text() == "Éloïse Muller"


def test_a_forged_token_is_refused(page, server):
    merchant_id, member_id = server.data["merchant_id"], server.data["member_id"]
    scan(page, f"LY1.{merchant_id}.{member_id}.forgedforgedforgedforgedXX")
    alert = page.locator(".alert-danger")
    alert.wait_for()
    assert "not valid (forged" in alert.inner_text()
    assert page.url == f"{server.url}/staff/"
    shot(page, "forged")


def test_redeem_a_reward(page, server):
    before = balance(server)
    open_member(page, server)
    page.get_by_role("button", name="Redeem").first.click()
    page.wait_for_url("**/staff/receipts/*")
    assert page.get_by_role("heading", level=1).inner_text() == "Reward redeemed"
    assert page.get_by_test_id("points").inner_text() == "-50"
    assert "(used)" in page.get_by_test_id("voucher-code").inner_text()
    expect(page.locator("#till-alert")).to_contain_text("redeemed")
    assert balance(server) == before - 50
    shot(page, "redeemed")


def test_validate_a_voucher(page, server):
    code = format_code(server.data["voucher_code"])
    page.locator("#voucher-code").fill(code.lower())
    page.get_by_role("button", name="Check").click()
    page.get_by_role("button", name="Mark used").click()
    page.get_by_test_id("voucher-status").filter(has_text="Used").wait_for()
    # The reloaded page shows the carried message once its script has run: wait for it.
    expect(page.locator("#till-alert")).to_contain_text("accepted")
    shot(page, "voucher")
    status = _query(
        server, select(Voucher.status).where(Voucher.code == server.data["voucher_code"])
    )
    assert status == VoucherStatus.USED


def test_a_double_submit_yields_one_transaction(page, server):
    open_member(page, server)
    before = transactions(server)
    page.locator("#amount").fill("3.00")
    page.get_by_test_id("confirm-earn").dblclick()
    page.wait_for_url("**/staff/receipts/*")
    assert transactions(server) == before + 1
    # A retry that reaches the server twice (the first answer lost): the same key, one row.
    page.go_back()
    page.wait_for_load_state()
    statuses = page.evaluate(
        """async () => {
            const form = document.getElementById('earn-form');
            form.amount.value = '4.00';
            const body = new URLSearchParams(new FormData(form)).toString();
            const headers = {'Accept': 'application/json',
                             'Content-Type': 'application/x-www-form-urlencoded',
                             'X-CSRFToken': form.csrf_token.value};
            const send = () => fetch(form.action, {method: 'POST', body, headers})
                .then(r => r.status);
            return [await send(), await send()];
        }"""
    )
    assert statuses == [200, 200]
    assert transactions(server) == before + 2


def test_undo_works_once(page, server):
    before = balance(server)
    open_member(page, server)
    page.locator("#amount").fill("10.00")
    page.get_by_test_id("confirm-earn").click()
    page.wait_for_url("**/staff/receipts/*")
    assert balance(server) == before + 10
    page.get_by_role("button", name="Undo").click()
    page.get_by_role("heading", name="Undone").wait_for()
    assert page.get_by_test_id("points").inner_text() == "-10"
    assert balance(server) == before
    assert page.get_by_role("button", name="Undo").count() == 0
    shot(page, "undone")
    # Back on the earlier receipt (a stale screen), a second undo is refused and changes nothing.
    page.go_back()
    page.reload()
    assert page.get_by_role("button", name="Undo").count() == 0
    page.goto(f"{server.url}/staff/members/{server.data['member_id']}")
    assert page.get_by_role("button", name="Undo").count() == 0
    assert balance(server) == before


def test_an_offline_earn_waits_in_the_queue_and_is_sent_once(page, server):
    before = transactions(server)
    open_member(page, server)
    page.locator("#amount").fill("7.00")
    page.context.set_offline(True)
    page.get_by_test_id("confirm-earn").click()
    pending = page.locator("#till-pending")
    pending.wait_for(state="visible")
    assert "Purchase for Éloïse Muller" in pending.inner_text()
    shot(page, "offline")
    assert transactions(server) == before
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.locator("#till-alert").filter(has_text="Sent:").wait_for()
    pending.wait_for(state="hidden")
    assert transactions(server) == before + 1


def test_typeahead_finds_the_member_by_name(page, server):
    page.locator("#query").type("elo")
    option = page.get_by_role("option").filter(has_text="Éloïse Muller")
    option.wait_for()
    shot(page, "typeahead")
    option.get_by_role("link").click()
    page.wait_for_url(f"{server.url}/staff/members/{server.data['member_id']}")
