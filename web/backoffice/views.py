"""Back-office pages under /backoffice: owners and managers of the current business."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func
from sqlalchemy.orm import joinedload

from loyalty.models import LoyaltyMember, Membership, Role, Shop
from loyalty.offerings import plan_of
from web.extensions import db
from web.staff.panels import member_panel
from web.tenancy import (
    current_merchant,
    enforce_role,
    page_number,
    tenant_get_or_404,
    tenant_select,
)

blueprint = Blueprint("backoffice", __name__, url_prefix="/backoffice", template_folder="templates")

PER_PAGE = 25


@blueprint.before_request
def managers_and_owners_only() -> object:
    return enforce_role(Role.MANAGER)


def count(model: type) -> int:
    return db.session.scalar(tenant_select(model, func.count(model.id))) or 0


@blueprint.get("/members")
def members() -> str:
    statement = (
        tenant_select(LoyaltyMember)
        .options(joinedload(LoyaltyMember.customer))
        .order_by(LoyaltyMember.enrolled_at.desc(), LoyaltyMember.id.desc())
    )
    page = db.paginate(statement, page=page_number(), per_page=PER_PAGE, error_out=False)
    return render_template("backoffice/members.html", page=page)


@blueprint.get("/members/<int:member_id>")
def member(member_id: int) -> str:
    return render_template("backoffice/member.html", panel=member_panel(member_id))


@blueprint.get("/shops")
def shops() -> str:
    rows = db.session.scalars(tenant_select(Shop).order_by(Shop.name, Shop.id)).all()
    return render_template("backoffice/shops.html", shops=rows, plan=plan_of(current_merchant()))


@blueprint.get("/shops/<int:shop_id>")
def shop(shop_id: int) -> str:
    shop = tenant_get_or_404(Shop, shop_id)
    staff = db.session.scalars(
        tenant_select(Membership).where(Membership.shop_id == shop.id).order_by(Membership.id)
    ).all()
    return render_template("backoffice/shop.html", shop=shop, staff=staff)


# Pages kept in their own modules register their routes on this blueprint when imported.
from web.backoffice import (  # noqa: E402, F401
    campaigns,  # campaigns, their progress, automations
    dashboard,  # the home page: the dashboard
    poster,  # the counter poster
    promotions,  # programme catalogue: promotions
    rewards,  # programme catalogue: rewards
    segments,  # the segment builder with its live count
    simulator,  # the chat simulator
    tiers,  # programme catalogue: tiers
    webhooks,  # webhook endpoints and their delivery log (Enterprise)
)
