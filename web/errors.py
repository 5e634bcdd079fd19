"""Every refusal the web app gives, in one place: HTML pages for people, problem+json under /api/.

Domain errors (`LoyaltyError`) carry a message written for the person at the till; it is
shown as is. Bad input never becomes a 500.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import psycopg
from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from loyalty import errors as domain
from web.extensions import db, limiter

PROBLEM_JSON = "application/problem+json"

# Looked up along the exception's class hierarchy, so a new subclass inherits its parent's answer.
STATUS_FOR_DOMAIN_ERROR: dict[type[domain.LoyaltyError], int] = {
    domain.NotFound: 404,
    domain.PermissionDenied: 403,
    # The request is understood but its content is wrong: the person can fix it and resend.
    domain.InvalidInput: 422,
    domain.InvalidCardNumber: 422,
    domain.InvalidToken: 422,
    # The request is fine but the current state forbids it (balance, stock, the offering).
    domain.DuplicateCustomer: 409,
    domain.IdempotencyConflict: 409,
    domain.InsufficientPoints: 409,
    domain.RewardUnavailable: 409,
    domain.RewardOutOfStock: 409,
    domain.RewardLimitReached: 409,
    domain.VoucherNotUsable: 409,
    domain.MemberNotActive: 409,
    domain.NothingToReverse: 409,
    domain.FeatureNotInOffering: 409,
    domain.LimitReached: 409,
    domain.EndpointDisabled: 409,
    # The public API (web/api): who is calling, and Idempotency-Key misuse.
    domain.InvalidApiKey: 401,
    domain.IdempotencyKeyReused: 422,
    domain.IdempotencyInProgress: 409,
}

# Under /api/ every problem names a stable `code`; a refusal without a domain error gets the
# code of its status. Clients branch on `type` (or `code`), never on the wording of `detail`.
API_CODE_FOR_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "server_error",
    503: "database_unavailable",
}
PROBLEM_TYPE_BASE = "/api/v1/docs#problem-"


def problem_type(code: str) -> str:
    """The `type` URI of a problem: a stable anchor on the API reference page that explains it."""
    return PROBLEM_TYPE_BASE + code


# What a person reads on the page for each status; the domain message, when there is one, wins.
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    401: ("Not authenticated", "Sign in or send valid credentials."),
    403: ("Not allowed", "Your role does not give access to this page."),
    404: ("Page not found", "There is nothing here, or it belongs to another business."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    409: ("Cannot be done now", "The request conflicts with the current state."),
    422: ("Check your input", "Some of the information sent is not valid."),
    429: ("Too many attempts", "Too many requests in a short time. Wait a moment."),
    500: ("Something went wrong", "An unexpected error happened; it has been logged."),
    503: ("Briefly unavailable", "The service is briefly unavailable. Try again in a moment."),
}

# The database went away (restart, failover, network) or is too busy to take the request: the
# app reconnects by itself (loyalty.db.ping_when_idle), so the client is told to retry, not shown a crash.
# psycopg's own errors too: the hot paths (earn, idempotency claims) use the driver directly.
DATABASE_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
RETRY_AFTER_SECONDS = 2

# Statuses with a page of their own; the rest share errors/error.html.
OWN_TEMPLATES = {403, 404, 429, 500}


def register(app: Flask) -> None:
    app.register_error_handler(domain.LoyaltyError, handle_domain_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, handle_database_unavailable)
    app.register_error_handler(sa_exc.DataError, handle_unstorable_input)
    app.register_error_handler(psycopg.DataError, handle_unstorable_input)


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def status_for(error: domain.LoyaltyError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_FOR_DOMAIN_ERROR:
            return STATUS_FOR_DOMAIN_ERROR[cls]
    return 400


def respond(
    status: int, detail: str | None = None, *, extra: dict[str, Any] | None = None, **page: Any
) -> Response:
    """The error answer for this request: problem+json under /api/, an HTML page elsewhere."""
    title, default_detail = MESSAGES.get(
        status, (HTTP_STATUS_CODES.get(status, "Error"), "The request could not be completed.")
    )
    detail = detail or default_detail
    if wants_json():
        extra = dict(extra or {})
        code = extra.setdefault("code", API_CODE_FOR_STATUS.get(status, "error"))
        body = {"type": problem_type(code), "title": title, "status": status, "detail": detail}
        body.update(extra)
        response = jsonify(body)
        response.mimetype = PROBLEM_JSON
    else:
        template = f"errors/{status}.html" if status in OWN_TEMPLATES else "errors/error.html"
        html = render_template(template, status=status, title=title, detail=detail, **page)
        response = Response(html, mimetype="text/html")
    response.status_code = status
    return response


def handle_domain_error(error: domain.LoyaltyError) -> Response:
    db.session.rollback()  # the refused unit of work must leave nothing behind
    extra: dict[str, Any] = {"code": error.code}
    field = getattr(error, "field", None)
    if field:
        extra["field"] = field
    return respond(status_for(error), error.message, extra=extra)


def handle_csrf_error(error: CSRFError) -> Response:
    return respond(
        400,
        "This form has expired or did not come from this site. Reload the page and try again.",
        extra={"code": "csrf_failed"},
    )


def handle_http_error(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error
    if error.code == 429:
        return _too_many_requests()
    # A description we passed to abort() explains the refusal; werkzeug's stock ones do not.
    detail = error.description if error.description != type(error).description else None
    response = respond(error.code, detail)
    if error.code == 405:
        response.headers.extend([h for h in error.get_headers() if h[0].lower() == "allow"])
    return response


def handle_server_error(error: InternalServerError) -> Response:
    # Flask has already logged the original exception with its traceback.
    try:
        db.session.rollback()
    except Exception:  # the database may be why we are here; the page must still render
        current_app.logger.warning("rollback after a server error failed", exc_info=True)
    return respond(500, bare=True)


# SQLite reports its programming errors ("no such table") as OperationalError too: only these
# of its messages mean "busy or unreachable"; the others stay bugs (a 500 with a traceback).
SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")


def database_unavailable(error: Exception) -> bool:
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, sqlite3.OperationalError):
        return str(cause).lower().startswith(SQLITE_UNAVAILABLE)
    return True


def handle_database_unavailable(error: Exception) -> Response:
    if not database_unavailable(error):
        raise error
    current_app.logger.warning(
        "database unavailable: %s", str(error).splitlines()[0] if str(error) else type(error)
    )
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the pool replaces it on the next checkout
        current_app.logger.debug("rollback after a lost connection failed", exc_info=True)
    response = respond(
        503,
        "The database could not be reached, so this request may not have been saved. "
        f"Send it again in {RETRY_AFTER_SECONDS} seconds: a retry with the same key "
        "(Idempotency-Key, or the till's own) is never counted twice.",
        bare=True,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def handle_unstorable_input(error: sa_exc.DataError | psycopg.DataError) -> Response:
    """The database refused a value the request carried (a NUL byte in a text, a number out of
    range) that no check caught before: the sender's input, so a 422, and nothing was kept."""
    current_app.logger.warning(
        "input the database cannot store: %s", getattr(error, "orig", None) or error
    )
    db.session.rollback()
    return respond(
        422,
        "The request contains a value that cannot be stored (such as a NUL character or a "
        "number out of range). Correct it and send it again.",
        extra={"code": "invalid_input"},
    )


def _too_many_requests() -> Response:
    seconds = _seconds_until_reset()
    if seconds is None:
        detail = "Too many attempts in a short time. Wait a minute, then try again."
    else:
        unit = "second" if seconds == 1 else "seconds"
        detail = f"Too many attempts in a short time. Try again in {seconds} {unit}."
    response = respond(429, detail, retry_after=seconds)
    if seconds is not None:
        response.headers["Retry-After"] = str(seconds)
    return response


def _seconds_until_reset() -> int | None:
    limit = limiter.current_limit
    if limit is None:
        return None
    return max(1, int(limit.reset_at - time.time()) + 1)
