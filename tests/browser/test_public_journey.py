"""A customer's whole way in, in Chromium at 390 px: poster → join → welcome e-mail → card → voucher.

The welcome e-mail really travels over SMTP to an aiosmtpd server on 127.0.0.1; this test plays
the outbox worker (which the scheduler work will own), rendering each queued e-mail with
`loyalty.notify.templates.build_email`. Screenshots of the join and member pages at phone and
desktop widths land in test-artifacts/.
"""

from __future__ import annotations

import re
import smtplib
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import select

from loyalty.models import (
    LoyaltyMember,
    LoyaltyTier,
    Merchant,
    Offering,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Reward,
    Role,
    Voucher,
    VoucherStatus,
)
from loyalty.notify.templates import build_email
from loyalty.services import merchants
from loyalty.services.actors import Actor
from loyalty.services.vouchers import use_voucher
from tests.browser.conftest import ARTIFACTS, PHONE, LiveServer, live_server
from web.extensions import db
from web.public.branding import contrast_ratio

pytestmark = pytest.mark.browser

OWNER_EMAIL = "owner@dupont.example.com"
OWNER_PASSWORD = "croissant-au-beurre-42"
DESKTOP = {"width": 1280, "height": 800}
BRAND = "#2a9d8f"  # teal: 3.3:1 with white text, so the pages darken it


class Mailbox:
    """An aiosmtpd handler that keeps what arrives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


def _seed(app: Flask) -> dict:
    with app.app_context():
        session = db.session
        merchant = merchants.create_merchant(
            session, name="Boulangerie Dupont", offering=Offering.PLUS
        )
        shop = merchants.create_shop(session, merchant=merchant, name="Grand-Rue")
        owner = merchants.create_user(
            session, email=OWNER_EMAIL, password=OWNER_PASSWORD, name="Claire Dupont"
        )
        merchants.add_membership(session, user=owner, merchant=merchant, role=Role.OWNER)
        program = merchants.program_of(session, merchant)
        program.signup_bonus = 150
        program.primary_color = BRAND
        session.add(
            Reward(
                merchant_id=merchant.id,
                program_id=program.id,
                name="Free croissant",
                points_cost=100,
                value=150,
            )
        )
        session.add(
            LoyaltyTier(merchant_id=merchant.id, program_id=program.id, name="Gold", min_points=500)
        )
        data = {"shop_id": shop.id, "merchant_id": merchant.id, "slug": program.slug}
        session.commit()
        return data


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    for live in live_server(tmp_path_factory, _seed):
        # Links in e-mails point at the public address: here, this live server.
        live.app.config.update(PUBLIC_BASE_URL=live.url, JOIN_MIN_SECONDS=1)
        yield live


def deliver_emails(server: LiveServer, port: int) -> int:
    """What the outbox worker does for e-mail: render, send over SMTP, mark sent."""
    with server.app.app_context():
        try:
            queued = db.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.channel == OutboxChannel.EMAIL,
                    OutboxMessage.status == OutboxStatus.QUEUED,
                )
            ).all()
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as relay:
                for message in queued:
                    relay.send_message(build_email(message, sender="cards@dupont.example.com"))
                    message.status = OutboxStatus.SENT
            db.session.commit()
            return len(queued)
        finally:
            db.session.remove()


def link_in(mail: EmailMessage, pattern: str) -> str:
    body = mail.get_body(preferencelist=("plain",)).get_content()
    match = re.search(pattern, body)
    assert match, body
    return match.group(0)


def new_page(chromium, viewport: dict, problems: list[str]):
    context = chromium.new_context(
        viewport=viewport, device_scale_factor=2 if viewport is PHONE else 1
    )
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page


def check_basics(page) -> None:
    """Lighthouse-style basics: a title, a label for every field, readable brand colours."""
    assert page.title().strip()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(el => el.type !== 'hidden' && !el.closest('[aria-hidden="true"]'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.name || el.id)"""
    )
    assert unlabelled == []
    header = page.evaluate(
        "() => getComputedStyle(document.querySelector('.public-header')).backgroundColor"
    )
    red, green, blue = (int(n) for n in re.findall(r"\d+", header)[:3])
    colour = f"#{red:02x}{green:02x}{blue:02x}"
    assert colour != BRAND  # corrected
    assert contrast_ratio(colour, "#ffffff") >= 4.5


