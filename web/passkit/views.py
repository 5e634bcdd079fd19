"""Thin views: parse the request, call wallet/, answer as Apple's PassKit reference says."""

from __future__ import annotations

import hmac
import json
import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Flask, Response, current_app, redirect, request
from sqlalchemy import select
from werkzeug.http import http_date, parse_date

from loyalty.errors import InvalidToken, LoyaltyError
from loyalty.models import (
    AppleRegistration,
    LoyaltyMember,
    LoyaltyProgram,
    WalletPass,
    WalletPlatform,
)
from loyalty.services.lookup import qr_token
from wallet import apple, google, links
from wallet import passes as wallet_passes
from wallet.certs import WalletNotConfigured, load_signer
from wallet.config import WalletSettings, settings
from wallet.content import branding_of, card_content
from wallet.images import square_logo
from wallet.push import modified_expression
from wallet.qr import qr_png
from web.extensions import csrf, db

blueprint = Blueprint("wallet", __name__, url_prefix="/wallet")
service = Blueprint("passkit", __name__, url_prefix="/apple")
csrf.exempt(service)  # Apple's devices post JSON with their own authentication

DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
PUSH_TOKEN = re.compile(r"[0-9A-Fa-f]{16,200}")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def wallet_settings() -> WalletSettings:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    cached = app.extensions.get("wallet_settings")
    if cached is None:
        cached = app.extensions["wallet_settings"] = settings(app.config)
    return cached


def _secret_key() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def _empty(status: int) -> Response:
    return Response(b"", status=status)


