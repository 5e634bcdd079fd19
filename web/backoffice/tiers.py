"""Back-office tier pages (Plus and above). Without the feature the pages explain and keep data."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func

from loyalty.errors import LoyaltyError
from loyalty.models import LoyaltyMember, LoyaltyTier
from loyalty.offerings import Feature
from loyalty.services import tier_catalog
from web.backoffice.catalog_pages import feature_gap, merchant_and_actor
from web.backoffice.form_errors import show_on_form
from web.backoffice.promotion_forms import ConfirmForm
from web.backoffice.tier_forms import TierForm
from web.backoffice.views import blueprint
from web.extensions import db
from web.tenancy import tenant_get_or_404, tenant_select


def _status(form: TierForm | ConfirmForm, error: LoyaltyError | None) -> int:
    if error is not None and error.code == "feature_not_in_offering":
        return 409
    return 422 if form.errors else 200


@blueprint.get("/tiers")
def tiers() -> str:
    merchant, _ = merchant_and_actor()
    rows = db.session.scalars(
        tenant_select(LoyaltyTier).order_by(LoyaltyTier.min_points, LoyaltyTier.id)
    ).all()
    counts = dict(
        db.session.execute(
            tenant_select(LoyaltyMember, LoyaltyMember.tier_id, func.count(LoyaltyMember.id))
            .where(LoyaltyMember.tier_id.is_not(None))
            .group_by(LoyaltyMember.tier_id)
        ).all()
    )
    return render_template(
        "backoffice/tiers.html",
        tiers=rows,
        counts=counts,
        benefits_of=tier_catalog.benefits_of,
        gap=feature_gap(merchant, Feature.TIERS),
    )


@blueprint.route("/tiers/new", methods=["GET", "POST"])
def tier_new() -> ResponseReturnValue:
    merchant, actor = merchant_and_actor()
    form = TierForm()
    error = None
    if form.validate_on_submit():
        try:
            tier = tier_catalog.create_tier(
                db.session, merchant=merchant, actor=actor, draft=form.draft()
            )
            db.session.commit()
            flash(f"Tier “{tier.name}” created.", "success")
            return redirect(url_for("backoffice.tiers"))
        except LoyaltyError as refusal:
            db.session.rollback()
            error = refusal
            show_on_form(form, refusal)
    return render_template(
        "backoffice/tier_form.html", form=form, tier=None, gap=feature_gap(merchant, Feature.TIERS)
    ), _status(form, error)


@blueprint.route("/tiers/<int:tier_id>", methods=["GET", "POST"])
def tier_edit(tier_id: int) -> ResponseReturnValue:
    tier = tenant_get_or_404(LoyaltyTier, tier_id)
    merchant, actor = merchant_and_actor()
    form = TierForm()
    error = None
    if request.method == "GET":
        form.fill(tier_catalog.draft_of(tier))
    elif form.validate_on_submit():
        try:
            tier_catalog.update_tier(
                db.session, tier=tier, merchant=merchant, actor=actor, draft=form.draft()
            )
            db.session.commit()
            flash(f"Tier “{tier.name}” saved.", "success")
            return redirect(url_for("backoffice.tiers"))
        except LoyaltyError as refusal:
            db.session.rollback()
            error = refusal
            show_on_form(form, refusal)
    return render_template(
        "backoffice/tier_form.html",
        form=form,
        tier=tier,
        members=tier_catalog.members_in(db.session, tier),
        gap=feature_gap(merchant, Feature.TIERS),
    ), _status(form, error)


@blueprint.route("/tiers/<int:tier_id>/delete", methods=["GET", "POST"])
def tier_delete(tier_id: int) -> ResponseReturnValue:
    tier = tenant_get_or_404(LoyaltyTier, tier_id)
    merchant, actor = merchant_and_actor()
    form = ConfirmForm()
    error = None
    if form.validate_on_submit():
        name = tier.name
        try:
            moved = tier_catalog.delete_tier(db.session, tier=tier, merchant=merchant, actor=actor)
            db.session.commit()
            flash(
                f"Tier “{name}” deleted. {moved} member{'' if moved == 1 else 's'} moved to the "
                "tier their points reach.",
                "success",
            )
            return redirect(url_for("backoffice.tiers"))
        except LoyaltyError as refusal:
            db.session.rollback()
            error = refusal
            flash(refusal.message, "error")
    return render_template(
        "backoffice/tier_delete.html",
        form=form,
        tier=tier,
        members=tier_catalog.members_in(db.session, tier),
        gap=feature_gap(merchant, Feature.TIERS),
    ), _status(form, error)
