"""Changing a merchant's offering: what it reports, what it keeps, who may do it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty import offerings
from loyalty.errors import InvalidInput, PermissionDenied
from loyalty.models import AuditLog, LoyaltyTier, Offering, RewardType, Role
from loyalty.offerings import Feature
from loyalty.services import api_keys, merchants, webhooks
from loyalty.services.actors import Actor
from tests import factories


@pytest.fixture
def operator(session):
    return Actor.operator(factories.make_user(session, platform_admin=True).id)


def test_enterprise_to_basic_lists_what_is_lost_and_what_is_over_the_limit(session, operator):
    tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    merchant = tenant.merchant
    owner = factories.actor_for(factories.make_user(session, tenant, role=Role.OWNER))
    merchants.create_shop(session, merchant=merchant, name="Second")
    merchants.create_shop(session, merchant=merchant, name="Third")
    factories.make_tier(session, tenant, name="Gold", min_points=100)
    factories.make_reward(session, tenant, type=RewardType.FREE_ITEM, name="Croissant", value=None)
    api_keys.create_key(session, merchant=merchant, actor=owner)
    webhooks.create_endpoint(
        session,
        merchant=merchant,
        actor=owner,
        url="https://hooks.example.com/loyalty",
        event_types=["points.earned"],
    )

    change = merchants.change_offering(
        session, merchant=merchant, offering=Offering.BASIC, actor=operator
    )

    assert change.is_downgrade
    assert not change.gained
    assert (
        set(change.lost)
        == offerings.PLANS[Offering.ENTERPRISE].features - offerings.PLANS[Offering.BASIC].features
    )
    assert change.over_limit == (
        "3 open shops, while Basic includes 1: they all keep working, but no shop can be added or reopened.",
        "1 membership tier kept but not applied: no tier multipliers or tier pages until an upgrade.",
        "1 custom reward kept but hidden from members: only discount rewards can be redeemed.",
        "1 API key kept but refused by the API.",
        "1 webhook endpoint kept but sent no events.",
    )
    assert merchant.offering == Offering.BASIC
    assert not offerings.has(merchant, Feature.TIERS)
    tiers = session.scalar(
        select(func.count(LoyaltyTier.id)).where(LoyaltyTier.merchant_id == merchant.id)
    )
    assert tiers == 1  # kept

    entry = session.scalars(
        select(AuditLog).where(
            AuditLog.merchant_id == merchant.id, AuditLog.action == "merchant.offering_changed"
        )
    ).one()
    assert entry.actor_user_id == operator.user_id
    assert merchants.OfferingChange.from_audit(entry).lost == change.lost
    assert (
        merchants.latest_offering_change(session, merchant=merchant).over_limit == change.over_limit
    )


def test_an_upgrade_is_immediate_and_loses_nothing(session, operator):
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    change = merchants.change_offering(
        session, merchant=tenant.merchant, offering="enterprise", actor=operator
    )
    assert change.is_upgrade
    assert not change.lost
    assert not change.over_limit
    assert Feature.FULL_ANALYTICS in change.gained
    assert offerings.has(tenant.merchant, Feature.FULL_ANALYTICS)


def test_the_same_offering_changes_and_records_nothing(session, operator, tenant):
    change = merchants.change_offering(
        session, merchant=tenant.merchant, offering=Offering.PLUS, actor=operator
    )
    assert (change.gained, change.lost, change.at) == ((), (), None)
    assert session.scalar(select(func.count(AuditLog.id))) == 0


def test_an_unknown_offering_is_refused_with_the_choices(session, operator, tenant):
    with pytest.raises(InvalidInput, match="Choose Basic, Plus, Enterprise"):
        merchants.change_offering(
            session, merchant=tenant.merchant, offering="gold", actor=operator
        )
    assert tenant.merchant.offering == Offering.PLUS


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER, Role.STAFF])
def test_no_merchant_role_may_change_the_offering(session, tenant, role):
    user = factories.make_user(session, tenant, role=role)
    with pytest.raises(PermissionDenied, match="Only the platform operator"):
        merchants.change_offering(
            session,
            merchant=tenant.merchant,
            offering=Offering.ENTERPRISE,
            actor=factories.actor_for(user, role),
        )
    assert tenant.merchant.offering == Offering.PLUS
