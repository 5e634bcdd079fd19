"""Structured logs: one JSON line per request, and every app log line as JSON with its request id.

Only what is safe to keep is logged: method, path without its query string (magic links and
tokens travel there), status, timing and ids. Never headers, cookies or form fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request, session

from web.tenancy import MERCHANT_SESSION_KEY

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_LOGGER = "web.requests"
# A caller's id is echoed into our logs and headers, so it must be short and plain: anything
# else could forge log lines or headers. Such ids are replaced, not rejected.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_HANDLER_MARK = "_loyalty_json_handler"


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...}`; fields passed as `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if "request_id" not in line and has_request_context() and "request_id" in g:
            line["request_id"] = g.request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(app: Flask) -> None:
    """JSON lines on stderr for the app's loggers, and the per-request line with its id."""
    level = logging.getLevelName(str(app.config.get("LOG_LEVEL", "INFO")).upper())
    if not isinstance(level, int):
        level = logging.INFO
    _install_json_handler(app.logger, level)

    # First in line, so that even a request refused by an earlier hook (a rate limit, CSRF)
    # has an id and a start time.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)


def _install_json_handler(logger: logging.Logger, level: int) -> None:
    logger.setLevel(level)
    if any(getattr(handler, _HANDLER_MARK, False) for handler in logger.handlers):
        return  # another app in the same process (tests) already installed it
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _HANDLER_MARK, True)
    # Flask's default handler would print every record a second time in its own format.
    for existing in list(logger.handlers):
        logger.removeHandler(existing)
    logger.addHandler(handler)
    # Keep app records out of the root logger's handlers (Alembic's fileConfig installs one).
    logger.propagate = False


def request_id() -> str:
    """The current request's id, assigning one if the request started before our hook ran."""
    if "request_id" not in g:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    return g.request_id


def _start_request() -> None:
    g.request_started = time.perf_counter()
    request_id()


def _signed_in_user_id() -> int | None:
    # Only report a user the request already loaded: looking one up here would add a query
    # to every static file and health check.
    user = g.get("_login_user")  # where Flask-Login keeps the user it loaded for this request
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "id", None)


def _finish_request(response: Response) -> Response:
    rid = request_id()
    response.headers[REQUEST_ID_HEADER] = rid
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    merchant_id = session.get(MERCHANT_SESSION_KEY) if _signed_in_user_id() else None
    merchant_id = merchant_id or g.get("api_merchant_id")  # an API request: its key's merchant
    logging.getLogger(REQUEST_LOGGER).info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "fields": {
                "event": "request",
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": _signed_in_user_id(),
                "merchant_id": merchant_id,
                "request_id": rid,
            }
        },
    )
    return response
