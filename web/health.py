"""Liveness and readiness for load balancers and `make run`."""

from flask import Blueprint
from sqlalchemy import text

from web.extensions import db

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # the endpoint exists to report this, not to crash on it
        return {"status": "error", "database": type(exc).__name__}, 503
    return {"status": "ok", "database": "ok"}, 200
