"""Shops in the back-office: the list, adding one within the offering, editing, closing, reopening."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from loyalty import offerings
from loyalty.errors import LimitReached, LoyaltyError
from loyalty.models import Membership, Shop
from loyalty.services import shops as shop_service
from web.backoffice.onboarding import next_step_url
from web.backoffice.setup_forms import PlainForm, ShopForm
from web.backoffice.views import blueprint
from web.extensions import db
from web.form_errors import has_errors, show_on_form
from web.tenancy import current_actor, current_merchant, tenant_get_or_404, tenant_select


def _limit_message() -> str | None:
    """Why no shop can be added now, or None: the same words the service would refuse with."""
    merchant = current_merchant()
    try:
        offerings.require_shop_capacity(
            merchant, shop_service.open_shop_count(db.session, merchant)
        )
    except LimitReached as refusal:
        return refusal.message
    return None


@blueprint.get("/shops")
def shops() -> str:
    merchant = current_merchant()
    rows = db.session.scalars(tenant_select(Shop).order_by(Shop.active.desc(), Shop.name, Shop.id))
    return render_template(
        "backoffice/shops.html",
        shops=rows.all(),
        plan=offerings.plan_of(merchant),
        open_count=shop_service.open_shop_count(db.session, merchant),
        limit_message=_limit_message(),
    )


@blueprint.route("/shops/new", methods=["GET", "POST"])
def shop_new() -> Response | tuple[str, int]:
    merchant = current_merchant()
    assert merchant is not None
    form = ShopForm()
    if not form.is_submitted():
        form.timezone.data = merchant.timezone
    if form.validate_on_submit():
        try:
            shop = shop_service.create(
                db.session,
                merchant=merchant,
                actor=current_actor(),
                name=form.name.data or "",
                address=form.address.data or "",
                timezone=form.timezone.data or "",
            )
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            db.session.commit()
            flash(f"{shop.name} is added.", "success")
            return redirect(next_step_url("shop") or url_for("backoffice.shop", shop_id=shop.id))
    return (
        render_template("backoffice/shop_form.html", form=form, limit_message=_limit_message()),
        422 if has_errors(form) else 200,
    )


@blueprint.route("/shops/<int:shop_id>", methods=["GET", "POST"])
def shop(shop_id: int) -> Response | tuple[str, int]:
    shop = tenant_get_or_404(Shop, shop_id)
    form = ShopForm(obj=shop)
    if form.validate_on_submit():
        try:
            shop_service.update(
                db.session,
                merchant=current_merchant(),
                actor=current_actor(),
                shop=shop,
                name=form.name.data or "",
                address=form.address.data or "",
                timezone=form.timezone.data or "",
            )
        except LoyaltyError as error:
            db.session.rollback()
            shop = tenant_get_or_404(Shop, shop_id)
            show_on_form(form, error)
        else:
            db.session.commit()
            flash(f"{shop.name} is saved.", "success")
            return redirect(url_for("backoffice.shop", shop_id=shop.id))
    staff = db.session.scalars(
        tenant_select(Membership).where(Membership.shop_id == shop.id).order_by(Membership.id)
    ).all()
    return (
        render_template(
            "backoffice/shop.html", shop=shop, staff=staff, form=form, action_form=PlainForm()
        ),
        422 if has_errors(form) else 200,
    )


def _open_or_close(shop_id: int, *, active: bool) -> Response:
    shop = tenant_get_or_404(Shop, shop_id)
    if not PlainForm().validate_on_submit():
        flash("The form expired. Try again.", "warning")
        return redirect(url_for("backoffice.shop", shop_id=shop.id))
    try:
        shop_service.set_active(
            db.session, merchant=current_merchant(), actor=current_actor(), shop=shop, active=active
        )
    except LoyaltyError as error:
        db.session.rollback()
        flash(error.message, "danger")
    else:
        db.session.commit()
        flash(f"{shop.name} is {'open again' if active else 'closed'}.", "success")
    return redirect(url_for("backoffice.shop", shop_id=shop_id))


@blueprint.post("/shops/<int:shop_id>/close")
def shop_close(shop_id: int) -> Response:
    return _open_or_close(shop_id, active=False)


@blueprint.post("/shops/<int:shop_id>/reopen")
def shop_reopen(shop_id: int) -> Response:
    return _open_or_close(shop_id, active=True)
