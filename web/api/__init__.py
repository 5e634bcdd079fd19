"""The public REST API v1 for merchants' own systems (Enterprise): /api/v1.

Every request but the reference (openapi.json, docs) carries `Authorization: Bearer <key>`;
the key names the merchant, so every query is scoped to it exactly as a signed-in page is
(web.tenancy reads the key's merchant). Refusals are RFC 9457 problem+json (web/errors.py).
"""

from __future__ import annotations

import hashlib
import time

from flask import Blueprint, Response, current_app, g, request
from flask_limiter.util import get_remote_address

from loyalty.errors import (
    FeatureNotInOffering,
    InvalidApiKey,
    LoyaltyError,
    PermissionDenied,
    RewardLimitReached,
)
from loyalty.models import MerchantStatus
from loyalty.services import api_keys
from web import errors as web_errors
from web.api.operations import RequestInvalid
from web.extensions import db, limiter

blueprint = Blueprint("api", __name__, url_prefix="/api/v1", template_folder="templates")

# Served without a key: the reference is public, like Stripe's.
PUBLIC_ENDPOINTS = {"api.openapi_document", "api.reference", "static"}


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


@blueprint.before_request
def authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return
    key = api_keys.authenticate(db.session, secret=_bearer())
    if key.merchant.status != MerchantStatus.ACTIVE:
        raise PermissionDenied(f"{key.merchant.name} is suspended: its API keys do not work.")
    api_keys.require_api_access(key)
    g.api_key = key
    # Plain values too: they survive the commit that expires the ORM objects mid-request.
    g.api_merchant_id = key.merchant_id  # web.tenancy scopes every query to it
    g.api_scope = key.scope
    g.api_actor_label = f"api:{key.prefix}"
    api_keys.note_use(db.session, key=key)


# --- rate limits: per key, Flask-Limiter's moving window ------------------------------------


def _rate_key() -> str:
    # Runs before `authenticate` (Flask-Limiter checks first), so it keys on the secret's
    # hash: one bucket per key, and callers without a key share their address's bucket.
    secret = _bearer()
    if secret:
        return "api-key:" + hashlib.sha256(secret.encode()).hexdigest()[:32]
    return "api-ip:" + get_remote_address()


def _rate() -> str:
    return current_app.config.get("API_RATE_LIMIT", "100 per second")


def _limits_off() -> bool:
    # The limiter object is shared by every app in the process (tests build several).
    return not current_app.config.get("RATELIMIT_ENABLED", True) or (
        request.endpoint in PUBLIC_ENDPOINTS
    )


limiter.limit(_rate, key_func=_rate_key, exempt_when=_limits_off)(blueprint)


@blueprint.after_request
def rate_limit_headers(response: Response) -> Response:
    """RateLimit-Limit / -Remaining / -Reset (seconds), as the IETF draft names them."""
    current = limiter.current_limit
    if current is not None:
        response.headers["RateLimit-Limit"] = str(current.limit.amount)
        response.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
        response.headers["RateLimit-Reset"] = str(max(0, int(current.reset_at - time.time())))
    return response


# --- refusals -----------------------------------------------------------------------------


@blueprint.errorhandler(LoyaltyError)
def refused(error: LoyaltyError) -> Response:
    db.session.rollback()
    extra: dict[str, object] = {"code": error.code}
    status = web_errors.status_for(error)
    if isinstance(error, FeatureNotInOffering):
        # Not "conflict" here: the key is fine, the offering does not include the API.
        status = 403
        extra["required_offering"] = error.details.get("required_offering")
    if isinstance(error, RewardLimitReached):
        again = error.details.get("available_again_at")
        extra["available_again_at"] = again.isoformat() if again else None
    field = getattr(error, "field", None)
    if field:
        extra["field"] = field
        extra["errors"] = [{"field": field, "message": error.message}]
    response = web_errors.respond(status, error.message, extra=extra)
    if isinstance(error, InvalidApiKey):
        response.headers["WWW-Authenticate"] = 'Bearer realm="loyalty-api"'
    return response


@blueprint.errorhandler(RequestInvalid)
def invalid(error: RequestInvalid) -> Response:
    db.session.rollback()
    fields = ", ".join(sorted({e["field"] for e in error.errors}))
    return web_errors.respond(
        422,
        f"Some fields are not valid: {fields}. The errors list says what is wrong with each.",
        extra={"code": "validation_failed", "errors": error.errors},
    )


from web.api import (  # noqa: E402, F401  (each module registers its operations)
    catalog,
    members,
    reference,
    transactions,
    vouchers,
)
