"""Staff pages under /staff: open to every role of the current business."""

from __future__ import annotations

from flask import Blueprint, render_template

from loyalty.models import LoyaltyTransaction, Role
from web.staff.panels import ledger_lines, ledger_select, member_panel
from web.tenancy import current_shop, current_shop_id, enforce_role

blueprint = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates")

RECENT_ROWS = 10


@blueprint.before_request
def members_of_the_business_only() -> object:
    return enforce_role(Role.STAFF)


@blueprint.get("/")
def home() -> str:
    statement = ledger_select()
    shop_id = current_shop_id()
    if shop_id is not None:  # shop staff see their own shop's work
        statement = statement.where(LoyaltyTransaction.shop_id == shop_id)
    recent = ledger_lines(statement.limit(RECENT_ROWS))
    return render_template("staff/home.html", shop=current_shop(), recent=recent)


@blueprint.get("/members/<int:member_id>")
def member(member_id: int) -> str:
    return render_template("staff/member.html", panel=member_panel(member_id))
