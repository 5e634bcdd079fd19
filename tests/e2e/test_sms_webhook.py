"""Twilio-signed form posts to /hooks/twilio/sms and /hooks/twilio/status, TwiML answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Offering,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    VoucherStatus,
)
from loyalty.notify import outbox
from loyalty.services import vouchers
from loyalty.services.actors import SYSTEM
from tests import factories

AUTH_TOKEN = "twilio-test-auth-token"
MERCHANT_NUMBER = "+352661000100"
PLATFORM_NUMBER = "+352661000999"
CUSTOMER = "+352621444555"
BASE = "http://localhost"


@pytest.fixture(autouse=True)
def twilio_credentials(monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.delenv("TWILIO_PUBLIC_URL", raising=False)


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS)
    tenant.program.signup_bonus = 30
    tenant.program.settings = {"sms_number": MERCHANT_NUMBER}
    factories.make_reward(session, tenant, cost=20, name="Free croissant")
    session.flush()
    return tenant


def post(client, path: str, form: dict[str, str], *, url: str | None = None, signature=None):
    signed_url = url or f"{BASE}{path}"
    if signature is None:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_url, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def sms(client, body: str, *, sender: str = CUSTOMER, to: str = MERCHANT_NUMBER) -> list[str]:
    form = {
        "From": sender,
        "To": to,
        "Body": body,
        "MessageSid": "SM" + "0" * 32,
        "AccountSid": "AC" + "1" * 32,
        "NumMedia": "0",
    }
    response = post(client, "/hooks/twilio/sms", form)
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    messages = [m.text or "" for m in root.findall("Message")]
    assert messages, "every SMS gets an answer"
    return messages


def test_bad_or_missing_signature_is_403_and_changes_nothing(client, session, tenant):
    form = {"From": CUSTOMER, "To": MERCHANT_NUMBER, "Body": "JOIN"}
    assert (
        post(client, "/hooks/twilio/sms", form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    )
    assert client.post("/hooks/twilio/sms", data=form).status_code == 403
    tampered = RequestValidator(AUTH_TOKEN).compute_signature(f"{BASE}/hooks/twilio/sms", form)
    assert (
        post(client, "/hooks/twilio/sms", {**form, "Body": "YES"}, signature=tampered).status_code
        == 403
    )
    assert (
        post(
            client,
            "/hooks/twilio/status",
            {"MessageSid": "SM1", "MessageStatus": "failed"},
            signature="x",
        ).status_code
        == 403
    )


def test_signature_over_the_public_url_behind_a_proxy(client, session, tenant, monkeypatch):
    monkeypatch.setenv("TWILIO_PUBLIC_URL", "https://sms.loyalty.example")
    form = {"From": CUSTOMER, "To": MERCHANT_NUMBER, "Body": "HELP"}
    public = "https://sms.loyalty.example/hooks/twilio/sms"
    assert post(client, "/hooks/twilio/sms", form, url=public).status_code == 200
    assert post(client, "/hooks/twilio/sms", form).status_code == 403


def test_join_balance_card_rewards_redeem_and_till(client, session, tenant):
    assert "Reply YES or NO" in sms(client, "join")[0]
    welcome = sms(client, "Yes")
    assert "Welcome to" in welcome[0]
    assert "30 points" in welcome[0]
    assert "http://127.0.0.1:5000/wallet/pass/" in welcome[1]
    assert "30 points" in sms(client, "BALANCE")[0]
    card = sms(client, "card")
    assert "/wallet/qr/" in card[0]
    listing = sms(client, "rewards")[0]
    assert "1. Free croissant - 20 points *" in listing
    assert "Reply YES" in sms(client, "REDEEM 1")[0]
    voucher_text = sms(client, "YES")[0]
    assert "Your voucher for Free croissant" in voucher_text
    code = voucher_text.split("croissant: ")[1].split(",")[0]
    used = vouchers.use_voucher(
        session,
        merchant=tenant.merchant,
        code=code,
        idempotency_key="till-sms",
        actor=SYSTEM,
        shop=tenant.shop,
    )
    assert used.status == VoucherStatus.USED
    assert "10 points" in sms(client, "solde")[0]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("STOP", "no more messages"),
        ("stopall", "no more messages"),
        ("UNSUBSCRIBE", "no more messages"),
        ("Cancel", "no more messages"),
        ("end", "no more messages"),
        ("QUIT", "no more messages"),
        ("START", "on again"),
        ("unstop", "on again"),
        ("HELP", "BALANCE"),
        ("info", "BALANCE"),
        ("history", "Welcome bonus"),
        ("promos", "No promotions"),
        ("SHOPS", "Main street"),
        ("LANGUE FR", "français"),
        ("delete", "Reply YES"),
        ("gibberish text", "did not understand"),
    ],
)
def test_each_keyword_gets_its_twiml(client, session, tenant, word, expected):
    sms(client, "JOIN")
    sms(client, "YES")
    assert expected in " ".join(sms(client, word))


def test_stop_marks_the_sms_channel_opted_out(client, session, tenant):
    sms(client, "JOIN")
    sms(client, "YES")
    sms(client, "stop")
    identity = session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.kind == ChannelKind.SMS, ChannelIdentity.address == CUSTOMER
        )
    ).one()
    assert identity.opted_out_at is not None
    sms(client, "start")
    session.refresh(identity)
    assert identity.opted_out_at is None


def test_platform_number_needs_a_join_code(client, session, tenant):
    assert "JOIN" in sms(client, "hello", to=PLATFORM_NUMBER)[0]
    assert "Reply YES" in sms(client, f"JOIN {tenant.program.join_code}", to=PLATFORM_NUMBER)[0]
    assert "Welcome" in sms(client, "yes", to=PLATFORM_NUMBER)[0]


def test_odd_senders_and_empty_bodies_still_get_an_answer(client, session, tenant):
    assert sms(client, "", sender="")
    assert sms(client, "STOP", sender="ALPHA")
    assert sms(client, "\u0000\ud7ff" * 50)


def test_status_callback_updates_the_outbox(client, session, tenant):
    member = factories.make_member(session, tenant, phone=CUSTOMER)
    message = outbox.enqueue(
        session,
        merchant_id=tenant.merchant.id,
        member_id=member.id,
        channel=OutboxChannel.SMS,
        template="welcome",
        address=CUSTOMER,
        payload={},
    )
    message.provider_id = "SM" + "a" * 32
    message.status = OutboxStatus.SENDING
    session.flush()
    form = {"MessageSid": message.provider_id, "MessageStatus": "delivered"}
    assert post(client, "/hooks/twilio/status", form).status_code == 204
    session.refresh(message)
    assert message.status == OutboxStatus.SENT
    form = {"MessageSid": message.provider_id, "MessageStatus": "undelivered", "ErrorCode": "30005"}
    assert post(client, "/hooks/twilio/status", form).status_code == 204
    session.refresh(message)
    assert message.status == OutboxStatus.FAILED
    assert "30005" in message.last_error
    unknown = {"MessageSid": "SMunknown", "MessageStatus": "delivered"}
    assert post(client, "/hooks/twilio/status", unknown).status_code == 204
    assert session.scalars(select(OutboxMessage)).one().id == message.id
