"""Wallet test fixtures: development certificates in a temporary directory, settings, fakes.

Import the fixtures into a test module: `from tests.fakes.wallet import wallet_certs, ...`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask

from tests.fakes.apns import FakeApns
from tests.fakes.google_wallet import FakeGoogleWallet
from wallet.certs import DevFiles, create_dev_certificates, issue
from wallet.config import WalletSettings, settings

PASS_TYPE_ID = "pass.test.loyalty"
TEAM_ID = "TEAMTEST01"


@pytest.fixture(scope="session")
def wallet_certs(tmp_path_factory: pytest.TempPathFactory) -> DevFiles:
    files, _ = create_dev_certificates(
        tmp_path_factory.mktemp("wallet"), pass_type_id=PASS_TYPE_ID, team_id=TEAM_ID
    )
    return files


def config_for(files: DevFiles, **extra: str) -> dict[str, str]:
    return {
        "WALLET_PASS_TYPE_ID": PASS_TYPE_ID,
        "WALLET_TEAM_ID": TEAM_ID,
        "WALLET_CERTIFICATE": str(files.pass_certificate),
        "WALLET_KEY": str(files.pass_key),
        "WALLET_WWDR_CERTIFICATE": str(files.ca_certificate),
        "GOOGLE_WALLET_SERVICE_ACCOUNT": str(files.google_service_account),
        "PUBLIC_BASE_URL": "https://loyalty.example.com",
        **extra,
    }


@pytest.fixture(scope="session")
def wallet_settings(wallet_certs: DevFiles) -> WalletSettings:
    return settings(config_for(wallet_certs))


@pytest.fixture(scope="session")
def apns_server_certs(wallet_certs: DevFiles, tmp_path_factory: pytest.TempPathFactory):
    """A TLS certificate for 127.0.0.1 issued by the dev CA, for the fake APNs."""
    ca = x509.load_pem_x509_certificate(wallet_certs.ca_certificate.read_bytes())
    ca_key = serialization.load_pem_private_key(wallet_certs.ca_key.read_bytes(), None)
    certificate, key = issue(
        ca, ca_key,  # type: ignore[arg-type]
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
        usages=[ExtendedKeyUsageOID.SERVER_AUTH], hosts=["127.0.0.1"],
    )  # fmt: skip
    directory = tmp_path_factory.mktemp("apns")
    cert_path, key_path = Path(directory / "server.pem"), Path(directory / "server.key")
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def fake_apns(wallet_certs: DevFiles, apns_server_certs) -> Iterator[FakeApns]:
    cert_path, key_path = apns_server_certs
    server = FakeApns(cert_path, key_path, client_ca=wallet_certs.ca_certificate).start()
    yield server
    server.stop()


@pytest.fixture
def fake_google(wallet_certs: DevFiles) -> Iterator[FakeGoogleWallet]:
    server = FakeGoogleWallet(wallet_certs.google_certificate.read_bytes()).start()
    yield server
    server.stop()


@pytest.fixture
def push_settings(
    wallet_settings: WalletSettings, wallet_certs: DevFiles, fake_apns, fake_google
) -> WalletSettings:
    return replace(
        wallet_settings,
        apns_url=fake_apns.url,
        apns_ca_file=wallet_certs.ca_certificate,
        google_api_base=fake_google.api_base,
        google_token_uri=fake_google.token_uri,
    )


@pytest.fixture
def wallet_app(app: Flask, wallet_certs: DevFiles) -> Iterator[Flask]:
    """The test app with wallet settings pointing at the temporary certificates.

    Until web/__init__.py registers the wallet blueprint, a second app built from the same
    configuration carries it; both share the test's database session.
    """
    overrides = config_for(wallet_certs)
    target = app
    if "wallet" not in app.blueprints:
        from web import create_app
        from web.passkit import blueprint

        target = create_app({**app.config, **overrides})
        target.register_blueprint(blueprint)
    # Both apps: code running under the test's pushed app context reads `app`'s config.
    saved = {key: app.config.get(key) for key in overrides}
    for each in {id(app): app, id(target): target}.values():
        each.config.update(overrides)
        each.extensions.pop("wallet_settings", None)
    yield target
    for each in {id(app): app, id(target): target}.values():
        each.config.update(saved)
        each.extensions.pop("wallet_settings", None)
