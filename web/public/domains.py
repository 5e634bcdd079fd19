"""A merchant's own domain (Enterprise white-label) serving that merchant's customer pages.

On the platform's host, and on any host no merchant holds, nothing here changes a thing. On a
merchant's domain (`Merchant.custom_domain`, set by `services.merchants.set_custom_domain`):

- `/` and `/j` show the programme's join page; `/j/<slug>` and `/p/<slug>/...` answer exactly
  as on the platform host, for that programme's slug only, so the links the pages build with
  `url_for` (relative paths) stay on the merchant's domain;
- the static files, the programme's logo and the wallet links (signed per member) answer too;
- everything else (sign-in, back-office, till, admin, API, webhooks, another merchant's
  programme) is a 404 in the programme's colours. Not a redirect to the platform: a merchant's
  domain must not become a door to staff sign-in, nor name the platform (docs/decisions.md).

A domain whose merchant has lost Enterprise (or is suspended) keeps its row but is answered
with a plain 404 page that names nobody, until the merchant upgrades again.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from loyalty import offerings
from loyalty.models import LoyaltyProgram, Merchant, MerchantStatus
from web.extensions import db

# Stylesheets and scripts: even the "not served" page needs them.
ASSET_ENDPOINTS = frozenset({"static", "bootstrap.static"})
# Served on a merchant's domain whatever the slug: assets, and wallet links that carry a
# signed per-member token (the token, not the host, says whose card it is).
OPEN_ENDPOINTS = ASSET_ENDPOINTS | frozenset(
    {
        "health.healthz",
        "wallet.download_apple_pass",
        "wallet.google_save",
        "wallet.qr_code",
    }
)
# Served on a merchant's domain for its own programme's slug only.
PROGRAMME_ENDPOINTS_OUTSIDE_PUBLIC = frozenset({"wallet.program_logo"})
JOIN_PATHS = frozenset({"/", "/j", "/j/"})

NOT_SERVED = (
    "No loyalty programme is served at this address at the moment. If you run this site, "
    "check your offering in the back-office."
)
NOT_HERE = "There is nothing at this address. Start again from the programme's page."


def attach(blueprint: Blueprint) -> None:
    """Hook host routing into every request, and the site's own error pages into the views."""
    blueprint.before_app_request(route_by_host)
    blueprint.register_error_handler(HTTPException, site_error)


# --- which site is this request for ---------------------------------------------------------


def request_host() -> str:
    """This request's host name, lower-case, without port or final dot."""
    host = (request.host or "").strip().lower()
    if host.startswith("["):  # [::1]:5000
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def platform_host() -> str:
    return (urlsplit(current_app.config.get("PUBLIC_BASE_URL", "")).hostname or "").lower()


def _could_be_a_custom_domain(host: str) -> bool:
    """Cheap test that spares the platform host (and addresses) a database query."""
    if not host or "." not in host or host == platform_host():
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


def site_program() -> LoyaltyProgram | None:
    """The programme whose own domain this request came in on; None on the platform host."""
    return g.get("site_program")


def _served(merchant: Merchant) -> bool:
    return merchant.status == MerchantStatus.ACTIVE and offerings.has(
        merchant, offerings.Feature.WHITE_LABEL
    )


# --- the hook -------------------------------------------------------------------------------


def route_by_host() -> Any:
    """Before every request: on a merchant's domain, answer or refuse; elsewhere, do nothing."""
    host = request_host()
    if not _could_be_a_custom_domain(host):
        return None
    merchant = db.session.scalars(
        select(Merchant).where(Merchant.custom_domain == host)
    ).one_or_none()
    if merchant is None:
        return None
    if not _served(merchant):
        if request.endpoint in ASSET_ENDPOINTS:
            return None
        return _page(404, "Not available", NOT_SERVED, program=None)
    program = db.session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.merchant_id == merchant.id)
    ).first()
    if program is None:
        return _page(404, "Not available", NOT_SERVED, program=None)
    g.site_program = program
    if request.path in JOIN_PATHS:
        if request.method not in {"GET", "HEAD"}:
            return _page(405, "Not allowed", "This address only shows the join page.")
        return current_app.view_functions["public.join"](slug=program.slug)
    endpoint = request.endpoint or ""
    if endpoint in OPEN_ENDPOINTS:
        return None
    is_programme_page = endpoint.startswith("public.") or (
        endpoint in PROGRAMME_ENDPOINTS_OUTSIDE_PUBLIC
    )
    if is_programme_page and (request.view_args or {}).get("slug") == program.slug:
        return None
    return _page(404, "Page not found", NOT_HERE)


# --- refusals in the merchant's colours -----------------------------------------------------


def site_error(error: HTTPException) -> Any:
    """Errors inside the customer pages: on a merchant's domain, its own page; else the usual."""
    from web import errors

    if site_program() is None or error.code not in {400, 403, 404, 405, 410}:
        return errors.handle_http_error(error)
    title, default_detail = errors.MESSAGES.get(error.code, ("Error", NOT_HERE))
    described = error.description != type(error).description
    return _page(error.code, title, error.description if described else default_detail)


def _page(status: int, title: str, detail: str, **context: Any) -> Any:
    program = context.get("program", site_program())
    return (
        render_template(
            "public/site_error.html",
            status=status,
            title=title,
            detail=detail,
            program=program,
            merchant=program.merchant if program else None,
        ),
        status,
    )
