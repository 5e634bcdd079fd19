"""An iPhone plays against the PassKit web service; customers follow their "Add to Wallet" links."""

# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)

from __future__ import annotations

import io
import json
import zipfile
from urllib.parse import urlsplit

import pytest
from flask import Flask
from google.auth import jwt as google_jwt
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import AppleRegistration, WalletPass, WalletPlatform
from loyalty.services.earn import earn
from loyalty.services.lookup import qr_token
from tests.factories import make_member, make_tenant
from tests.fakes.wallet import PASS_TYPE_ID, wallet_app, wallet_certs  # noqa: F401
from wallet import links
from wallet.push import queue_pass_updates

DEVICE = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
PUSH_TOKEN = "ab" * 32
BASE = "/wallet/apple/v1"


@pytest.fixture
def phone(wallet_app: Flask, client):
    """A client for the wallet app that behaves like the e2e `client` (a fresh context per request)."""
    wallet_app.test_client_class = type(client)
    try:
        yield wallet_app.test_client()
    finally:
        wallet_app.test_client_class = None


def _link(wallet_app: Flask, member, kind: str) -> str:
    secret = wallet_app.config["SECRET_KEY"]
    url = {
        "apple": links.apple_pass_url,
        "google": links.google_save_url,
        "qr": links.qr_png_url,
    }[kind](member, secret_key=secret, base_url="https://loyalty.example.com")
    return urlsplit(url).path


def _pass_json(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("pass.json"))


def test_an_iphone_registers_hears_of_an_earn_and_fetches_the_new_balance(
    wallet_app: Flask, phone, session: Session
) -> None:
    tenant = make_tenant(session)
    member = make_member(session, tenant, name="Grace Hopper")

    # The customer taps "Add to Apple Wallet".
    download = phone.get(_link(wallet_app, member, "apple"))
    assert download.status_code == 200
    assert download.mimetype == "application/vnd.apple.pkpass"
    installed = _pass_json(download.data)
    serial, token = installed["serialNumber"], installed["authenticationToken"]
    assert installed["storeCard"]["primaryFields"][0]["value"] == 0
    auth = {"Authorization": f"ApplePass {token}"}
    registration = f"{BASE}/devices/{DEVICE}/registrations/{PASS_TYPE_ID}/{serial}"

    # Wallet registers the device: 201 the first time, 200 after.
    assert phone.post(registration, json={"pushToken": PUSH_TOKEN}, headers=auth).status_code == 201
    assert phone.post(registration, json={"pushToken": PUSH_TOKEN}, headers=auth).status_code == 200

    listing = f"{BASE}/devices/{DEVICE}/registrations/{PASS_TYPE_ID}"
    first = phone.get(listing)
    assert first.status_code == 200
    assert first.json["serialNumbers"] == [serial]
    tag = first.json["lastUpdated"]
    assert phone.get(listing, query_string={"passesUpdatedSince": tag}).status_code == 204

    # Points are earned at the till; the worker queues a push for the device.
    earn(session, member=member, amount_cents=2500, idempotency_key="till-1")
    session.commit()
    assert queue_pass_updates(session)["apple"] == 1

    changed = phone.get(listing, query_string={"passesUpdatedSince": tag})
    assert changed.status_code == 200
    assert changed.json["serialNumbers"] == [serial]
    new_tag = changed.json["lastUpdated"]
    assert int(new_tag) > int(tag)

    latest = phone.get(f"{BASE}/passes/{PASS_TYPE_ID}/{serial}", headers=auth)
    assert latest.status_code == 200
    assert latest.mimetype == "application/vnd.apple.pkpass"
    assert _pass_json(latest.data)["storeCard"]["primaryFields"][0]["value"] == 25
    last_modified = latest.headers["Last-Modified"]

    # Nothing new since: 204 on the new tag, 304 for the pass itself.
    assert phone.get(listing, query_string={"passesUpdatedSince": new_tag}).status_code == 204
    unchanged = phone.get(
        f"{BASE}/passes/{PASS_TYPE_ID}/{serial}",
        headers={**auth, "If-Modified-Since": last_modified},
    )
    assert unchanged.status_code == 304

    # Device logs are accepted.
    assert phone.post(f"{BASE}/log", json={"logs": ["hello from the phone"]}).status_code == 200

    # The customer removes the pass.
    assert phone.delete(registration, headers=auth).status_code == 200
    assert session.scalars(select(AppleRegistration)).all() == []
    assert phone.get(listing).status_code == 204


