"""Google Wallet: a LoyaltyClass per programme, a LoyaltyObject per member, the save link, REST updates.

The save link carries a JWT (RS256, aud "google", typ "savetowallet") signed with the issuer's
service-account key through google-auth; Google creates the class and object when the member
saves the card. Later changes are PATCHed to the Wallet REST API with an authorised session.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from google.auth import jwt as google_jwt
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import OutboxMessage, OutboxStatus, WalletPass
from wallet.certs import WalletNotConfigured
from wallet.config import WalletSettings
from wallet.content import CardContent, card_content
from wallet.delivery import Outcome
from wallet.images import hex_to_rgb

SCOPES = ("https://www.googleapis.com/auth/wallet_object.issuer",)
# Fields of a LoyaltyObject that change with the member; what a PATCH sends.
MEMBER_FIELDS = (
    "state",
    "accountName",
    "loyaltyPoints",
    "barcode",
    "textModulesData",
    "validTimeInterval",
)
# Google shows at most 3 notifying updates per pass in any 24 hours and may throttle an issuer
# that asks for more; we ask only for balance changes, within that budget, and update silently
# otherwise.
NOTIFY_BUDGET = 3
NOTIFY_WINDOW = timedelta(hours=24)


def notifications_in_window(history: list[str], now: datetime) -> list[str]:
    """The notifying updates (ISO times) that still count against the budget at `now`."""
    return [at for at in history if now - datetime.fromisoformat(at) < NOTIFY_WINDOW]


def should_notify(wallet_pass: WalletPass, balance: int, now: datetime) -> bool:
    if wallet_pass.google_balance_shown == balance:
        return False  # branding, name or tier only: nothing the holder needs to be woken for
    return len(notifications_in_window(wallet_pass.google_notified_at or [], now)) < NOTIFY_BUDGET


def _suffix(text: str) -> str:
    # Ids are "issuerId.suffix"; the suffix allows letters, digits, '.', '_' and '-'.
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def class_id(settings: WalletSettings, program_slug: str) -> str:
    return f"{settings.google_issuer_id}.{_suffix('program-' + program_slug)}"


def object_id(settings: WalletSettings, serial_number: str) -> str:
    return f"{settings.google_issuer_id}.{_suffix('member-' + serial_number)}"


def _text(value: str, language: str = "en") -> dict[str, Any]:
    return {"defaultValue": {"language": language, "value": value}}


def _hex(color: str) -> str:
    r, g, b = hex_to_rgb(color)
    return f"#{r:02x}{g:02x}{b:02x}"


def loyalty_class(
    content: CardContent, settings: WalletSettings, *, program_slug: str
) -> dict[str, Any]:
    logo_url = f"{settings.public_base_url}/wallet/programs/{program_slug}/logo.png"
    body: dict[str, Any] = {
        "id": class_id(settings, program_slug),
        "issuerName": content.organization_name,
        "programName": content.program_name,
        "programLogo": {
            "sourceUri": {"uri": logo_url},
            "contentDescription": _text(f"{content.program_name} logo"),
        },
        "hexBackgroundColor": _hex(content.branding.primary),
        "reviewStatus": "UNDER_REVIEW",
        "homepageUri": {"uri": content.program_url, "description": content.program_name},
        "linksModuleData": {
            "uris": [{"id": "program", "uri": content.program_url, "description": "Programme page"}]
        },
        "textModulesData": [
            {"id": "earn", "header": "How to earn", "body": content.how_to_earn},
            {"id": "redeem", "header": "How to redeem", "body": content.how_to_redeem},
            {"id": "terms", "header": "Terms", "body": content.terms},
        ],
    }
    places = [p for p in content.places if p.latitude is not None and p.longitude is not None]
    if places:
        body["locations"] = [
            {"latitude": p.latitude, "longitude": p.longitude} for p in places[:10]
        ]
    return body


def _state(content: CardContent) -> str:
    if content.voided:
        return "INACTIVE"
    # A lapsed paid membership: Google files the pass under "Expired passes" until renewed.
    return "EXPIRED" if content.membership_lapsed else "ACTIVE"


def _balance(content: CardContent) -> dict[str, Any]:
    if content.stamp_card is None:
        return {"label": "Points", "balance": {"int": content.balance}}
    card = content.stamp_card
    return {"label": "Stamps", "balance": {"string": f"{card.filled}/{card.size}"}}


def _text_modules(content: CardContent) -> list[dict[str, str]]:
    if content.stamp_card is not None:
        card = content.stamp_card
        return [{"id": "stamps", "header": "Stamp card", "body": f"{card.grid}\n{card.summary}"}]
    modules = [{"id": "tier", "header": "Tier", "body": content.tier or "Member"}]
    if content.next_reward:
        header, _, body = content.next_reward.partition(": ")
        modules.append({"id": "next_reward", "header": header, "body": body})
    return modules


def loyalty_object(
    content: CardContent, settings: WalletSettings, *, program_slug: str
) -> dict[str, Any]:
    body = _object(content, settings, program_slug=program_slug)
    if content.membership_required and content.membership_expires_at is not None:
        body["validTimeInterval"] = {"end": {"date": content.membership_expires_at.isoformat()}}
    membership = content.membership_text
    if membership is not None:
        body["textModulesData"].append(
            {"id": "membership", "header": "Membership valid until", "body": membership}
        )
    return body


def _object(content: CardContent, settings: WalletSettings, *, program_slug: str) -> dict[str, Any]:
    return {
        "id": object_id(settings, content.serial_number),
        "classId": class_id(settings, program_slug),
        "state": _state(content),
        "accountId": content.card_number,
        "accountName": content.member_name or content.card_number_display,
        "loyaltyPoints": _balance(content),
        "barcode": {
            "type": "QR_CODE",
            "value": content.qr_message,
            "alternateText": content.card_number_display,
        },
        "textModulesData": _text_modules(content),
        "linksModuleData": {
            "uris": [{"id": "member", "uri": content.member_url, "description": "Member page"}]
        },
        "hexBackgroundColor": _hex(content.branding.primary),
    }


@functools.lru_cache(maxsize=4)
def _credentials(path: Path, token_uri: str | None, _mtime: float):
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise WalletNotConfigured(
            f"Google service-account key {path} is missing. Run `flask --app web wallet "
            "dev-certs` for local use, or set GOOGLE_WALLET_SERVICE_ACCOUNT."
        ) from exc
    except ValueError as exc:
        raise WalletNotConfigured(f"{path} is not a service-account JSON key: {exc}") from exc
    if token_uri:
        info["token_uri"] = token_uri
    return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))


def credentials(settings: WalletSettings):
    path = settings.google_service_account
    mtime = path.stat().st_mtime if path.exists() else 0.0
    return _credentials(path, settings.google_token_uri, mtime)


def save_jwt(
    settings: WalletSettings,
    *,
    objects: list[dict[str, Any]],
    classes: list[dict[str, Any]] = (),  # type: ignore[assignment]
    now: int | None = None,
) -> str:
    creds = credentials(settings)
    issued = now if now is not None else int(time.time())
    payload = {
        "iss": creds.service_account_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": issued,
        # Our link mints a fresh JWT on every click; a copied one goes stale within the hour.
        "exp": issued + 3600,
        "origins": list(settings.google_origins),
        "payload": {"loyaltyClasses": list(classes), "loyaltyObjects": objects},
    }
    return google_jwt.encode(creds.signer, payload).decode()


def save_url(wallet_pass: WalletPass, *, settings: WalletSettings, secret_key: bytes) -> str:
    """The "Add to Google Wallet" address for a member's Google pass, with fresh data."""
    content = card_content(wallet_pass, settings=settings, secret_key=secret_key)
    slug = wallet_pass.member.program.slug
    token = save_jwt(
        settings,
        classes=[loyalty_class(content, settings, program_slug=slug)],
        objects=[loyalty_object(content, settings, program_slug=slug)],
    )
    return f"{settings.google_save_url}/{token}"


