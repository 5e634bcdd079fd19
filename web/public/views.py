"""The front door: send visitors to sign in and signed-in people to their home."""

from __future__ import annotations

from flask import Blueprint, Response, redirect

from web.tenancy import home_url

blueprint = Blueprint("public", __name__)


@blueprint.get("/")
def index() -> Response:
    return redirect(home_url())
