"""Google Wallet payloads and the save JWT, verified with the dev key's public certificate."""

# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from google.auth import jwt as google_jwt

from loyalty.models import StampPer
from loyalty.services.stamps import StampCard
from tests.fakes.wallet import wallet_certs, wallet_settings  # noqa: F401
from tests.unit.test_wallet_apple import TOKEN, content
from wallet import google
from wallet.certs import DevFiles
from wallet.config import WalletSettings

ID = re.compile(r"\d+\.[A-Za-z0-9._-]+")


def test_object_carries_account_balance_tier_and_the_signed_qr_token(
    wallet_settings: WalletSettings,
) -> None:
    body = google.loyalty_object(content(), wallet_settings, program_slug="dupont")
    assert ID.fullmatch(body["id"])
    assert body["id"].startswith(wallet_settings.google_issuer_id)
    assert body["classId"] == f"{wallet_settings.google_issuer_id}.program-dupont"
    assert body["state"] == "ACTIVE"
    assert body["accountId"] == "123456789012"
    assert body["accountName"] == "Éloïse Martin"
    assert body["loyaltyPoints"] == {"label": "Points", "balance": {"int": 1250}}
    assert body["barcode"] == {
        "type": "QR_CODE", "value": TOKEN, "alternateText": "1234 5678 9012",
    }  # fmt: skip
    assert body["textModulesData"] == [{"id": "tier", "header": "Tier", "body": "Gold"}]


def test_a_stamp_card_object_shows_stamps_and_the_grid(wallet_settings: WalletSettings) -> None:
    card = StampCard(size=10, filled=9, reward="Free coffee", per=StampPer.ITEM)
    body = google.loyalty_object(content(stamp_card=card), wallet_settings, program_slug="dupont")
    assert body["loyaltyPoints"] == {"label": "Stamps", "balance": {"string": "9/10"}}
    assert body["textModulesData"] == [
        {
            "id": "stamps",
            "header": "Stamp card",
            "body": "●●●●●●●●●○\n9 of 10 stamps: 1 more stamp for Free coffee.",
        }
    ]


def test_closed_members_cards_become_inactive(wallet_settings: WalletSettings) -> None:
    body = google.loyalty_object(content(voided=True), wallet_settings, program_slug="dupont")
    assert body["state"] == "INACTIVE"


def test_class_names_issuer_programme_logo_and_colours(wallet_settings: WalletSettings) -> None:
    body = google.loyalty_class(content(), wallet_settings, program_slug="dupont")
    assert ID.fullmatch(body["id"])
    assert body["issuerName"] == "Bakery Dupont"
    assert body["programName"] == "Dupont Rewards"
    assert body["programLogo"]["sourceUri"]["uri"] == (
        "https://loyalty.example.com/wallet/programs/dupont/logo.png"
    )
    assert body["hexBackgroundColor"] == "#7a4b2a"


def test_save_jwt_verifies_with_the_dev_public_certificate(
    wallet_settings: WalletSettings, wallet_certs: DevFiles
) -> None:
    card = content()
    obj = google.loyalty_object(card, wallet_settings, program_slug="dupont")
    cls = google.loyalty_class(card, wallet_settings, program_slug="dupont")
    token = google.save_jwt(wallet_settings, objects=[obj], classes=[cls])
    header = google_jwt.decode_header(token)
    assert header["alg"] == "RS256"
    claims = google_jwt.decode(
        token, certs=wallet_certs.google_certificate.read_bytes(), audience="google"
    )
    assert claims["typ"] == "savetowallet"
    assert claims["iss"] == "wallet-dev@loyalty-dev.iam.gserviceaccount.com"
    assert claims["origins"] == ["https://loyalty.example.com"]
    assert claims["payload"] == {"loyaltyClasses": [cls], "loyaltyObjects": [obj]}


def test_a_jwt_signed_by_another_key_does_not_verify(
    wallet_settings: WalletSettings, wallet_certs: DevFiles, tmp_path_factory
) -> None:
    from dataclasses import replace

    import pytest

    from wallet.certs import create_dev_certificates

    other, _ = create_dev_certificates(
        tmp_path_factory.mktemp("other-google"), pass_type_id="p", team_id="t"
    )
    forged = google.save_jwt(
        replace(wallet_settings, google_service_account=other.google_service_account),
        objects=[],
    )
    with pytest.raises(ValueError, match="signature"):
        google_jwt.decode(
            forged, certs=wallet_certs.google_certificate.read_bytes(), audience="google"
        )


PAID = {
    "membership_required": True,
    "membership_valid_until": date(2027, 11, 24),
    "membership_expires_at": datetime(2027, 11, 24, 23, 0, tzinfo=UTC),
}


def test_a_paid_card_carries_its_end_and_a_lapsed_one_is_expired(
    wallet_settings: WalletSettings,
) -> None:
    body = google.loyalty_object(content(**PAID), wallet_settings, program_slug="dupont")
    assert body["state"] == "ACTIVE"
    assert body["validTimeInterval"] == {"end": {"date": "2027-11-24T23:00:00+00:00"}}
    assert body["textModulesData"][-1] == {
        "id": "membership", "header": "Membership valid until", "body": "24 Nov 2027",
    }  # fmt: skip
    lapsed = google.loyalty_object(
        content(**PAID, membership_lapsed=True), wallet_settings, program_slug="dupont"
    )
    assert lapsed["state"] == "EXPIRED"
    assert lapsed["textModulesData"][-1]["body"] == "Expired 24 Nov 2027: renew at the till"
    blocked = google.loyalty_object(
        content(**PAID, membership_lapsed=True, voided=True), wallet_settings, program_slug="x"
    )
    assert blocked["state"] == "INACTIVE"  # a blocked card stays blocked, paid or not


def test_a_free_programmes_card_has_no_end(wallet_settings: WalletSettings) -> None:
    body = google.loyalty_object(content(), wallet_settings, program_slug="dupont")
    assert "validTimeInterval" not in body


def test_the_next_reward_on_the_ladder_is_a_text_module(wallet_settings: WalletSettings) -> None:
    card = content(next_reward="Next reward: Croissant in 40 pts")
    body = google.loyalty_object(card, wallet_settings, program_slug="dupont")
    assert body["textModulesData"][1] == {
        "id": "next_reward", "header": "Next reward", "body": "Croissant in 40 pts",
    }  # fmt: skip
