"""Platform admin pages under /admin. To anyone else they do not exist (404)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import func, select

from loyalty.models import LoyaltyMember, Merchant, Shop
from loyalty.offerings import plan_of
from web.extensions import db, login_manager
from web.tenancy import page_number, signed_in_user

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

PER_PAGE = 25


@blueprint.before_request
def platform_admins_only() -> object:
    user = signed_in_user()
    if user is None:
        return login_manager.unauthorized()
    if not user.is_platform_admin:
        abort(404)
    return None


def _counts_by_merchant(model: type, merchant_ids: list[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(model.merchant_id, func.count(model.id))
        .where(model.merchant_id.in_(merchant_ids))
        .group_by(model.merchant_id)
    )
    return {merchant_id: total for merchant_id, total in rows}


@blueprint.get("/")
def home() -> str:
    # Deliberately across tenants: this is the operator's view of the whole platform.
    page = db.paginate(
        select(Merchant).order_by(Merchant.name, Merchant.id),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    ids = [merchant.id for merchant in page.items]
    return render_template(
        "admin/home.html",
        page=page,
        plans={merchant.id: plan_of(merchant) for merchant in page.items},
        shops=_counts_by_merchant(Shop, ids),
        members=_counts_by_merchant(LoyaltyMember, ids),
    )