def tag_of(moment: datetime) -> str:
    return str((moment - EPOCH) // MICROSECOND)


def moment_of(tag: str | None) -> datetime | None:
    if not tag or not tag.isascii() or not tag.isdigit() or len(tag) > 18:
        return None
    return EPOCH + int(tag) * MICROSECOND


# --- the PassKit web service --------------------------------------------------------------


def _authorised_pass(pass_type_identifier: str, serial: str) -> WalletPass | None:
    """The Apple pass named in the URL if the request carries its token, else None (401)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    wallet_pass = None
    if pass_type_identifier == wallet_settings().pass_type_id:
        wallet_pass = wallet_passes.by_serial(db.session, serial)
    if wallet_pass is not None and wallet_pass.platform != WalletPlatform.APPLE:
        wallet_pass = None
    expected = wallet_pass.authentication_token if wallet_pass else "-" * 32
    # Compared in constant time, and compared even when the pass does not exist.
    matches = hmac.compare_digest(token.strip().encode(), expected.encode())
    if scheme != "ApplePass" or not matches or wallet_pass is None:
        return None
    return wallet_pass


@service.post("/v1/devices/<device>/registrations/<pass_type_identifier>/<serial>")
def register_device(device: str, pass_type_identifier: str, serial: str) -> Response:
    wallet_pass = _authorised_pass(pass_type_identifier, serial)
    if wallet_pass is None:
        return _empty(401)
    body = request.get_json(silent=True, force=True)
    push_token = body.get("pushToken") if isinstance(body, dict) else None
    if not DEVICE_ID.fullmatch(device) or not isinstance(push_token, str):
        return _empty(400)
    if not PUSH_TOKEN.fullmatch(push_token):
        return _empty(400)
    registration = db.session.scalars(
        select(AppleRegistration).where(
            AppleRegistration.device_library_identifier == device,
            AppleRegistration.pass_id == wallet_pass.id,
        )
    ).one_or_none()
    if registration is not None:
        registration.push_token = push_token
        db.session.commit()
        return _empty(200)
    db.session.add(
        AppleRegistration(
            device_library_identifier=device, push_token=push_token, pass_id=wallet_pass.id
        )
    )
    db.session.commit()
    return _empty(201)


@service.delete("/v1/devices/<device>/registrations/<pass_type_identifier>/<serial>")
def unregister_device(device: str, pass_type_identifier: str, serial: str) -> Response:
    wallet_pass = _authorised_pass(pass_type_identifier, serial)
    if wallet_pass is None:
        return _empty(401)
    registration = db.session.scalars(
        select(AppleRegistration).where(
            AppleRegistration.device_library_identifier == device,
            AppleRegistration.pass_id == wallet_pass.id,
        )
    ).one_or_none()
    if registration is not None:
        db.session.delete(registration)
        db.session.commit()
    return _empty(200)


@service.get("/v1/devices/<device>/registrations/<pass_type_identifier>")
def updated_passes(device: str, pass_type_identifier: str) -> Response:
    """Serial numbers of the device's passes changed since the tag it last received."""
    if pass_type_identifier != wallet_settings().pass_type_id or not DEVICE_ID.fullmatch(device):
        return _empty(204)
    modified = modified_expression().label("modified")
    query = (
        select(WalletPass.serial_number, modified)
        .join(AppleRegistration, AppleRegistration.pass_id == WalletPass.id)
        .join(LoyaltyMember, LoyaltyMember.id == WalletPass.member_id)
        .where(
            AppleRegistration.device_library_identifier == device,
            WalletPass.platform == WalletPlatform.APPLE,
        )
    )
    since = moment_of(request.args.get("passesUpdatedSince"))
    if since is not None:
        query = query.where(modified_expression() > since)
    rows = db.session.execute(query).all()
    if not rows:
        return _empty(204)
    body = {
        "serialNumbers": sorted(row.serial_number for row in rows),
        "lastUpdated": tag_of(max(row.modified for row in rows)),
    }
    return Response(json.dumps(body), status=200, mimetype="application/json")


@service.get("/v1/passes/<pass_type_identifier>/<serial>")
def latest_pass(pass_type_identifier: str, serial: str) -> Response:
    wallet_pass = _authorised_pass(pass_type_identifier, serial)
    if wallet_pass is None:
        return _empty(401)
    modified = wallet_passes.last_modified(wallet_pass).replace(microsecond=0)
    since = parse_date(request.headers.get("If-Modified-Since"))
    if since is not None and modified <= since.astimezone(UTC):
        response = _empty(304)
        response.headers["Last-Modified"] = http_date(modified)
        return response
    return _pkpass_response(wallet_pass, modified)


@service.post("/v1/log")
def device_log() -> Response:
    body = request.get_json(silent=True, force=True)
    logs = body.get("logs") if isinstance(body, dict) else None
    if isinstance(logs, list):
        for line in logs[:50]:
            current_app.logger.warning("PassKit device log: %s", str(line)[:500])
    return _empty(200)


# --- links customers follow -----------------------------------------------------------------


def _member_from_link(token: str, kind: str) -> LoyaltyMember:
    member_id = links.read_link_token(
        token, kind, _secret_key(), max_age=wallet_settings().link_max_age
    )
    member = db.session.get(LoyaltyMember, member_id)
    if member is None:
        raise InvalidToken("This card no longer exists.")
    return member


def _pkpass_response(wallet_pass: WalletPass, modified: datetime) -> Response:
    cfg = wallet_settings()
    content = card_content(wallet_pass, settings=cfg, secret_key=_secret_key())
    data = apple.build(content, cfg, load_signer(cfg))
    response = Response(data, status=200, mimetype=apple.MEDIA_TYPE)
    response.headers["Last-Modified"] = http_date(modified)
    return response


@blueprint.get("/pass/<token>.pkpass")
def download_apple_pass(token: str) -> Response:
    member = _member_from_link(token, "apple")
    wallet_pass = wallet_passes.pass_for(db.session, member, WalletPlatform.APPLE)
    db.session.commit()
    modified = wallet_passes.last_modified(wallet_pass).replace(microsecond=0)
    response = _pkpass_response(wallet_pass, modified)
    filename = f"{member.program.slug}.pkpass"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blueprint.get("/google/<token>")
def google_save(token: str) -> Response:
    member = _member_from_link(token, "google")
    wallet_pass = wallet_passes.pass_for(db.session, member, WalletPlatform.GOOGLE)
    db.session.commit()
    url = google.save_url(wallet_pass, settings=wallet_settings(), secret_key=_secret_key())
    return redirect(url, code=303)


@blueprint.get("/qr/<token>.png")
def qr_code(token: str) -> Response:
    member = _member_from_link(token, "qr")
    response = Response(qr_png(qr_token(member, _secret_key())), mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.get("/programs/<slug>/logo.png")
def program_logo(slug: str) -> Response:
    """The logo Google Wallet fetches for a programme's LoyaltyClass."""
    program = db.session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.slug == slug)
    ).one_or_none()
    if program is None:
        return Response("No such programme.", status=404, mimetype="text/plain")
    branding, _ = branding_of(program.merchant, program)
    response = Response(square_logo(branding), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.errorhandler(WalletNotConfigured)
def wallet_not_configured(error: WalletNotConfigured) -> Response:
    current_app.logger.error("Wallet not configured: %s", error)
    return Response(
        "Wallet passes are not available right now. Please try again later.",
        status=503,
        mimetype="text/plain",
    )


@blueprint.errorhandler(InvalidToken)
def invalid_link(error: LoyaltyError) -> Response:
    return Response(str(error), status=404, mimetype="text/plain")


blueprint.register_blueprint(service)
