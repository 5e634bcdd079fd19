"""Back-office branding page (Enterprise white-label): colours, logo, sender name, custom domain.

Every saved change marks the programme's wallet passes as changed (`branding_changed`), so the
worker pushes the new look to every phone. The call is made here: `loyalty` does not import
`wallet`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from loyalty.errors import LoyaltyError
from loyalty.models import Merchant, Role
from loyalty.offerings import Feature
from loyalty.services import branding as branding_service
from loyalty.services import images, merchants
from wallet import passes as wallet_passes
from web.backoffice.branding_forms import BrandingForm, DomainForm
from web.backoffice.catalog_pages import feature_gap, merchant_and_actor
from web.backoffice.form_errors import show_on_form
from web.backoffice.views import blueprint
from web.extensions import db
from web.public.branding import theme_for


def _folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def _passes_changed(merchant: Merchant) -> int:
    return wallet_passes.branding_changed(db.session, merchants.program_of(db.session, merchant))


def _page(brand: BrandingForm, domain: DomainForm, status: int = 200) -> ResponseReturnValue:
    merchant, actor = merchant_and_actor()
    program = merchants.program_of(db.session, merchant)
    platform_host = urlsplit(current_app.config.get("PUBLIC_BASE_URL", "")).hostname or ""
    # What an empty field means: the programme's own colours and name.
    brand.primary_color.render_kw = {
        **brand.primary_color.render_kw,
        "placeholder": program.primary_color,
    }
    brand.secondary_color.render_kw = {
        **brand.secondary_color.render_kw,
        "placeholder": program.secondary_color,
    }
    brand.sender_name.render_kw = {
        **(brand.sender_name.render_kw or {}),
        "placeholder": program.name,
    }
    return render_template(
        "backoffice/branding.html",
        brand=brand,
        domain=domain,
        merchant=merchant,
        program=program,
        theme=theme_for(program),
        has_logo=bool((merchant.branding or {}).get("logo_file")),
        is_owner=actor.has_role(Role.OWNER),
        platform_host=platform_host,
        gap=feature_gap(merchant, Feature.WHITE_LABEL),
    ), status


@blueprint.get("/branding")
def branding() -> ResponseReturnValue:
    merchant, _ = merchant_and_actor()
    brand, domain = BrandingForm(formdata=None), DomainForm(formdata=None)
    brand.fill(branding_service.draft_of(merchant))
    domain.custom_domain.data = merchant.custom_domain or ""
    return _page(brand, domain)


def _status_of(error: LoyaltyError) -> int:
    return {"feature_not_in_offering": 409, "permission_denied": 403}.get(error.code, 422)


@blueprint.post("/branding")
def branding_save() -> ResponseReturnValue:
    merchant, actor = merchant_and_actor()
    brand, domain = BrandingForm(), DomainForm(formdata=None)
    domain.custom_domain.data = merchant.custom_domain or ""
    if not brand.validate_on_submit():
        return _page(brand, domain, 422)
    try:
        change = branding_service.update_branding(
            db.session,
            merchant=merchant,
            actor=actor,
            draft=brand.draft(),
            logo=brand.logo_bytes(),
            remove_logo=bool(brand.remove_logo.data),
            folder=_folder(),
        )
        refreshed = _passes_changed(merchant) if change.changed else 0
        db.session.commit()
    except LoyaltyError as error:
        db.session.rollback()
        show_on_form(brand, error)
        return _page(brand, domain, _status_of(error))
    images.remove(_folder(), change.replaced_logo)
    if change.changed:
        flash(
            f"Brand saved. {refreshed} wallet card{'' if refreshed == 1 else 's'} will update.",
            "success",
        )
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("backoffice.branding"))


@blueprint.post("/branding/domain")
def branding_domain() -> ResponseReturnValue:
    merchant, actor = merchant_and_actor()
    brand, domain = BrandingForm(formdata=None), DomainForm()
    brand.fill(branding_service.draft_of(merchant))
    if not domain.validate_on_submit():
        return _page(brand, domain, 422)
    previous = merchant.custom_domain
    try:
        merchants.set_custom_domain(
            db.session,
            merchant=merchant,
            domain=domain.custom_domain.data or None,
            actor=actor,
            platform_url=current_app.config.get("PUBLIC_BASE_URL", ""),
        )
        if merchant.custom_domain != previous:
            _passes_changed(merchant)
        db.session.commit()
    except LoyaltyError as error:
        db.session.rollback()
        show_on_form(domain, error)
        return _page(brand, domain, _status_of(error))
    if merchant.custom_domain:
        flash(f"Your public pages now also answer on {merchant.custom_domain}.", "success")
    else:
        flash("No custom domain: your pages answer on the platform's address.", "success")
    return redirect(url_for("backoffice.branding"))


@blueprint.get("/branding/logo.png")
def branding_logo() -> Response:
    """The business's own white-label logo (re-encoded PNG), or 404 when it has none."""
    merchant, _ = merchant_and_actor()
    path = images.resolve(_folder(), (merchant.branding or {}).get("logo_file"))
    if path is None:
        return Response(status=404)
    return send_file(path, mimetype="image/png", max_age=0)
