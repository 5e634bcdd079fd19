"""The Basic / Plus / Enterprise matrix, exactly as the business asked for it, and its gate."""

from __future__ import annotations

import pytest

from loyalty import offerings
from loyalty.errors import FeatureNotInOffering, LimitReached
from loyalty.models import Merchant, Offering
from loyalty.offerings import FEATURE_LABELS, PLANS, Feature

F = Feature
BASIC = {F.POINTS_EARNING, F.BASIC_PROMOTIONS, F.BASIC_ANALYTICS}
PLUS = BASIC | {
    F.TIERS,
    F.CUSTOM_REWARDS,
    F.SEGMENTATION,
    F.EMAIL_CAMPAIGNS,
    F.ADVANCED_ANALYTICS,
    F.REFERRALS,  # issue 12: the referral programme is Plus and Enterprise
}
ENTERPRISE = PLUS | {
    F.API_ACCESS,
    F.WHITE_LABEL,
    F.FULL_ANALYTICS,
    F.DEDICATED_SUPPORT,
    F.WEBHOOKS,
}


def merchant(offering: Offering) -> Merchant:
    return Merchant(name="Bakery Dupont", slug="bakery-dupont", offering=offering)


@pytest.mark.parametrize(
    ("offering", "features", "max_shops"),
    [
        (Offering.BASIC, BASIC, 1),
        (Offering.PLUS, PLUS, 10),
        (Offering.ENTERPRISE, ENTERPRISE, None),
    ],
)
def test_each_offering_has_exactly_the_agreed_features_and_shop_limit(
    offering, features, max_shops
):
    plan = PLANS[offering]
    assert set(plan.features) == features
    assert plan.max_shops == max_shops


def test_every_offering_includes_everything_of_the_one_below():
    assert PLANS[Offering.BASIC].features < PLANS[Offering.PLUS].features
    assert PLANS[Offering.PLUS].features < PLANS[Offering.ENTERPRISE].features


def test_every_feature_has_a_label_and_an_offering():
    for feature in Feature:
        assert FEATURE_LABELS[feature]
        assert feature in PLANS[Offering.ENTERPRISE].features


@pytest.mark.parametrize("offering", list(Offering))
@pytest.mark.parametrize("feature", list(Feature))
def test_has_and_require_agree_with_the_matrix(offering, feature):
    m = merchant(offering)
    included = feature in PLANS[offering].features
    assert offerings.has(m, feature) is included
    if included:
        offerings.require(m, feature)
    else:
        with pytest.raises(FeatureNotInOffering):
            offerings.require(m, feature)


def test_require_names_the_feature_the_current_offering_and_the_one_to_upgrade_to():
    with pytest.raises(FeatureNotInOffering) as caught:
        offerings.require(merchant(Offering.BASIC), Feature.TIERS)
    assert caught.value.message == (
        "Membership tiers is not included in the Basic offering. Upgrade to Plus to use it."
    )
    assert caught.value.details == {
        "feature": "tiers",
        "offering": "basic",
        "required_offering": "plus",
    }


@pytest.mark.parametrize("offering", [Offering.BASIC, Offering.PLUS])
@pytest.mark.parametrize(
    "feature", [F.API_ACCESS, F.WEBHOOKS, F.WHITE_LABEL, F.FULL_ANALYTICS, F.DEDICATED_SUPPORT]
)
def test_enterprise_features_send_basic_and_plus_merchants_to_enterprise(offering, feature):
    with pytest.raises(FeatureNotInOffering, match="Upgrade to Enterprise") as caught:
        offerings.require(merchant(offering), feature)
    assert FEATURE_LABELS[feature] in caught.value.message
    assert caught.value.details["required_offering"] == "enterprise"


def test_plan_of_accepts_the_offering_as_a_plain_string():
    m = Merchant(name="Bakery", slug="bakery", offering="plus")
    assert offerings.plan_of(m).label == "Plus"


@pytest.mark.parametrize(("offering", "allowed"), [(Offering.BASIC, 1), (Offering.PLUS, 10)])
def test_shop_capacity_allows_up_to_the_limit_then_refuses(offering, allowed):
    m = merchant(offering)
    for current in range(allowed):
        offerings.require_shop_capacity(m, current)
    with pytest.raises(LimitReached) as caught:
        offerings.require_shop_capacity(m, allowed)
    assert caught.value.details == {"limit": allowed}


def test_shop_limit_message_says_the_limit_what_exists_and_what_to_do():
    with pytest.raises(LimitReached) as caught:
        offerings.require_shop_capacity(merchant(Offering.PLUS), 10)
    assert caught.value.message == (
        "The Plus offering includes up to 10 shops, and Bakery Dupont already has 10. "
        "Upgrade the offering to add more."
    )
    with pytest.raises(LimitReached, match="up to 1 shop, and"):
        offerings.require_shop_capacity(merchant(Offering.BASIC), 1)


def test_enterprise_has_no_shop_limit():
    offerings.require_shop_capacity(merchant(Offering.ENTERPRISE), 10_000)
