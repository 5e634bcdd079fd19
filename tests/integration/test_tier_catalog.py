"""Setting up tiers: the Plus gate, the ladder's rules, and what moves members."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loyalty.errors import FeatureNotInOffering, InvalidInput, PermissionDenied
from loyalty.models import AuditLog, LoyaltyTier, Offering, Role
from loyalty.services.tier_catalog import TierDraft, create_tier, delete_tier, update_tier
from tests import factories


def owner(session, tenant):
    return factories.actor_for(factories.make_user(session, tenant))


def tiers_of(session, tenant) -> list[tuple[str, int, int]]:
    return [
        (t.name, t.min_points, t.sort_order)
        for t in session.scalars(
            select(LoyaltyTier)
            .where(LoyaltyTier.merchant_id == tenant.merchant.id)
            .order_by(LoyaltyTier.sort_order)
        )
    ]


def test_basic_merchant_cannot_create_tiers(session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    with pytest.raises(FeatureNotInOffering) as refusal:
        create_tier(
            session,
            merchant=basic.merchant,
            actor=owner(session, basic),
            draft=TierDraft("Gold", 1000),
        )
    assert "Plus" in refusal.value.message
    assert tiers_of(session, basic) == []


def test_shop_staff_cannot_create_tiers(session, tenant):
    staff = factories.actor_for(factories.make_user(session, tenant), Role.STAFF, tenant.shop)
    with pytest.raises(PermissionDenied):
        create_tier(session, merchant=tenant.merchant, actor=staff, draft=TierDraft("Gold", 10))


def test_tiers_are_ordered_by_threshold_whatever_order_they_are_created_in(session, tenant):
    actor = owner(session, tenant)
    for name, points, multiplier in (
        ("Gold", 1500, "1.5"),
        ("Bronze", 0, "1"),
        ("Silver", 500, "1.25"),
    ):
        create_tier(
            session,
            merchant=tenant.merchant,
            actor=actor,
            draft=TierDraft(name, points, Decimal(multiplier), benefits=("  Free coffee ", "")),
        )
    assert tiers_of(session, tenant) == [("Bronze", 0, 0), ("Silver", 500, 1), ("Gold", 1500, 2)]
    gold = session.scalars(select(LoyaltyTier).where(LoyaltyTier.name == "Gold")).one()
    assert gold.benefits == {"perks": ["Free coffee"]}
    assert (
        session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "tier.created"))
        == 3
    )


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (TierDraft("", 100), "name"),
        (TierDraft("Silver", 200), "name"),  # taken (case-insensitive below)
        (TierDraft("silver", 200), "name"),
        (TierDraft("Platinum", 500), "min_points"),  # Silver's threshold
        (TierDraft("Platinum", -1), "min_points"),
        (TierDraft("Platinum", 5000, Decimal("0.5")), "earn_multiplier"),
        (TierDraft("Platinum", 5000, Decimal("11")), "earn_multiplier"),
        (TierDraft("Platinum", 5000, Decimal("1.2345")), "earn_multiplier"),
        (TierDraft("Platinum", 5000, Decimal("1.1")), "earn_multiplier"),  # below Silver's 1.25
        (TierDraft("Copper", 100, Decimal("2")), "earn_multiplier"),  # above Silver's
        (
            TierDraft("Platinum", 5000, Decimal(2), qualification_window_days=0),
            "qualification_window_days",
        ),
        (TierDraft("Platinum", 5000, Decimal(2), benefits=("x" * 121,)), "benefits"),
        (TierDraft("Platinum", 5000, Decimal(2), benefits=tuple("abcdefghijk")), "benefits"),
    ],
)
def test_bad_tier_input_is_refused_and_changes_nothing(session, tenant, draft, field):
    actor = owner(session, tenant)
    create_tier(
        session,
        merchant=tenant.merchant,
        actor=actor,
        draft=TierDraft("Silver", 500, Decimal("1.25")),
    )
    before = tiers_of(session, tenant)
    with pytest.raises(InvalidInput) as refusal:
        create_tier(session, merchant=tenant.merchant, actor=actor, draft=draft)
    assert refusal.value.field == field
    assert tiers_of(session, tenant) == before


def test_a_new_tier_upgrades_members_at_once(session, tenant):
    member = factories.make_member(session, tenant)
    member.lifetime_points = 800
    session.flush()
    tier = create_tier(
        session,
        merchant=tenant.merchant,
        actor=owner(session, tenant),
        draft=TierDraft("Silver", 500, Decimal("1.25")),
    )
    session.refresh(member)
    assert member.tier_id == tier.id


def test_raising_a_threshold_waits_for_the_nightly_run_to_move_members_down(session, tenant):
    actor = owner(session, tenant)
    member = factories.make_member(session, tenant)
    member.lifetime_points = 800
    session.flush()
    tier = create_tier(
        session, merchant=tenant.merchant, actor=actor, draft=TierDraft("Silver", 500)
    )
    update_tier(
        session, tier=tier, merchant=tenant.merchant, actor=actor, draft=TierDraft("Silver", 1000)
    )
    session.refresh(member)
    assert member.tier_id == tier.id
    assert tier.min_points == 1000


def test_deleting_a_tier_moves_its_members_to_the_tier_their_points_reach(session, tenant):
    actor = owner(session, tenant)
    bronze = create_tier(
        session, merchant=tenant.merchant, actor=actor, draft=TierDraft("Bronze", 0)
    )
    silver = create_tier(
        session, merchant=tenant.merchant, actor=actor, draft=TierDraft("Silver", 500)
    )
    member = factories.make_member(session, tenant)
    member.lifetime_points = 800
    member.tier_id = silver.id
    session.flush()
    moved = delete_tier(session, tier=silver, merchant=tenant.merchant, actor=actor)
    assert moved == 1
    session.refresh(member)
    assert member.tier_id == bronze.id
    assert tiers_of(session, tenant) == [("Bronze", 0, 0)]


def test_a_downgraded_merchant_keeps_tiers_but_cannot_change_them(session, tenant):
    actor = owner(session, tenant)
    tier = create_tier(session, merchant=tenant.merchant, actor=actor, draft=TierDraft("Gold", 10))
    tenant.merchant.offering = Offering.BASIC
    with pytest.raises(FeatureNotInOffering):
        update_tier(
            session, tier=tier, merchant=tenant.merchant, actor=actor, draft=TierDraft("X", 10)
        )
    with pytest.raises(FeatureNotInOffering):
        delete_tier(session, tier=tier, merchant=tenant.merchant, actor=actor)
    assert tiers_of(session, tenant) == [("Gold", 10, 0)]
