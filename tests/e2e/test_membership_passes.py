"""What the built passes say: the lock-screen message of a balance change, and a paid membership's
end date on Apple (expirationDate) and Google (validTimeInterval, EXPIRED once lapsed)."""

# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import LoyaltyMember, Role
from loyalty.services import membership
from loyalty.services.earn import earn
from tests.factories import actor_for, make_member, make_tenant, make_user
from tests.fakes.wallet import PASS_TYPE_ID, wallet_app, wallet_certs  # noqa: F401
from wallet import links

BASE = "/wallet/apple/v1"


@pytest.fixture
def phone(wallet_app: Flask, client):
    wallet_app.test_client_class = type(client)
    try:
        yield wallet_app.test_client()
    finally:
        wallet_app.test_client_class = None


def _download(wallet_app: Flask, phone, member: LoyaltyMember) -> dict:
    url = links.apple_pass_url(
        member, secret_key=wallet_app.config["SECRET_KEY"], base_url="https://loyalty.example.com"
    )
    response = phone.get(urlsplit(url).path)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        return json.loads(archive.read("pass.json"))


def _fetch(phone, installed: dict) -> dict:
    """What Wallet fetches from the PassKit web service after a push."""
    response = phone.get(
        f"{BASE}/passes/{PASS_TYPE_ID}/{installed['serialNumber']}",
        headers={"Authorization": f"ApplePass {installed['authenticationToken']}"},
    )
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        return json.loads(archive.read("pass.json"))


def _field(body: dict, key: str) -> dict:
    card = body["storeCard"]
    fields = [f for group in card.values() if isinstance(group, list) for f in group]
    return next(f for f in fields if f.get("key") == key)


def test_a_balance_change_carries_the_lock_screen_message_in_the_built_pass(
    wallet_app: Flask, phone, session: Session
) -> None:
    member = make_member(session, make_tenant(session))
    installed = _download(wallet_app, phone, member)
    earn(session, member=member, amount_cents=4200, idempotency_key="till-1")
    session.commit()
    balance = _field(_fetch(phone, installed), "balance")
    # Wallet puts the new value in place of %@ on the lock screen: "You now have 42 points."
    assert balance["changeMessage"] == "You now have %@ points."
    assert balance["value"] == 42
    assert "expirationDate" not in installed  # a free programme's card never expires


def test_a_paid_card_carries_its_end_and_shows_expired_once_lapsed(
    wallet_app: Flask, phone, session: Session
) -> None:
    tenant = make_tenant(session)
    tenant.program.paid_membership = True
    tenant.program.membership_price_cents = 3000
    member = make_member(session, tenant)
    unpaid = _download(wallet_app, phone, member)
    assert "expirationDate" not in unpaid
    assert _field(unpaid, "membership")["value"] == "Not paid yet: pay at the till"

    cashier = actor_for(make_user(session, tenant), Role.STAFF)
    renewal = membership.renew(session, member=member, actor=cashier, idempotency_key="r1")
    session.commit()
    paid = _fetch(phone, unpaid)
    # The end is the merchant's midnight after the last valid day, as a W3C date-time.
    assert datetime.fromisoformat(paid["expirationDate"]) == member.membership_expires_at
    field = _field(paid, "membership")
    assert field["label"] == "VALID UNTIL"
    assert field["value"] == renewal.valid_until.strftime("%d %b %Y")
    assert field["changeMessage"] == "Membership: %@"
    assert "voided" not in paid  # a renewal brings an expired card back: not void

    # A year on the period has ended: the pass says so (Wallet greys it from expirationDate).
    member.membership_expires_at = utcnow() - timedelta(days=1)
    session.commit()
    lapsed = _fetch(phone, unpaid)
    assert _field(lapsed, "membership")["value"].startswith("Expired ")
    assert datetime.fromisoformat(lapsed["expirationDate"]) < datetime.now(UTC)
