"""`flask wallet ...`: development certificates, a pass to a file, the Google link, pushes."""

# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from loyalty.models import AppleRegistration, WalletPlatform
from loyalty.services.earn import earn
from tests.factories import make_member, make_reward, make_tenant
from tests.fakes.wallet import (  # noqa: F401
    apns_server_certs,
    fake_apns,
    fake_google,
    wallet_app,
    wallet_certs,
)
from wallet import passes as wallet_passes
from wallet.cli import wallet


def test_dev_certs_creates_the_ca_pass_certificate_and_google_key(
    wallet_app: Flask, tmp_path: Path
) -> None:
    runner = wallet_app.test_cli_runner()
    result = runner.invoke(wallet, ["dev-certs", "--directory", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    for name in ("ca.pem", "pass.pem", "pass.key", "google-service-account.json"):
        assert (tmp_path / "w" / name).is_file()
    again = runner.invoke(wallet, ["dev-certs", "--directory", str(tmp_path / "w")])
    assert "Kept the existing" in again.output


def test_pass_writes_a_members_pkpass_and_google_json(
    wallet_app: Flask, session: Session, tmp_path: Path
) -> None:
    member = make_member(session, make_tenant(session), name="Katherine Johnson")
    runner = wallet_app.test_cli_runner()
    out = tmp_path / "card.pkpass"
    result = runner.invoke(wallet, ["pass", member.card_number, "--platform", "apple", "-o", out])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        assert json.loads(archive.read("pass.json"))["storeCard"]["secondaryFields"][0][
            "value"
        ] == ("Katherine Johnson")
    google_out = tmp_path / "card.json"
    result = runner.invoke(
        wallet, ["pass", member.card_number, "--platform", "google", "-o", google_out]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(google_out.read_text())["loyaltyObject"]["accountId"] == member.card_number


def test_google_link_prints_the_save_url(wallet_app: Flask, session: Session) -> None:
    member = make_member(session, make_tenant(session))
    result = wallet_app.test_cli_runner().invoke(wallet, ["google-link", member.card_number])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("https://pay.google.com/gp/v/save/")


def test_unknown_or_mistyped_cards_get_a_clear_message(wallet_app: Flask, session: Session) -> None:
    runner = wallet_app.test_cli_runner()
    assert "not valid" in runner.invoke(wallet, ["google-link", "123456789013"]).output
    assert "No member has card" in runner.invoke(wallet, ["google-link", "123456789015"]).output


def test_push_queues_and_delivers_pass_updates(
    wallet_app: Flask, app: Flask, session: Session, fake_apns, fake_google, monkeypatch
) -> None:
    for each in {wallet_app, app}:
        for key, value in {
            "APNS_URL": fake_apns.url,
            "APNS_CA_FILE": str(wallet_certs_path(wallet_app)),
            "GOOGLE_WALLET_API_BASE": fake_google.api_base,
            "GOOGLE_WALLET_TOKEN_URI": fake_google.token_uri,
        }.items():
            monkeypatch.setitem(each.config, key, value)
    member = make_member(session, make_tenant(session))
    apple_pass = wallet_passes.pass_for(session, member, WalletPlatform.APPLE)
    wallet_passes.pass_for(session, member, WalletPlatform.GOOGLE)
    session.add(
        AppleRegistration(
            device_library_identifier="d", push_token="cd" * 32, pass_id=apple_pass.id
        )
    )
    earn(session, member=member, amount_cents=700, idempotency_key="cli-push")
    result = wallet_app.test_cli_runner().invoke(wallet, ["push"])
    assert result.exit_code == 0, result.output
    assert "2 changed passes: 1 APNs pushes and 1 Google updates queued" in result.output
    assert "sent 2" in result.output
    assert len(fake_apns.pushes) == 1
    assert len(fake_google.patches()) == 1


def wallet_certs_path(app: Flask) -> Path:
    return Path(app.config["WALLET_WWDR_CERTIFICATE"])


def test_the_pass_names_the_next_reward_on_the_ladder(
    wallet_app: Flask, session: Session, tmp_path: Path
) -> None:
    tenant = make_tenant(session)
    member = make_member(session, tenant, name="Katherine Johnson")
    make_reward(session, tenant, cost=100, name="Croissant")
    earn(session, member=member, amount_cents=6000, idempotency_key="k-60")
    out = tmp_path / "card.pkpass"
    runner = wallet_app.test_cli_runner()
    result = runner.invoke(wallet, ["pass", member.card_number, "--platform", "apple", "-o", out])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        secondary = json.loads(archive.read("pass.json"))["storeCard"]["secondaryFields"]
    assert secondary[1] == {
        "key": "next_reward",
        "label": "NEXT REWARD",
        "value": "Croissant in 40 pts",
    }
