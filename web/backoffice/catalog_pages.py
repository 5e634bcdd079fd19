"""What the programme-catalogue pages share: the merchant and actor of the request, offering checks."""

from __future__ import annotations

from typing import Any

from wtforms.fields import SelectChoice

from loyalty import offerings
from loyalty.models import LoyaltyTier, Merchant, Shop
from loyalty.offerings import FEATURE_LABELS, Feature, cheapest_plan_with, plan_of
from loyalty.services.actors import Actor
from web.backoffice.views import blueprint
from web.extensions import db
from web.tenancy import current_actor, current_merchant, tenant_select


def merchant_and_actor() -> tuple[Merchant, Actor]:
    merchant, actor = current_merchant(), current_actor()
    assert merchant is not None
    assert actor is not None
    return merchant, actor


def feature_gap(merchant: Merchant, feature: Feature) -> dict[str, str] | None:
    """None when the offering includes `feature`; else what the page says instead."""
    if offerings.has(merchant, feature):
        return None
    return {
        "feature": FEATURE_LABELS[feature],
        "offering": plan_of(merchant).label,
        "needed": cheapest_plan_with(feature).label,
    }


def shop_choices() -> list[SelectChoice]:
    shops = db.session.scalars(tenant_select(Shop).order_by(Shop.name, Shop.id))
    return [SelectChoice(str(shop.id), shop.name) for shop in shops]


def tier_choices() -> list[SelectChoice]:
    tiers = db.session.scalars(
        tenant_select(LoyaltyTier).order_by(LoyaltyTier.min_points, LoyaltyTier.id)
    )
    return [SelectChoice(str(tier.id), tier.name) for tier in tiers]


@blueprint.app_context_processor
def offering_helpers() -> dict[str, Any]:
    """`offers('tiers')` in templates: the navigation hides what the offering lacks."""

    def offers(feature: str) -> bool:
        merchant = current_merchant()
        return merchant is not None and offerings.has(merchant, Feature(feature))

    return {"offers": offers}
