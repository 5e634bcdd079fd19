"""Twilio webhooks: inbound SMS answered with TwiML, and delivery status callbacks."""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from loyalty_bot import sms
from loyalty_bot.dialogue import Settings
from web.extensions import csrf, db

log = logging.getLogger(__name__)

blueprint = Blueprint("hooks", __name__, url_prefix="/hooks")
csrf.exempt(blueprint)  # Twilio signs its requests instead; it has no CSRF token


def _public_url() -> str:
    """The URL Twilio signed: behind a proxy that rewrites it, TWILIO_PUBLIC_URL's base."""
    base = os.environ.get("TWILIO_PUBLIC_URL", "").strip().rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@blueprint.before_request
def check_signature() -> None:
    token = os.environ.get("TWILIO_AUTH_TOKEN", "").strip()
    if not token:
        log.warning("Twilio webhook called but TWILIO_AUTH_TOKEN is not set: refused")
        abort(403)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(token).validate(_public_url(), request.form.to_dict(), signature):
        abort(403)


def _settings() -> Settings:
    return Settings(
        secret_key=str(current_app.config["SECRET_KEY"]).encode(),
        public_base_url=str(current_app.config.get("PUBLIC_BASE_URL", "")).rstrip("/"),
    )


@blueprint.post("/twilio/sms")
def inbound_sms() -> Response:
    replies = sms.handle_inbound(db.session, request.form, _settings())
    db.session.commit()
    return Response(sms.twiml(replies), mimetype="application/xml")


@blueprint.post("/twilio/status")
def delivery_status() -> Response:
    sms.record_status(db.session, request.form)
    db.session.commit()
    return Response(status=204)