@pytest.mark.parametrize(
    "authorization",
    [None, "ApplePass wrong-token-0123456789", "Bearer {token}", "ApplePass {token}x", "ApplePass"],
)
def test_wrong_authentication_tokens_get_401(
    wallet_app: Flask, phone, session: Session, authorization: str | None
) -> None:
    tenant = make_tenant(session)
    member = make_member(session, tenant)
    installed = _pass_json(phone.get(_link(wallet_app, member, "apple")).data)
    serial, token = installed["serialNumber"], installed["authenticationToken"]
    headers = {"Authorization": authorization.format(token=token)} if authorization else {}
    registration = f"{BASE}/devices/{DEVICE}/registrations/{PASS_TYPE_ID}/{serial}"
    assert (
        phone.post(registration, json={"pushToken": PUSH_TOKEN}, headers=headers).status_code == 401
    )
    assert phone.delete(registration, headers=headers).status_code == 401
    assert phone.get(f"{BASE}/passes/{PASS_TYPE_ID}/{serial}", headers=headers).status_code == 401


def test_another_passes_token_and_unknown_serials_get_401(
    wallet_app: Flask, phone, session: Session
) -> None:
    tenant = make_tenant(session)
    mine = _pass_json(phone.get(_link(wallet_app, make_member(session, tenant), "apple")).data)
    theirs = _pass_json(phone.get(_link(wallet_app, make_member(session, tenant), "apple")).data)
    other_auth = {"Authorization": f"ApplePass {theirs['authenticationToken']}"}
    url = f"{BASE}/passes/{PASS_TYPE_ID}/{mine['serialNumber']}"
    assert phone.get(url, headers=other_auth).status_code == 401
    assert phone.get(f"{BASE}/passes/{PASS_TYPE_ID}/nope", headers=other_auth).status_code == 401
    wrong_type = f"{BASE}/passes/pass.other.type/{theirs['serialNumber']}"
    assert phone.get(wrong_type, headers=other_auth).status_code == 401


def test_registration_without_a_push_token_is_refused(
    wallet_app: Flask, phone, session: Session
) -> None:
    member = make_member(session, make_tenant(session))
    installed = _pass_json(phone.get(_link(wallet_app, member, "apple")).data)
    auth = {"Authorization": f"ApplePass {installed['authenticationToken']}"}
    url = f"{BASE}/devices/{DEVICE}/registrations/{PASS_TYPE_ID}/{installed['serialNumber']}"
    assert phone.post(url, data="not json", headers=auth).status_code == 400
    assert phone.post(url, json={"pushToken": "<script>"}, headers=auth).status_code == 400


def test_the_google_link_redirects_to_a_save_url_with_a_verifiable_jwt(
    wallet_app: Flask, phone, session: Session, wallet_certs
) -> None:
    member = make_member(session, make_tenant(session), name="Alan Turing")
    response = phone.get(_link(wallet_app, member, "google"))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("https://pay.google.com/gp/v/save/")
    claims = google_jwt.decode(
        location.rsplit("/", 1)[1],
        certs=wallet_certs.google_certificate.read_bytes(),
        audience="google",
    )
    loyalty_object = claims["payload"]["loyaltyObjects"][0]
    assert loyalty_object["accountName"] == "Alan Turing"
    assert loyalty_object["barcode"]["value"] == qr_token(
        member, wallet_app.config["SECRET_KEY"].encode()
    )
    google_pass = session.scalars(
        select(WalletPass).where(WalletPass.platform == WalletPlatform.GOOGLE)
    ).one()
    assert google_pass.member_id == member.id


def test_the_qr_link_serves_a_png(wallet_app: Flask, phone, session: Session) -> None:
    member = make_member(session, make_tenant(session))
    response = phone.get(_link(wallet_app, member, "qr"))
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).format == "PNG"


def test_a_tampered_link_gets_a_readable_404(wallet_app: Flask, phone, session: Session) -> None:
    member = make_member(session, make_tenant(session))
    path = _link(wallet_app, member, "apple")
    response = phone.get(path.replace(".pkpass", "x.pkpass"))
    assert response.status_code == 404
    assert b"not valid" in response.data
    # A QR link does not open the pass download.
    qr = _link(wallet_app, member, "qr").removeprefix("/wallet/qr/").removesuffix(".png")
    assert phone.get(f"/wallet/pass/{qr}.pkpass").status_code == 404


def test_the_programme_logo_for_google_is_served(
    wallet_app: Flask, phone, session: Session
) -> None:
    tenant = make_tenant(session)
    response = phone.get(f"/wallet/programs/{tenant.program.slug}/logo.png")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == (660, 660)
    assert phone.get("/wallet/programs/no-such-programme/logo.png").status_code == 404
