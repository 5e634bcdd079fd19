"""The Basic / Plus / Enterprise feature matrix, as data, and the one gate every service uses."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from loyalty.errors import FeatureNotInOffering, LimitReached
from loyalty.models.merchant import Merchant, Offering


class Feature(enum.StrEnum):
    POINTS_EARNING = "points_earning"
    BASIC_PROMOTIONS = "basic_promotions"
    BASIC_ANALYTICS = "basic_analytics"
    TIERS = "tiers"
    CUSTOM_REWARDS = "custom_rewards"
    SEGMENTATION = "segmentation"
    REFERRALS = "referrals"
    EMAIL_CAMPAIGNS = "email_campaigns"
    ADVANCED_ANALYTICS = "advanced_analytics"
    API_ACCESS = "api_access"
    WEBHOOKS = "webhooks"
    WHITE_LABEL = "white_label"
    FULL_ANALYTICS = "full_analytics"
    DEDICATED_SUPPORT = "dedicated_support"


FEATURE_LABELS: dict[Feature, str] = {
    Feature.POINTS_EARNING: "Points earning",
    Feature.BASIC_PROMOTIONS: "Basic promotions",
    Feature.BASIC_ANALYTICS: "Basic analytics",
    Feature.TIERS: "Membership tiers",
    Feature.CUSTOM_REWARDS: "Custom rewards catalogue",
    Feature.SEGMENTATION: "Customer segmentation",
    Feature.REFERRALS: "Referral programme",
    Feature.EMAIL_CAMPAIGNS: "E-mail campaigns",
    Feature.ADVANCED_ANALYTICS: "Advanced analytics",
    Feature.API_ACCESS: "REST API access",
    Feature.WEBHOOKS: "Webhooks",
    Feature.WHITE_LABEL: "White-label branding",
    Feature.FULL_ANALYTICS: "Full analytics",
    Feature.DEDICATED_SUPPORT: "Dedicated support",
}


@dataclass(frozen=True)
class Plan:
    offering: Offering
    label: str
    max_shops: int | None  # None: unlimited
    features: frozenset[Feature]


_BASIC = frozenset({Feature.POINTS_EARNING, Feature.BASIC_PROMOTIONS, Feature.BASIC_ANALYTICS})
_PLUS = _BASIC | {
    Feature.TIERS,
    Feature.CUSTOM_REWARDS,
    Feature.SEGMENTATION,
    Feature.REFERRALS,
    Feature.EMAIL_CAMPAIGNS,
    Feature.ADVANCED_ANALYTICS,
}
_ENTERPRISE = _PLUS | {
    Feature.API_ACCESS,
    Feature.WEBHOOKS,
    Feature.WHITE_LABEL,
    Feature.FULL_ANALYTICS,
    Feature.DEDICATED_SUPPORT,
}

PLANS: dict[Offering, Plan] = {
    Offering.BASIC: Plan(Offering.BASIC, "Basic", 1, _BASIC),
    Offering.PLUS: Plan(Offering.PLUS, "Plus", 10, _PLUS),
    Offering.ENTERPRISE: Plan(Offering.ENTERPRISE, "Enterprise", None, _ENTERPRISE),
}


def plan_of(merchant: Merchant) -> Plan:
    return PLANS[Offering(merchant.offering)]


def has(merchant: Merchant, feature: Feature) -> bool:
    return feature in plan_of(merchant).features


def cheapest_plan_with(feature: Feature) -> Plan:
    return next(plan for plan in PLANS.values() if feature in plan.features)


def require(merchant: Merchant, feature: Feature) -> None:
    """The single gate: raise a readable refusal when the merchant's offering lacks `feature`."""
    if has(merchant, feature):
        return
    needed = cheapest_plan_with(feature)
    raise FeatureNotInOffering(
        f"{FEATURE_LABELS[feature]} is not included in the {plan_of(merchant).label} offering. "
        f"Upgrade to {needed.label} to use it.",
        feature=feature.value,
        offering=plan_of(merchant).offering.value,
        required_offering=needed.offering.value,
    )


def require_shop_capacity(merchant: Merchant, current_shops: int) -> None:
    """Called before creating a shop: the offering's shop limit holds at creation."""
    plan = plan_of(merchant)
    if plan.max_shops is not None and current_shops >= plan.max_shops:
        noun = "shop" if plan.max_shops == 1 else "shops"
        raise LimitReached(
            f"The {plan.label} offering includes up to {plan.max_shops} {noun}, and "
            f"{merchant.name} already has {current_shops}. Upgrade the offering to add more.",
            limit=plan.max_shops,
        )
