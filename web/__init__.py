"""The Flask application factory: read top to bottom as the table of contents of the web app."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, Response, request
from jinja2 import pass_context
from jinja2.runtime import Context
from werkzeug.middleware.proxy_fix import ProxyFix

from loyalty.db import configure_sqlite, ping_when_idle
from loyalty.identity import format_card_number, format_phone
from loyalty.money import euros
from web import config as config_module
from web.extensions import bootstrap, csrf, db, limiter, login_manager, migrate

# Only our own origin: no CDN, no inline script or style. Bootstrap's CSS draws some icons
# (select arrows, the navbar toggler) as data: SVG images, hence img-src data:.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE))
    app.config.update(config_module.from_env() if config is None else config)
    configure_json(app)
    configure_proxies(app)
    register_extensions(app)
    register_blueprints(app)
    exempt_api_from_csrf(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_commands(app)
    configure_logger(app)
    return app


def configure_json(app: Flask) -> None:
    from web.json_provider import JSONProvider

    app.json = JSONProvider(app)


def configure_proxies(app: Flask) -> None:
    """Behind N trusted proxies, read the client's address (the login limit is per IP) and scheme."""
    hops = int(app.config.get("PROXY_FIX_HOPS", 0) or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    import loyalty.models  # noqa: F401  (every table known to Alembic and the session)

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
        if app.config.get("DB_PING_AFTER_IDLE") is not None:
            ping_when_idle(db.engine, app.config["DB_PING_AFTER_IDLE"])
    migrate.init_app(
        app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True
    )
    login_manager.init_app(app)  # its unauthorized handler is in web/auth/views.py
    csrf.init_app(app)
    limiter.init_app(app)
    bootstrap.init_app(app)


def register_blueprints(app: Flask) -> None:
    from web.admin.views import blueprint as admin
    from web.api import blueprint as api
    from web.auth.views import blueprint as auth
    from web.backoffice.views import blueprint as backoffice
    from web.health import blueprint as health
    from web.hooks import blueprint as hooks
    from web.passkit import blueprint as wallet
    from web.public.views import blueprint as public
    from web.staff.views import blueprint as staff

    for blueprint in (health, public, auth, backoffice, staff, admin, wallet, hooks, api):
        app.register_blueprint(blueprint)


def exempt_api_from_csrf(app: Flask) -> None:
    """The API authenticates every request with its key, never with a cookie: no CSRF token."""
    csrf.exempt(app.blueprints["api"])


def register_errorhandlers(app: Flask) -> None:
    from web import errors

    errors.register(app)


def register_security_headers(app: Flask) -> None:
    strict_transport = bool(app.config.get("SESSION_COOKIE_SECURE"))

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        if strict_transport:  # cookies are HTTPS-only, so the site is served over HTTPS
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Pages show members' data: keep them out of shared caches and the back-button cache
        # after sign-out. Static files keep their normal caching.
        if request.endpoint and not request.endpoint.endswith("static"):
            headers.setdefault("Cache-Control", "no-store")
        return response


def register_template_helpers(app: Flask) -> None:
    from loyalty.services import member_status, stamps
    from web import tenancy

    @app.template_filter("local_time")
    def local_time(
        value: datetime | None, fmt: str = "%d %b %Y, %H:%M", zone: str | None = None
    ) -> str:
        """A UTC time from the database, shown in the shop's (or merchant's) time zone.

        Pages without a signed-in member of staff (the customer's card) pass the merchant's zone.
        """
        if value is None:
            return ""
        return value.astimezone(tenancy.display_timezone(zone)).strftime(fmt)

    app.add_template_filter(format_card_number, "card_number")
    app.add_template_filter(format_phone, "phone")
    app.add_template_filter(member_status.label, "member_status")
    # The member's stamp card (None in a points programme), for partials/stamp_card.html.
    app.add_template_global(stamps.card_of, "stamp_card")

    @app.template_filter("euros")
    @pass_context
    def euros_filter(
        context: Context, cents: int | None, currency: str | None = None, grouping: bool = False
    ) -> str:
        """`{{ cents|euros }}`: in the currency of the page's programme (or member's), else EUR."""
        if currency is None:
            program = context.get("program") or getattr(context.get("member"), "program", None)
            currency = getattr(program, "currency", None)
        return euros(cents, currency, grouping=grouping)

    @app.template_filter("iso_day")
    def iso_day(value: str | None) -> str:
        """A moment stored as ISO text (consents): '2026-07-30T09:12:00+00:00' → '30 Jul 2026'
        in the page's time zone; text that is no date is shown as it is."""
        try:
            moment = datetime.fromisoformat(value or "")
        except ValueError:
            return value or ""
        if moment.tzinfo is not None:
            return local_time(moment, "%d %b %Y")
        return moment.strftime("%d %b %Y")

    @app.template_filter("thousands")
    def thousands(value: int | None) -> str:
        return "" if value is None else f"{value:,}"

    @app.context_processor
    def navigation() -> dict[str, Any]:
        # Callables, so a page that never draws the navigation never queries for it.
        return {
            "current_membership": tenancy.current_membership,
            "signed_in_user": tenancy.signed_in_user,
            "memberships_of": tenancy.memberships_of,
        }


def register_commands(app: Flask) -> None:
    from web import commands

    commands.register(app)


def configure_logger(app: Flask) -> None:
    from web import logging as web_logging

    web_logging.configure(app)
