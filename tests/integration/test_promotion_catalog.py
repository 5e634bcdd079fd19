"""Setting up promotions: validation, offering gates, ending, and the preview of who qualifies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loyalty.errors import FeatureNotInOffering, InvalidInput, PermissionDenied
from loyalty.models import AuditLog, MemberStatus, Offering, Promotion, PromotionType, Role
from loyalty.services import merchants
from loyalty.services.earn import earn
from loyalty.services.promotion_catalog import (
    PromotionDraft,
    create_promotion,
    draft_of,
    end_promotion,
    preview,
    status_of,
    update_promotion,
)
from tests import factories

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Luxembourg
TODAY = date(2026, 3, 2)


def owner_of(session, tenant):
    return factories.actor_for(factories.make_user(session, tenant))


def draft(**fields) -> PromotionDraft:
    values = {"name": "Double points", "type": PromotionType.POINTS_MULTIPLIER, "value": "2"}
    values.update(fields)
    values["value"] = Decimal(values["value"])
    return PromotionDraft(**values)


def promotions_of(session, tenant) -> int:
    return session.scalar(
        select(func.count(Promotion.id)).where(Promotion.merchant_id == tenant.merchant.id)
    )


def test_create_promotion_stores_conditions_window_and_limits_in_merchant_days(session, tenant):
    actor = owner_of(session, tenant)
    promotion = create_promotion(
        session,
        merchant=tenant.merchant,
        actor=actor,
        draft=draft(
            min_spend_cents=1500,
            shop_ids=(tenant.shop.id,),
            weekdays=(1, 1, 5),
            starts_on=date(2026, 3, 10),
            ends_on=date(2026, 3, 31),
            max_redemptions=100,
            per_member_limit=2,
        ),
        now=NOW,
    )
    assert promotion.conditions == {
        "min_spend_cents": 1500,
        "shop_ids": [tenant.shop.id],
        "weekdays": [1, 5],
    }
    # Midnight in Luxembourg (UTC+1 in March) on the first day, and after the last one.
    assert promotion.starts_at.astimezone(UTC) == datetime(2026, 3, 9, 23, 0, tzinfo=UTC)
    assert promotion.ends_at.astimezone(UTC) == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
    assert (promotion.max_redemptions, promotion.per_member_limit) == (100, 2)
    assert status_of(promotion, NOW) == "scheduled"
    entry = session.scalars(select(AuditLog).where(AuditLog.target_id == str(promotion.id))).one()
    assert entry.action == "promotion.created"


def test_a_promotion_starting_today_applies_from_now(session, tenant):
    promotion = create_promotion(
        session, merchant=tenant.merchant, actor=owner_of(session, tenant), draft=draft(), now=NOW
    )
    assert promotion.starts_at.astimezone(UTC) == NOW
    assert status_of(promotion, NOW) == "running"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"value": "1"}, "value"),  # a multiplier of 1 changes nothing
        ({"value": "11"}, "value"),
        ({"type": PromotionType.BONUS_POINTS, "value": "2.5"}, "value"),
        ({"type": PromotionType.BONUS_POINTS, "value": "0"}, "value"),
        ({"type": PromotionType.DISCOUNT_PERCENT, "value": "101"}, "value"),
        ({"type": PromotionType.DISCOUNT_FIXED, "value": "0"}, "value"),
        ({"min_spend_cents": -1}, "min_spend"),
        ({"weekdays": (7,)}, "weekdays"),
        ({"starts_on": date(2026, 3, 1)}, "starts_on"),
        ({"starts_on": date(2026, 3, 10), "ends_on": date(2026, 3, 9)}, "ends_on"),
        ({"max_redemptions": 0}, "max_redemptions"),
        ({"per_member_limit": -3}, "per_member_limit"),
        ({"shop_ids": (987654,)}, "shops"),
    ],
)
def test_bad_promotion_input_is_refused_and_changes_nothing(session, tenant, fields, field):
    actor = owner_of(session, tenant)
    with pytest.raises(InvalidInput) as refusal:
        create_promotion(
            session, merchant=tenant.merchant, actor=actor, draft=draft(**fields), now=NOW
        )
    assert refusal.value.field == field
    assert promotions_of(session, tenant) == 0


def test_another_merchants_shop_cannot_be_a_condition(session, tenant):
    other = factories.make_tenant(session)
    with pytest.raises(InvalidInput):
        create_promotion(
            session,
            merchant=tenant.merchant,
            actor=owner_of(session, tenant),
            draft=draft(shop_ids=(other.shop.id,)),
            now=NOW,
        )


def test_basic_merchant_runs_promotions_but_not_tier_conditions(session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    actor = owner_of(session, basic)
    assert create_promotion(session, merchant=basic.merchant, actor=actor, draft=draft(), now=NOW)
    tier = factories.make_tier(session, basic, name="Gold", min_points=100)
    with pytest.raises(FeatureNotInOffering):
        create_promotion(
            session,
            merchant=basic.merchant,
            actor=actor,
            draft=draft(tier_ids=(tier.id,)),
            now=NOW,
        )
    assert promotions_of(session, basic) == 1


def test_a_downgraded_merchant_can_edit_a_promotion_and_keep_its_tier_condition(session, tenant):
    actor = owner_of(session, tenant)
    tier = factories.make_tier(session, tenant, name="Gold", min_points=100)
    promotion = create_promotion(
        session, merchant=tenant.merchant, actor=actor, draft=draft(tier_ids=(tier.id,)), now=NOW
    )
    tenant.merchant.offering = Offering.BASIC
    update_promotion(
        session,
        promotion=promotion,
        merchant=tenant.merchant,
        actor=actor,
        draft=draft(name="Renamed", tier_ids=(tier.id,)),
        now=NOW,
    )
    assert promotion.conditions["tier_ids"] == [tier.id]


def test_shop_staff_cannot_create_promotions(session, tenant):
    staff = factories.actor_for(factories.make_user(session, tenant), Role.STAFF, tenant.shop)
    with pytest.raises(PermissionDenied):
        create_promotion(session, merchant=tenant.merchant, actor=staff, draft=draft(), now=NOW)


def test_update_keeps_used_promotions_type_and_limit_above_uses(session, tenant):
    actor = owner_of(session, tenant)
    promotion = create_promotion(
        session, merchant=tenant.merchant, actor=actor, draft=draft(), now=NOW
    )
    promotion.redemptions_count = 5
    with pytest.raises(InvalidInput) as refusal:
        update_promotion(
            session,
            promotion=promotion,
            merchant=tenant.merchant,
            actor=actor,
            draft=draft(type=PromotionType.BONUS_POINTS, value="10"),
            now=NOW,
        )
    assert refusal.value.field == "type"
    with pytest.raises(InvalidInput) as refusal:
        update_promotion(
            session,
            promotion=promotion,
            merchant=tenant.merchant,
            actor=actor,
            draft=draft(max_redemptions=4),
            now=NOW,
        )
    assert refusal.value.field == "max_redemptions"
    assert promotion.type == PromotionType.POINTS_MULTIPLIER
    assert promotion.max_redemptions is None


def test_end_promotion_stops_it_now_and_twice_changes_nothing(session, tenant):
    actor = owner_of(session, tenant)
    promotion = create_promotion(
        session, merchant=tenant.merchant, actor=actor, draft=draft(), now=NOW
    )
    later = NOW + timedelta(hours=2)
    end_promotion(session, promotion=promotion, merchant=tenant.merchant, actor=actor, now=later)
    assert promotion.ends_at.astimezone(UTC) == later
    assert status_of(promotion, later) == "ended"
    end_promotion(
        session,
        promotion=promotion,
        merchant=tenant.merchant,
        actor=actor,
        now=later + timedelta(days=1),
    )
    assert promotion.ends_at.astimezone(UTC) == later
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.target_id == str(promotion.id))
    ).all()
    assert actions.count("promotion.ended") == 1


# --- preview ---------------------------------------------------------------------------


def _buy(session, member, shop, key):
    earn(session, member=member, amount_cents=1000, idempotency_key=key, shop=shop)


def test_preview_counts_active_members_in_the_tiers_and_shops_chosen(session, tenant):
    second_shop = merchants.create_shop(session, merchant=tenant.merchant, name="Station")
    gold = factories.make_tier(session, tenant, name="Gold", min_points=500)
    silver = factories.make_tier(session, tenant, name="Silver", min_points=100)
    members = [factories.make_member(session, tenant, name=f"M{i}") for i in range(6)]
    for member in members[:3]:
        member.tier_id = gold.id
    members[3].tier_id = silver.id
    members[2].status = MemberStatus.SUSPENDED
    _buy(session, members[0], tenant.shop, "a")
    _buy(session, members[1], second_shop, "b")
    _buy(session, members[3], tenant.shop, "c")
    factories.make_member(session, factories.make_tenant(session))  # another business
    session.flush()

    everyone = preview(session, merchant=tenant.merchant, draft=draft())
    assert everyone.count == 5  # six members, one suspended

    gold_only = preview(session, merchant=tenant.merchant, draft=draft(tier_ids=(gold.id,)))
    assert gold_only.count == 2
    assert {m.member_id for m in gold_only.sample} == {members[0].id, members[1].id}

    main_street = preview(
        session, merchant=tenant.merchant, draft=draft(shop_ids=(tenant.shop.id,))
    )
    assert {m.member_id for m in main_street.sample} == {members[0].id, members[3].id}

    both = preview(
        session,
        merchant=tenant.merchant,
        draft=draft(tier_ids=(gold.id, silver.id), shop_ids=(tenant.shop.id,)),
    )
    assert both.count == 2


def test_preview_leaves_out_members_who_used_up_their_own_limit(session, tenant):
    actor = owner_of(session, tenant)
    promotion = create_promotion(
        session,
        merchant=tenant.merchant,
        actor=actor,
        draft=draft(type=PromotionType.BONUS_POINTS, value="10", per_member_limit=1),
        now=NOW - timedelta(days=1),
    )
    used, fresh = factories.make_member(session, tenant), factories.make_member(session, tenant)
    earn(session, member=used, amount_cents=1000, idempotency_key="k", shop=tenant.shop)
    result = preview(
        session,
        merchant=tenant.merchant,
        draft=draft(per_member_limit=1),
        promotion=promotion,
    )
    assert [m.member_id for m in result.sample] == [fresh.id]
    assert result.count == 1


def test_preview_sample_is_capped_and_most_recent_first(session, tenant):
    members = [factories.make_member(session, tenant) for _ in range(12)]
    for position, member in enumerate(members):
        member.last_activity_at = NOW - timedelta(days=position)
    session.flush()
    result = preview(session, merchant=tenant.merchant, draft=draft())
    assert result.count == 12
    assert [m.member_id for m in result.sample] == [m.id for m in members[:10]]


def test_preview_after_a_downgrade_says_tier_conditions_match_nobody(session, tenant):
    gold = factories.make_tier(session, tenant, name="Gold", min_points=1)
    member = factories.make_member(session, tenant)
    member.tier_id = gold.id
    tenant.merchant.offering = Offering.BASIC
    session.flush()
    result = preview(session, merchant=tenant.merchant, draft=draft(tier_ids=(gold.id,)))
    assert result.count == 0
    assert any("Tiers" in note for note in result.notes)


def test_saving_an_ended_promotion_unchanged_does_not_reopen_it(session, tenant):
    actor = owner_of(session, tenant)
    promotion = create_promotion(
        session, merchant=tenant.merchant, actor=actor, draft=draft(), now=NOW
    )
    ended_at = NOW + timedelta(hours=1)
    end_promotion(session, promotion=promotion, merchant=tenant.merchant, actor=actor, now=ended_at)
    update_promotion(
        session,
        promotion=promotion,
        merchant=tenant.merchant,
        actor=actor,
        draft=draft_of(promotion, tenant.merchant),
        now=ended_at + timedelta(minutes=5),
    )
    assert promotion.ends_at.astimezone(UTC) == ended_at
    assert status_of(promotion, ended_at + timedelta(minutes=5)) == "ended"
