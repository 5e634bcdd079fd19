"""Wallet settings, read from the Flask config when there is one, else from the environment.

Everything has a development default that points at the files `flask wallet dev-certs` writes
under instance/wallet/, so passes build and verify on a fresh checkout without Apple or Google.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV_DIR = ROOT / "instance" / "wallet"

DEV_PASS_TYPE_ID = "pass.dev.loyalty.local"
DEV_TEAM_ID = "DEVTEAM000"
DEV_ISSUER_ID = "3388000000000000000"


@dataclass(frozen=True)
class WalletSettings:
    pass_type_id: str
    team_id: str
    certificate: Path  # Pass Type ID certificate (PEM)
    key: Path  # its private key (PEM)
    key_password: bytes | None
    wwdr: Path  # Apple's WWDR intermediate; the dev CA stands in for it locally
    web_service_url: str  # the pass's webServiceURL: <public base>/wallet/apple
    public_base_url: str
    apns_url: str
    apns_ca_file: Path | None  # None: the system's CAs (production APNs)
    google_issuer_id: str
    google_service_account: Path
    google_api_base: str
    google_save_url: str
    google_token_uri: str | None  # overrides the service account's token_uri (tests, proxies)
    google_origins: tuple[str, ...]
    link_max_age: int  # seconds a signed "Add to Wallet" link stays valid
    platform_name: str  # shown on passes of merchants without white-label

    @property
    def dev_mode(self) -> bool:
        return self.certificate.parent == DEV_DIR


def settings(config: Mapping[str, Any] | None = None) -> WalletSettings:
    """Build the settings; `config` (a Flask app.config) wins over the environment."""

    def get(name: str, default: str | None = None) -> str | None:
        if config is not None and config.get(name) not in (None, ""):
            return str(config[name])
        value = os.environ.get(name)
        return value if value not in (None, "") else default

    from web.config import local_base_url

    base = (get("PUBLIC_BASE_URL") or local_base_url(os.environ)).rstrip("/")
    password = get("WALLET_KEY_PASSWORD")
    apns_ca = get("APNS_CA_FILE")
    origins = get("GOOGLE_WALLET_ORIGINS", base) or ""
    return WalletSettings(
        pass_type_id=get("WALLET_PASS_TYPE_ID", DEV_PASS_TYPE_ID) or DEV_PASS_TYPE_ID,
        team_id=get("WALLET_TEAM_ID", DEV_TEAM_ID) or DEV_TEAM_ID,
        certificate=Path(get("WALLET_CERTIFICATE", str(DEV_DIR / "pass.pem")) or ""),
        key=Path(get("WALLET_KEY", str(DEV_DIR / "pass.key")) or ""),
        key_password=password.encode() if password else None,
        wwdr=Path(get("WALLET_WWDR_CERTIFICATE", str(DEV_DIR / "ca.pem")) or ""),
        web_service_url=get("WALLET_WEB_SERVICE_URL", f"{base}/wallet/apple") or "",
        public_base_url=base,
        apns_url=(get("APNS_URL", "https://api.push.apple.com") or "").rstrip("/"),
        apns_ca_file=Path(apns_ca) if apns_ca else None,
        google_issuer_id=get("GOOGLE_WALLET_ISSUER_ID", DEV_ISSUER_ID) or DEV_ISSUER_ID,
        google_service_account=Path(
            get("GOOGLE_WALLET_SERVICE_ACCOUNT", str(DEV_DIR / "google-service-account.json")) or ""
        ),
        google_api_base=(
            get("GOOGLE_WALLET_API_BASE", "https://walletobjects.googleapis.com/walletobjects/v1")
            or ""
        ).rstrip("/"),
        google_save_url=(
            get("GOOGLE_WALLET_SAVE_URL", "https://pay.google.com/gp/v/save") or ""
        ).rstrip("/"),
        google_token_uri=get("GOOGLE_WALLET_TOKEN_URI"),
        google_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
        link_max_age=int(get("WALLET_LINK_MAX_AGE", str(90 * 24 * 3600)) or 0),
        platform_name=get("WALLET_PLATFORM_NAME", "Loyalty") or "Loyalty",
    )
