# ruff: noqa: E501  (the tables of malformed requests read best one request a line)
"""Garbage at every door of the running system: the web app under gunicorn (Twilio webhooks, the
PassKit web service, the API, member CSV uploads, reward pictures) and the Telegram bot's own
webhook server (`python -m loyalty_bot`).

Each malformed request gets a clear 4xx (or the page that explains the refusal), never a 500
nor a dropped connection; the database is the same afterwards, table by table; the processes
are still up and still serve a good request.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from loyalty.db import Base
from loyalty.models import Role, WalletPlatform
from tests import factories
from tests.e2e.api_support import make_api_tenant
from tests.fakes.telegram import FakeTelegram
from tests.reliability.live import ROOT, LiveServer, free_port, wait_until
from wallet.passes import pass_for

pytestmark = pytest.mark.postgres_only

TWILIO_TOKEN = "twilio-auth-token"
TWILIO_PUBLIC = "https://sms.loyalty.example"
PASS_TYPE_ID = "pass.lu.loyalty.reliability"
DEVICE = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
TELEGRAM_SECRET = "s3cret-token"
DEEP = b"[" * 200_000 + b"]" * 200_000  # 400 KB of nesting: the json module recurses
GARBAGE = bytes(range(256)) * 64


def counts(committed) -> dict[str, int]:
    """Rows per table: the "nothing changed" check."""
    with committed() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def twilio_signed(path: str, form: dict[str, str]) -> dict[str, str]:
    url = f"{TWILIO_PUBLIC}{path}"
    return {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, form)}


@pytest.fixture
def shop(committed):
    """A Plus business with a manager, a member holding an Apple pass, and an API key."""
    with committed.begin() as session:
        api = make_api_tenant(session)
        manager = factories.make_user(session, api.tenant, role=Role.MANAGER)
        member = factories.make_member(session, api.tenant)
        wallet_pass = pass_for(session, member, WalletPlatform.APPLE)
        return {
            "api": api.headers,
            "manager": manager.email,
            "member_id": member.id,
            "serial": wallet_pass.serial_number,
            "pass_auth": {"Authorization": f"ApplePass {wallet_pass.authentication_token}"},
        }


@pytest.fixture
def server(app: Flask, committed, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_PUBLIC_URL=TWILIO_PUBLIC,
        WALLET_PASS_TYPE_ID=PASS_TYPE_ID,
    )
    yield live
    live.stop()


def webhook_cases(shop) -> list[tuple[str, str, str, dict, set[int]]]:
    """(what, method, path, httpx arguments, acceptable statuses)."""
    sms, status = "/hooks/twilio/sms", "/hooks/twilio/status"
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    registration = (
        f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}/{shop['serial']}"
    )
    auth = shop["pass_auth"]
    api = {**shop["api"], "Content-Type": "application/json"}
    return [
        ("twilio sms, no signature", "POST", sms, {"data": {"From": "+352621", "Body": "JOIN"}}, {403}),
        ("twilio sms, bad signature", "POST", sms, {"data": {"Body": "YES"}, "headers": {"X-Twilio-Signature": "bm9wZQ=="}}, {403}),
        ("twilio sms, binary body", "POST", sms, {"content": GARBAGE, "headers": form_type}, {403}),
        ("twilio sms, 2 MB form", "POST", sms, {"data": {"Body": "x" * 2_000_000}}, {403, 413}),
        ("twilio sms, signed JSON instead of a form", "POST", sms, {"content": b'{"Body": "JOIN"}', "headers": {"Content-Type": "application/json", **twilio_signed(sms, {})}}, {200, 400, 422}),
        ("twilio status, bad signature", "POST", status, {"data": {"MessageSid": "SM1", "MessageStatus": "failed"}, "headers": {"X-Twilio-Signature": "x"}}, {403}),
        ("twilio status, signed, unknown message", "POST", status, {"data": {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}, "headers": twilio_signed(status, {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"})}, {204, 404}),
        ("twilio status, signed, nonsense fields", "POST", status, {"data": {"MessageSid": "\x00" * 5000, "MessageStatus": "🤷" * 100, "ErrorCode": "abc"}, "headers": twilio_signed(status, {"MessageSid": "\x00" * 5000, "MessageStatus": "🤷" * 100, "ErrorCode": "abc"})}, {204, 400, 404, 422}),
        ("passkit register, bad auth, garbage", "POST", registration, {"content": GARBAGE, "headers": {"Authorization": "ApplePass nope"}}, {401}),
        ("passkit register, binary body", "POST", registration, {"content": GARBAGE, "headers": auth}, {400}),
        ("passkit register, deeply nested JSON", "POST", registration, {"content": DEEP, "headers": auth}, {400}),
        ("passkit register, JSON list", "POST", registration, {"json": [1, 2], "headers": auth}, {400}),
        ("passkit register, push token not text", "POST", registration, {"json": {"pushToken": {"a": 1}}, "headers": auth}, {400}),
        ("passkit register, device id not hex", "POST", registration.replace(DEVICE, "..%2F..%2Fetc"), {"json": {"pushToken": "ab" * 32}, "headers": auth}, {400, 404}),
        ("passkit updates, bad tag", "GET", f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}?passesUpdatedSince=%FF%00yesterday", {}, {204, 400, 404}),
        ("passkit log, deeply nested JSON", "POST", "/wallet/apple/v1/log", {"content": DEEP}, {200, 400}),
        ("passkit log, binary body", "POST", "/wallet/apple/v1/log", {"content": GARBAGE}, {200, 400}),
        ("api earn, deeply nested JSON", "POST", "/api/v1/transactions", {"content": DEEP, "headers": api}, {400, 422}),
        ("api earn, binary body", "POST", "/api/v1/transactions", {"content": GARBAGE, "headers": api}, {400, 422}),
        ("api earn, amount as text", "POST", "/api/v1/transactions", {"json": {"member_id": shop["member_id"], "amount_cents": "12€"}, "headers": shop["api"]}, {422}),
    ]  # fmt: skip


def test_malformed_webhooks_get_a_clear_4xx_and_change_nothing(server, committed, shop) -> None:
    before = counts(committed)
    answers = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for what, method, path, arguments, expected in webhook_cases(shop):
            response = client.request(method, path, **arguments)
            answers.append((what, response.status_code, expected, response.text[:200]))
        # Still serving: a good signed SMS gets its TwiML answer.
        good = {"From": "+352621000777", "To": "+352661000000", "Body": "HELP"}
        alive = client.post(
            "/hooks/twilio/sms", data=good, headers=twilio_signed("/hooks/twilio/sms", good)
        )
    for what, status, _, _ in answers:
        print(f"{status}  {what}")
    unexpected = [a for a in answers if a[1] not in a[2]]
    assert unexpected == [], server.tail()
    assert alive.status_code == 200
    assert "<Response>" in alive.text
    after = counts(committed)
    # The good SMS from an unknown number may leave its conversation state; nothing else moves.
    after["conversations"] = before["conversations"]
    assert after == before


# --- uploads through the back-office pages, signed in as a manager ---------------------------


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def signed_in(server: LiveServer, email: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60)
    token = CSRF.search(client.get("/login").text).group(1)
    answer = client.post(
        "/login", data={"email": email, "password": factories.PASSWORD, "csrf_token": token}
    )
    assert answer.status_code in (302, 303), answer.text[:500]
    return client


def csrf_of(client: httpx.Client, page: str) -> str:
    return CSRF.search(client.get(page).text).group(1)


def png(width: int, height: int, mode: str = "1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


CSV_UPLOADS = [
    ("binary garbage", GARBAGE, "members.csv", "not UTF-8"),
    ("UTF-16 with a BOM", "email\nana@example.com\n".encode("utf-16"), "members.csv", "UTF-8"),
    ("Latin-1", "name,email\nJosé,jose@example.com\n".encode("latin-1"), "members.csv", "UTF-8"),
    ("NUL bytes", b"name,email\nA,\x00b@example.com\n", "members.csv", "binary"),
    ("a 2 MB line", b"email," + b"x" * 2_000_000 + b"\n", "members.csv", "longer"),
    ("empty", b"", "members.csv", "The file is empty"),
    ("a picture named .csv", png(40, 40, "RGB"), "members.csv", "not UTF-8"),
]
PICTURES = [
    ("HTML named .png", b"<html><script>x</script>", "photo.png", "not a picture we can read"),
    ("truncated PNG", png(300, 300, "RGB")[:200], "photo.png", "not a picture we can read"),
    ("decompression bomb", png(8000, 8000), "bomb.png", "too many pixels"),
    ("over 2 MB", b"\x89PNG\r\n\x1a\n" + os.urandom(3 * 1024 * 1024), "big.png", "larger than"),
]


def test_malformed_uploads_are_refused_with_a_clear_message_and_change_nothing(
    server, committed, shop
) -> None:
    before = counts(committed)
    client = signed_in(server, shop["manager"])
    seen = []
    try:
        for what, data, name, message in CSV_UPLOADS:
            token = csrf_of(client, "/backoffice/members/import")
            answer = client.post(
                "/backoffice/members/import",
                data={"csrf_token": token},
                files={"file": (name, data, "text/csv")},
                follow_redirects=True,
            )
            seen.append(("csv: " + what, answer.status_code, message, answer.text))
        for what, data, name, message in PICTURES:
            token = csrf_of(client, "/backoffice/rewards/new")
            answer = client.post(
                "/backoffice/rewards/new",
                data={
                    "csrf_token": token,
                    "name": "€5 off",
                    "type": "discount_fixed",
                    "value": "5.00",
                    "points_cost": "140",
                    "validity_days": "30",
                    "active": "y",
                },
                files={"image": (name, data, "image/png")},
                follow_redirects=True,
            )
            seen.append(("picture: " + what, answer.status_code, message, answer.text))
    finally:
        client.close()
    for what, status, message, page in seen:
        print(f"{status}  {what}: {'says' if message in page else 'does NOT say'} {message!r}")
    refused_badly = [(w, s) for w, s, _, _ in seen if s >= 500]
    assert refused_badly == [], server.tail()
    for what, status, message, page in seen:
        assert status in (200, 400, 413, 422), (what, status)
        assert message in page, (what, message)
    after = counts(committed)
    assert after == before  # no import job, customer, reward or audit row was left behind
    uploads = server.log.parent / "imports"
    assert not uploads.exists() or list(uploads.iterdir()) == []  # no file kept either


# --- the Telegram bot's own webhook server ---------------------------------------------------


def update(update_id: int, text_: str) -> dict:
    person = {"id": 4242, "is_bot": False, "first_name": "Ana"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1767225600,
            "chat": {"id": 4242, "type": "private"},
            "from": person,
            "text": text_,
        },
    }


def test_garbage_at_the_telegram_webhook_is_refused_and_the_bot_keeps_serving(
    app: Flask, committed, tmp_path: Path
) -> None:
    fake = FakeTelegram().start()
    port = free_port()
    log = tmp_path / "bot.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "reliability-test-key",
        "TELEGRAM_BOT_TOKEN": "123:ABC",
        "TELEGRAM_API_BASE": fake.url,
        "TELEGRAM_WEBHOOK_URL": "https://bot.loyalty.example/telegram",
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "TELEGRAM_WEBHOOK_PORT": str(port),
    }
    before = counts(committed)
    with open(log, "wb") as out:
        bot = subprocess.Popen(
            [sys.executable, "-m", "loyalty_bot"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}/telegram"
    secret = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    try:
        wait_until(
            lambda: bot.poll() is None and bool(fake.sent("setWebhook")),
            timeout=60,
            what="the bot to set its webhook",
        )

        def listening() -> bool:
            try:
                httpx.get(url, timeout=2)
            except httpx.TransportError:
                return False
            return True

        wait_until(listening, timeout=30, what="the webhook server")
        cases = [
            ("no secret", {"json": update(1, "/help")}),
            ("wrong secret", {"json": update(2, "/help"), "headers": {**dict.fromkeys(secret, "guess")}}),
            ("binary body", {"content": GARBAGE, "headers": {**secret, "Content-Type": "application/json"}}),
            ("not JSON", {"content": b"{update_id: 1,", "headers": {**secret, "Content-Type": "application/json"}}),
            ("deeply nested JSON", {"content": DEEP, "headers": {**secret, "Content-Type": "application/json"}}),
            ("a JSON list", {"json": [1, 2, 3], "headers": secret}),
            ("not an update", {"json": {"hello": "world"}, "headers": secret}),
            ("update_id as text", {"json": {"update_id": "x", "message": "y"}, "headers": secret}),
            ("form instead of JSON", {"data": {"update_id": "3"}, "headers": secret}),
        ]  # fmt: skip
        answers = []
        with httpx.Client(timeout=30) as client:
            for what, arguments in cases:
                response = client.post(url, **arguments)
                answers.append((what, response.status_code))
            good = client.post(url, json=update(10, "/help"), headers=secret)
        wait_until(
            lambda: any(c.params.get("chat_id") == 4242 for c in fake.sent()),
            timeout=30,
            what="the bot's answer to the good update",
        )
        alive = bot.poll() is None
    finally:
        bot.terminate()
        try:
            bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()
        fake.stop()
    for what, status in answers:
        print(f"{status}  telegram webhook: {what}")
    assert alive, log.read_text()[-3000:]
    assert good.status_code == 200
    assert dict(answers)["no secret"] == 403
    assert dict(answers)["wrong secret"] == 403
    for what, status in answers:
        assert 400 <= status < 500, (what, status, log.read_text()[-3000:])
    replies = [c for c in fake.sent() if c.params.get("chat_id") == 4242]
    assert len(replies) == 1  # only the good update reached the dialogue
    after = counts(committed)
    after["conversations"] = before["conversations"]  # the good /help may keep its state
    assert after == before