class GoogleWalletSender:
    """Delivers outbox messages of channel `google`: PATCH the member's LoyaltyObject."""

    def __init__(
        self,
        session: Session,
        settings: WalletSettings,
        *,
        secret_key: bytes,
        http: AuthorizedSession | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.clock = clock
        self.session = session
        self.settings = settings
        self.secret_key = secret_key
        self._http = http
        self.timeout = timeout

    @property
    def http(self) -> AuthorizedSession:
        if self._http is None:
            self._http = AuthorizedSession(credentials(self.settings))
        return self._http

    def send(self, message: OutboxMessage) -> Outcome:
        wallet_pass = self.session.get(WalletPass, int(message.payload.get("pass_id", 0)))
        if wallet_pass is None:
            return Outcome(OutboxStatus.SKIPPED, error="The Google pass no longer exists.")
        content = card_content(wallet_pass, settings=self.settings, secret_key=self.secret_key)
        full = loyalty_object(content, self.settings, program_slug=wallet_pass.member.program.slug)
        # A key the object lacks goes as null, clearing it (paid membership switched off).
        body = {key: full.get(key) for key in MEMBER_FIELDS}
        now = self.clock()
        notify = should_notify(wallet_pass, content.balance, now)
        if notify:
            body["notifyPreference"] = "notifyOnUpdate"
        url = f"{self.settings.google_api_base}/loyaltyObject/{full['id']}"
        try:
            response = self.http.patch(url, json=body, timeout=self.timeout)
        except Exception as exc:  # requests' and google-auth's transport errors
            return Outcome(OutboxStatus.FAILED, error=f"Google Wallet API: {exc}", retry=True)
        if response.status_code == 200:
            wallet_pass.google_balance_shown = content.balance
            if notify:
                recent = notifications_in_window(wallet_pass.google_notified_at or [], now)
                wallet_pass.google_notified_at = [*recent, now.isoformat()]
            return Outcome(OutboxStatus.SENT, provider_id=full["id"])
        if response.status_code == 404:
            # Not saved yet: the save link carries the current data whenever the member uses it.
            return Outcome(OutboxStatus.SKIPPED, error="Not in the member's Google Wallet yet.")
        retry = response.status_code == 429 or response.status_code >= 500
        return Outcome(
            OutboxStatus.FAILED,
            error=f"Google Wallet API answered {response.status_code}: {response.text[:300]}",
            retry=retry,
        )
