"""Apple pass payloads and packaging, checked independently of the signing code (openssl, hashlib)."""

# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from loyalty.models import StampPer
from loyalty.services.stamps import StampCard
from tests.fakes.wallet import (  # noqa: F401  (fixtures)
    PASS_TYPE_ID,
    TEAM_ID,
    wallet_certs,
    wallet_settings,
)
from wallet import apple
from wallet.certs import DevFiles, load_signer
from wallet.config import WalletSettings
from wallet.content import CardContent, Place
from wallet.images import SIZES, Branding

TOKEN = "LY1.7.42.abcdefghijklmnopqrstuvwx"


def content(**overrides) -> CardContent:
    values = {
        "serial_number": "0123456789abcdef0123456789abcdef",
        "authentication_token": "t" * 32,
        "card_number": "123456789012",
        "member_name": "Éloïse Martin",
        "balance": 1250,
        "tier": "Gold",
        "program_name": "Dupont Rewards",
        "organization_name": "Bakery Dupont",
        "qr_message": TOKEN,
        "member_url": "https://loyalty.example.com/p/dupont",
        "program_url": "https://loyalty.example.com/p/dupont",
        "places": (Place("Main street", "1 Main St", 49.61, 6.13),),
        "how_to_earn": "Earn 1 point per EUR.",
        "how_to_redeem": "At the till.",
        "terms": "Terms v1",
        "branding": Branding("Dupont Rewards", "#7a4b2a", "#f5efe6"),
        "white_label": False,
        "platform_name": "Loyalty",
    }
    values.update(overrides)
    return CardContent(**values)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def openssl_verify(
    files: dict[str, bytes], ca: Path, tmp_path: Path
) -> subprocess.CompletedProcess:
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"])
    (tmp_path / "signature").write_bytes(files["signature"])
    return subprocess.run(
        [
            "openssl", "cms", "-verify", "-binary", "-inform", "DER",
            "-in", str(tmp_path / "signature"), "-content", str(tmp_path / "manifest.json"),
            "-CAfile", str(ca), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def verify_pkpass(data: bytes, ca: Path, tmp_path: Path) -> list[str]:
    """Every problem a device would find: unlisted files, hash mismatches, a bad signature."""
    files = unzip(data)
    problems = []
    try:
        listed = json.loads(files["manifest.json"])
    except ValueError:
        listed = {}
        problems.append("manifest.json is not JSON")
    payload = set(files) - {"manifest.json", "signature"}
    if payload != set(listed):
        problems.append(f"manifest lists {sorted(listed)}, archive has {sorted(payload)}")
    for name in payload & set(listed):
        if hashlib.sha1(files[name]).hexdigest() != listed[name]:
            problems.append(f"hash of {name} does not match")
    result = openssl_verify(files, ca, tmp_path)
    if result.returncode != 0:
        problems.append(f"signature: {result.stderr.strip()}")
    return problems


@pytest.fixture(scope="module")
def pkpass(wallet_settings: WalletSettings) -> bytes:
    return apple.build(content(), wallet_settings, load_signer(wallet_settings))


def test_pass_json_holds_every_key_apple_requires(wallet_settings: WalletSettings) -> None:
    body = apple.pass_json(content(), wallet_settings)
    assert all(body.get(key) not in (None, "") for key in apple.REQUIRED_KEYS)
    assert body["formatVersion"] == 1
    assert body["passTypeIdentifier"] == PASS_TYPE_ID
    assert body["teamIdentifier"] == TEAM_ID
    assert body["webServiceURL"] == "https://loyalty.example.com/wallet/apple"
    assert len(body["authenticationToken"]) >= 16


def test_store_card_shows_balance_tier_member_and_card(wallet_settings: WalletSettings) -> None:
    card = apple.pass_json(content(), wallet_settings)["storeCard"]
    fields = {
        f["key"]: f["value"]
        for group in ("headerFields", "primaryFields", "secondaryFields", "auxiliaryFields")
        for f in card[group]
    }
    assert fields == {
        "tier": "Gold", "balance": 1250, "member": "Éloïse Martin", "card": "1234 5678 9012",
    }  # fmt: skip
    back = {f["key"] for f in card["backFields"]}
    assert {"earn", "redeem", "shops", "member_page", "terms", "platform"} <= back


STAMPS = StampCard(size=10, filled=3, reward="Free coffee", per=StampPer.VISIT)


def test_a_stamp_card_pass_shows_the_grid_instead_of_points(
    wallet_settings: WalletSettings,
) -> None:
    card = apple.pass_json(content(stamp_card=STAMPS), wallet_settings)["storeCard"]
    assert card["primaryFields"] == [
        {
            "key": "balance",
            "label": "STAMPS",
            "value": "3 of 10",
            "changeMessage": "Your card now has %@ stamps.",
        }
    ]
    assert card["secondaryFields"] == [
        {"key": "stamps", "label": "10 STAMPS: FREE COFFEE", "value": "●●●○○○○○○○"}
    ]
    assert [f["key"] for f in card["auxiliaryFields"]] == ["member", "card"]


def test_the_next_reward_on_the_ladder_is_a_secondary_field(
    wallet_settings: WalletSettings,
) -> None:
    card = content(next_reward="Next reward: Croissant in 40 pts")
    secondary = apple.pass_json(card, wallet_settings)["storeCard"]["secondaryFields"]
    assert secondary[1] == {
        "key": "next_reward",
        "label": "NEXT REWARD",
        "value": "Croissant in 40 pts",
    }
    no_ladder = apple.pass_json(content(), wallet_settings)["storeCard"]["secondaryFields"]
    assert [f["key"] for f in no_ladder] == ["member"]


def test_barcode_is_the_signed_qr_token_with_the_card_number_as_alt_text(
    wallet_settings: WalletSettings,
) -> None:
    body = apple.pass_json(content(), wallet_settings)
    assert body["barcodes"] == [
        {
            "format": "PKBarcodeFormatQR",
            "message": TOKEN,
            "messageEncoding": "iso-8859-1",
            "altText": "1234 5678 9012",
        }
    ]


def test_white_label_passes_do_not_name_the_platform(wallet_settings: WalletSettings) -> None:
    body = apple.pass_json(content(white_label=True), wallet_settings)
    assert "platform" not in {f["key"] for f in body["storeCard"]["backFields"]}


def test_at_most_ten_located_shops_become_locations(wallet_settings: WalletSettings) -> None:
    located = [Place(f"Shop {i}", "", 49.0 + i / 100, 6.0) for i in range(14)]
    places = (*located, Place("No coordinates", "somewhere"))
    body = apple.pass_json(content(places=places), wallet_settings)
    assert len(body["locations"]) == 10
    assert body["locations"][0] == {
        "latitude": 49.0, "longitude": 6.0, "relevantText": "Shop 0: show your Dupont Rewards card",
    }  # fmt: skip


def test_colours_come_from_the_branding_with_readable_text(wallet_settings: WalletSettings) -> None:
    body = apple.pass_json(content(), wallet_settings)
    assert body["backgroundColor"] == "rgb(122, 75, 42)"
    assert body["foregroundColor"] == "rgb(255, 255, 255)"
    light = apple.pass_json(content(branding=Branding("X", "#f5efe6", "#000000")), wallet_settings)
    assert light["foregroundColor"] == "rgb(0, 0, 0)"


def test_pkpass_verifies_against_the_dev_ca_and_every_hash_matches(
    pkpass: bytes, wallet_certs: DevFiles, tmp_path: Path
) -> None:
    assert verify_pkpass(pkpass, wallet_certs.ca_certificate, tmp_path) == []


def test_pkpass_holds_pass_json_and_every_image_at_three_scales(pkpass: bytes) -> None:
    files = unzip(pkpass)
    for kind, (w, h) in SIZES.items():
        for scale, name in ((1, f"{kind}.png"), (2, f"{kind}@2x.png"), (3, f"{kind}@3x.png")):
            image = Image.open(io.BytesIO(files[name]))
            assert image.format == "PNG"
            assert image.size == (w * scale, h * scale), name
    assert json.loads(files["pass.json"])["serialNumber"] == "0123456789abcdef0123456789abcdef"


def test_signature_carries_the_wwdr_certificate_and_the_pass_certificate(
    pkpass: bytes, tmp_path: Path
) -> None:
    (tmp_path / "signature").write_bytes(unzip(pkpass)["signature"])
    printed = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-in", str(tmp_path / "signature"), "-print_certs"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"Pass Type ID: {PASS_TYPE_ID}" in printed
    assert "Loyalty Dev WWDR CA" in printed


@pytest.mark.parametrize("victim", ["pass.json", "icon.png", "strip@3x.png", "manifest.json"])
def test_tampering_with_any_file_is_caught(
    pkpass: bytes, wallet_certs: DevFiles, tmp_path: Path, victim: str
) -> None:
    files = unzip(pkpass)
    files[victim] = files[victim][:-1] + bytes([files[victim][-1] ^ 0x01])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    assert verify_pkpass(out.getvalue(), wallet_certs.ca_certificate, tmp_path) != []


def test_a_signature_by_another_ca_is_refused(
    pkpass: bytes, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from wallet.certs import create_dev_certificates

    other, _ = create_dev_certificates(
        tmp_path_factory.mktemp("other"), pass_type_id=PASS_TYPE_ID, team_id=TEAM_ID
    )
    assert verify_pkpass(pkpass, other.ca_certificate, tmp_path) != []


def test_a_rewritten_manifest_matching_edited_files_fails_the_signature(
    pkpass: bytes, wallet_certs: DevFiles, tmp_path: Path
) -> None:
    files = unzip(pkpass)
    edited = json.loads(files["pass.json"])
    edited["storeCard"]["primaryFields"][0]["value"] = 999999
    files["pass.json"] = json.dumps(edited).encode()
    files["manifest.json"] = apple.manifest(
        {k: v for k, v in files.items() if k not in {"manifest.json", "signature"}}
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    problems = verify_pkpass(out.getvalue(), wallet_certs.ca_certificate, tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("signature:")