def poster_join_url(chromium, server: LiveServer, problems: list[str]) -> str:
    context, page = new_page(chromium, DESKTOP, problems)
    try:
        page.goto(f"{server.url}/login")
        page.get_by_label("E-mail").fill(OWNER_EMAIL)
        page.get_by_label("Password").fill(OWNER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/backoffice/")
        page.goto(f"{server.url}/backoffice/shops/{server.data['shop_id']}/poster")
        assert page.get_by_test_id("join-qr").evaluate("img => img.naturalWidth") > 0
        assert "start=join_" in page.get_by_test_id("telegram-link").inner_text()
        page.screenshot(path=ARTIFACTS / "poster-desktop.png", full_page=True)
        return page.get_by_test_id("join-url").get_attribute("href")
    finally:
        context.close()


def test_join_from_the_poster_then_email_link_card_voucher_and_till(
    chromium, server: LiveServer, smtp
) -> None:
    mailbox, port = smtp
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    join_url = poster_join_url(chromium, server, problems)
    assert join_url == f"{server.url}/j/{server.data['slug']}"

    context, page = new_page(chromium, PHONE, problems)
    try:
        page.goto(join_url)
        check_basics(page)
        page.screenshot(path=ARTIFACTS / "public-join-phone.png", full_page=True)
        page.get_by_label("Your name").fill("Éloïse Muller")
        page.get_by_label("E-mail", exact=True).fill("eloise@example.com")
        page.get_by_label("Birthday (optional)").fill("1991-06-14")
        page.get_by_label("Offers by e-mail").check()
        page.get_by_label("I accept the programme terms").check()
        page.wait_for_timeout(1100)  # a person takes longer than the bot check's second
        page.get_by_role("button", name="Join and get my card").click()
        page.wait_for_url(f"{join_url}/welcome")
        check_basics(page)
        assert "150 points" in page.content()
        page.screenshot(path=ARTIFACTS / "public-welcome-phone.png", full_page=True)

        assert deliver_emails(server, port) == 1
        welcome = mailbox.messages[-1]
        assert welcome["To"] == "eloise@example.com"
        assert welcome.get_body(preferencelist=("html",)) is not None
        assert "Add to Apple Wallet" in welcome.get_body(preferencelist=("html",)).get_content()
        link = link_in(welcome, rf"{re.escape(server.url)}/p/[\w-]+/in/\S+")

        page.goto(link)
        page.get_by_role("button", name="Open my card").click()
        page.wait_for_url(f"{server.url}/p/{server.data['slug']}")
        check_basics(page)
        assert page.get_by_test_id("balance").inner_text() == "150 pts"
        assert "350 points to Gold" in page.content()
        page.screenshot(path=ARTIFACTS / "public-member-phone.png", full_page=True)

        page.get_by_role("button", name="Redeem Free croissant").click()
        page.wait_for_url(re.compile(r".*/vouchers/\w+$"))
        shown = page.get_by_test_id("voucher-code").inner_text()
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", shown)
        assert page.get_by_test_id("voucher-status").inner_text() == "Ready to use"
        page.screenshot(path=ARTIFACTS / "public-voucher-phone.png", full_page=True)

        # The cashier scans it: the staff scanner calls this service.
        with server.app.app_context():
            try:
                merchant = db.session.get(Merchant, server.data["merchant_id"])
                used = use_voucher(
                    db.session,
                    merchant=merchant,
                    code=shown,
                    idempotency_key="till-scan-1",
                    actor=Actor.system("till"),
                )
                assert used.status == VoucherStatus.USED
                db.session.commit()
            finally:
                db.session.remove()
        page.reload()
        assert page.get_by_test_id("voucher-status").inner_text() == "Used"

        page.goto(link)  # the e-mail's link is used up
        assert "already used" in page.get_by_test_id("link-refused").inner_text()
    finally:
        context.close()
    problems[:] = [p for p in problems if "status of 4" not in p]  # the 410 above, on purpose
    assert not problems, problems


def test_desktop_member_asks_for_a_new_link_and_sees_the_card(
    chromium, server: LiveServer, smtp
) -> None:
    """Runs after the journey above (same module server): the member now has history."""
    mailbox, port = smtp
    problems: list[str] = []
    context, page = new_page(chromium, DESKTOP, problems)
    try:
        page.goto(f"{server.url}/j/{server.data['slug']}")
        page.screenshot(path=ARTIFACTS / "public-join-desktop.png", full_page=True)
        page.goto(f"{server.url}/p/{server.data['slug']}")
        check_basics(page)
        page.get_by_label("E-mail or mobile phone").fill("eloise@example.com")
        page.get_by_role("button", name="Send me a link").click()
        assert "on its way" in page.get_by_test_id("link-sent").inner_text()
        assert deliver_emails(server, port) == 1
        link = link_in(mailbox.messages[-1], rf"{re.escape(server.url)}/p/[\w-]+/in/\S+")
        page.goto(link)
        page.get_by_role("button", name="Open my card").click()
        page.wait_for_url(f"{server.url}/p/{server.data['slug']}")
        assert page.get_by_test_id("balance").inner_text() == "50 pts"
        assert "Reward: Free croissant" in page.content()
        page.screenshot(path=ARTIFACTS / "public-member-desktop.png", full_page=True)
        with server.app.app_context():
            try:
                member = db.session.scalars(select(LoyaltyMember)).one()
                assert db.session.scalars(select(Voucher)).one().member_id == member.id
            finally:
                db.session.remove()
    finally:
        context.close()
    assert not problems, problems
