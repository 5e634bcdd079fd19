"""Back-office pages under /backoffice: owners and managers of the current business."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import func

from loyalty.models import Role
from web.extensions import db
from web.tenancy import (
    enforce_role,
    tenant_select,
)

blueprint = Blueprint("backoffice", __name__, url_prefix="/backoffice", template_folder="templates")

PER_PAGE = 25


@blueprint.before_request
def managers_and_owners_only() -> object:
    return enforce_role(Role.MANAGER)


def count(model: type) -> int:
    return db.session.scalar(tenant_select(model, func.count(model.id))) or 0


# Pages kept in their own modules register their routes on this blueprint when imported.
from web.backoffice import (  # noqa: E402, F401
    api_keys,  # API keys for the merchant's own systems (Enterprise)
    audit,  # the audit log
    branding,  # white-label branding
    campaigns,  # campaigns, their progress, automations
    dashboard,  # the home page: the dashboard
    fraud,  # fraud controls and the alert list
    imports,  # CSV import of members
    mail,  # sent mail (the local log)
    members,  # members list and page, exports
    onboarding,  # offering choice, go-live checklist
    poster,  # the counter poster
    promotions,  # programme catalogue: promotions
    rewards,  # programme catalogue: rewards
    segments,  # the segment builder with its live count
    settings,  # programme settings
    shops,  # shops
    simulator,  # the chat simulator
    staff,  # the team and invitations
    tiers,  # programme catalogue: tiers
    webhooks,  # webhook endpoints and their delivery log (Enterprise)
)
