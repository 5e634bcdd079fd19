"""Back-office promotion pages: list, create (also the onboarding's first promotion), edit, end."""

from __future__ import annotations

import dataclasses

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from loyalty.db import utcnow
from loyalty.errors import LoyaltyError
from loyalty.models import Promotion
from loyalty.offerings import Feature
from loyalty.services import promotion_catalog
from web.auth.views import safe_next
from web.backoffice.catalog_pages import (
    feature_gap,
    merchant_and_actor,
    shop_choices,
    tier_choices,
)
from web.backoffice.form_errors import show_on_form
from web.backoffice.promotion_forms import ConfirmForm, PromotionForm
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import page_number, tenant_get_or_404, tenant_select

# Service field names that differ from the form's.
FORM_FIELDS = {"shop_ids": "shops", "tier_ids": "tiers"}


@blueprint.get("/promotions")
def promotions() -> str:
    merchant, _ = merchant_and_actor()
    statement = tenant_select(Promotion).order_by(Promotion.created_at.desc(), Promotion.id.desc())
    page = db.paginate(statement, page=page_number(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "backoffice/promotions.html",
        page=page,
        now=utcnow(),
        status_of=promotion_catalog.status_of,
        value_label=promotion_catalog.value_label,
        last_day=lambda p: promotion_catalog.last_day(p, merchant),
        gap=feature_gap(merchant, Feature.BASIC_PROMOTIONS),
    )


def _form() -> PromotionForm:
    merchant, _ = merchant_and_actor()
    form = PromotionForm()
    form.shops.choices = shop_choices()
    form.tiers.choices = tier_choices()
    if not form.tiers.choices or feature_gap(merchant, Feature.TIERS):
        del form.tiers  # nothing to choose, or tiers are not in the offering
    return form


@blueprint.route("/promotions/new", methods=["GET", "POST"])
def promotion_new() -> ResponseReturnValue:
    """The create form. `next` (a path on this site) is where to go after saving."""
    merchant, actor = merchant_and_actor()
    form = _form()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    preview = None
    if form.validate_on_submit():
        try:
            draft = form.draft()
            if form.show_preview.data:
                preview = promotion_catalog.preview(db.session, merchant=merchant, draft=draft)
            else:
                promotion = promotion_catalog.create_promotion(
                    db.session, merchant=merchant, actor=actor, draft=draft
                )
                db.session.commit()
                flash_saved(promotion, created=True)
                return redirect(
                    safe_next(form.next.data)
                    or url_for("backoffice.promotion_edit", promotion_id=promotion.id)
                )
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error, FORM_FIELDS)
    return _render_form(form, None, preview)


@blueprint.route("/promotions/<int:promotion_id>", methods=["GET", "POST"])
def promotion_edit(promotion_id: int) -> ResponseReturnValue:
    promotion = tenant_get_or_404(Promotion, promotion_id)
    merchant, actor = merchant_and_actor()
    form = _form()
    preview = None
    if request.method == "GET":
        form.fill(promotion_catalog.draft_of(promotion, merchant))
        form.next.data = safe_next(request.args.get("next")) or ""
        preview = promotion_catalog.preview(
            db.session,
            merchant=merchant,
            draft=promotion_catalog.draft_of(promotion, merchant),
            promotion=promotion,
        )
    elif form.validate_on_submit():
        try:
            draft = form.draft()
            if form.show_preview.data:
                preview = promotion_catalog.preview(
                    db.session, merchant=merchant, draft=draft, promotion=promotion
                )
            else:
                if form.tiers is None:  # not shown (no tiers in the offering): keep them as saved
                    saved = promotion_catalog.draft_of(promotion, merchant).tier_ids
                    draft = dataclasses.replace(draft, tier_ids=saved)
                promotion_catalog.update_promotion(
                    db.session, promotion=promotion, merchant=merchant, actor=actor, draft=draft
                )
                db.session.commit()
                flash_saved(promotion, created=False)
                return redirect(
                    safe_next(form.next.data)
                    or url_for("backoffice.promotion_edit", promotion_id=promotion.id)
                )
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error, FORM_FIELDS)
    return _render_form(form, promotion, preview)


@blueprint.route("/promotions/<int:promotion_id>/end", methods=["GET", "POST"])
def promotion_end(promotion_id: int) -> ResponseReturnValue:
    """A confirmation page, then the end: nothing stops a promotion by accident."""
    promotion = tenant_get_or_404(Promotion, promotion_id)
    merchant, actor = merchant_and_actor()
    form = ConfirmForm()
    if form.validate_on_submit():
        promotion_catalog.end_promotion(
            db.session, promotion=promotion, merchant=merchant, actor=actor
        )
        db.session.commit()
        flash(f"“{promotion.name}” has ended. It no longer applies at the till.", "success")
        return redirect(url_for("backoffice.promotions"))
    return render_template(
        "backoffice/promotion_end.html",
        promotion=promotion,
        form=form,
        status=promotion_catalog.status_of(promotion),
    )


def flash_saved(promotion: Promotion, *, created: bool) -> None:
    verb = "created" if created else "saved"
    flash(f"Promotion “{promotion.name}” {verb}.", "success")


def _render_form(
    form: PromotionForm,
    promotion: Promotion | None,
    preview: promotion_catalog.Preview | None,
) -> ResponseReturnValue:
    merchant, _ = merchant_and_actor()
    status = 422 if form.errors and request.method == "POST" else 200
    return render_template(
        "backoffice/promotion_form.html",
        form=form,
        promotion=promotion,
        preview=preview,
        status=promotion_catalog.status_of(promotion) if promotion is not None else None,
        value_label=promotion_catalog.value_label,
        tiers_gap=feature_gap(merchant, Feature.TIERS),
    ), status
