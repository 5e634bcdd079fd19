"""Promotions through earn and preview: stacking, conditions, limits, and what gets recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from loyalty.models import (
    LoyaltyTransaction,
    Offering,
    PointLot,
    Promotion,
    PromotionRedemption,
    PromotionType,
)
from loyalty.services import merchants
from loyalty.services.earn import earn, preview_earn
from tests import factories
from tests.invariants import assert_ledger_consistent

MONDAY = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)  # 11:00 in Luxembourg
MONDAY_LATE = datetime(2024, 1, 15, 23, 30, tzinfo=UTC)  # already Tuesday 00:30 in Luxembourg
MON, TUE = 0, 1


def promo(
    session,
    tenant,
    type: PromotionType,
    value: str = "0",
    *,
    name: str | None = None,
    starts_at: datetime = MONDAY - timedelta(days=30),
    **fields,
) -> Promotion:
    promotion = Promotion(
        merchant_id=tenant.merchant.id,
        program_id=tenant.program.id,
        name=name or f"{type.value} {value}",
        type=type,
        value=Decimal(value),
        conditions=fields.pop("conditions", {}),
        starts_at=starts_at,
        **fields,
    )
    session.add(promotion)
    session.flush()
    return promotion


def buy(session, member, amount_cents=1000, key="buy", at=MONDAY, shop=None, **kw):
    result = earn(
        session,
        member=member,
        amount_cents=amount_cents,
        idempotency_key=key,
        at=at,
        shop=shop,
        **kw,
    )
    assert_ledger_consistent(session, member.id)
    return result


def redemptions(session) -> list[tuple[int, int, int, int]]:
    return [
        (r.promotion_id, r.member_id, r.points, r.discount_cents)
        for r in session.scalars(select(PromotionRedemption).order_by(PromotionRedemption.id))
    ]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- what each type does -----------------------------------------------------------------


def test_bonus_points_are_added_to_the_purchase_points(session, tenant, member):
    bonus = promo(session, tenant, PromotionType.BONUS_POINTS, "50", name="Welcome week")
    result = buy(session, member, 1000)
    assert result.points == 60
    assert result.promotions == ("Welcome week",)
    assert redemptions(session) == [(bonus.id, member.id, 50, 0)]


def test_several_bonus_points_promotions_add_up(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50")
    promo(session, tenant, PromotionType.BONUS_POINTS, "5")
    assert buy(session, member, 1000).points == 65


def test_only_the_highest_multiplier_applies(session, tenant, member):
    promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "2", name="Double")
    triple = promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "3", name="Triple")
    promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "1.5", name="Half more")
    result = buy(session, member, 1000)
    assert result.points == 30
    assert result.promotions == ("Triple",)
    assert redemptions(session) == [(triple.id, member.id, 20, 0)]  # the points it added


def test_multiplier_and_bonus_stack(session, tenant, member):
    promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "2")
    promo(session, tenant, PromotionType.BONUS_POINTS, "5")
    assert buy(session, member, 1000).points == 25  # 10 × 2 + 5: bonus points are not doubled


def test_multiplier_stacks_with_the_tier_multiplier(session, tenant, member):
    gold = factories.make_tier(session, tenant, name="Gold", min_points=0, multiplier="1.5")
    member.tier_id = gold.id
    session.flush()
    promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "2")
    assert buy(session, member, 1000).points == 30


def test_the_best_discount_for_the_customer_applies(session, tenant, member):
    promo(session, tenant, PromotionType.DISCOUNT_PERCENT, "10", name="10% off")
    fixed = promo(session, tenant, PromotionType.DISCOUNT_FIXED, "300", name="€3 off")
    result = buy(session, member, 2000)
    assert (result.discount_cents, result.promotions) == (300, ("€3 off",))
    assert result.points == 17  # points follow what is paid: €17
    assert redemptions(session) == [(fixed.id, member.id, 0, 300)]


def test_a_percent_discount_wins_on_a_larger_basket(session, tenant, member):
    promo(session, tenant, PromotionType.DISCOUNT_PERCENT, "10", name="10% off")
    promo(session, tenant, PromotionType.DISCOUNT_FIXED, "300", name="€3 off")
    result = buy(session, member, 5000)
    assert (result.discount_cents, result.promotions, result.points) == (500, ("10% off",), 45)


def test_a_fixed_discount_never_exceeds_the_purchase(session, tenant, member):
    promo(session, tenant, PromotionType.DISCOUNT_FIXED, "5000")
    result = buy(session, member, 1200)
    assert (result.discount_cents, result.points) == (1200, 0)


def test_a_free_item_is_reported_to_the_till(session, tenant, member):
    promo(session, tenant, PromotionType.FREE_ITEM, name="Free croissant")
    result = buy(session, member, 1000)
    assert result.free_items == ("Free croissant",)
    assert result.points == 10
    assert count(session, PromotionRedemption) == 1


def test_everything_stacks_as_merchants_expect(session, tenant, member):
    promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "2")
    promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "3")
    promo(session, tenant, PromotionType.DISCOUNT_FIXED, "500")
    promo(session, tenant, PromotionType.BONUS_POINTS, "7")
    promo(session, tenant, PromotionType.FREE_ITEM, name="Free coffee")
    result = buy(session, member, 2000)
    assert result.points == 15 * 3 + 7
    assert result.discount_cents == 500
    assert result.free_items == ("Free coffee",)
    assert count(session, PromotionRedemption) == 4


# --- conditions --------------------------------------------------------------------------


def test_min_spend_is_required(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"min_spend_cents": 2000})
    assert buy(session, member, 1999, key="a").points == 19
    assert buy(session, member, 2000, key="b").points == 70


def test_a_shop_condition_limits_the_offer_to_those_shops(session, tenant, member):
    station = merchants.create_shop(session, merchant=tenant.merchant, name="Station")
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"shop_ids": [station.id]})
    assert buy(session, member, 1000, key="a", shop=tenant.shop).points == 10
    assert buy(session, member, 1000, key="b").points == 10  # no shop given
    assert buy(session, member, 1000, key="c", shop=station).points == 60


def test_a_tier_condition_limits_the_offer_to_those_tiers(session, tenant, member):
    gold = factories.make_tier(session, tenant, name="Gold", min_points=1000)
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"tier_ids": [gold.id]})
    assert buy(session, member, 1000, key="a").points == 10
    member.tier_id = gold.id
    session.flush()
    assert buy(session, member, 1000, key="b").points == 60


def test_a_tier_condition_applies_to_nobody_once_the_offering_has_no_tiers(session, tenant, member):
    gold = factories.make_tier(session, tenant, name="Gold", min_points=1000)
    member.tier_id = gold.id
    tenant.merchant.offering = Offering.BASIC
    session.flush()
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"tier_ids": [gold.id]})
    assert buy(session, member, 1000).points == 10


def test_weekdays_are_read_in_the_shop_time_zone(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"weekdays": [TUE]})
    # 23:30 UTC on Monday is 00:30 on Tuesday in Luxembourg.
    assert buy(session, member, 1000, key="a", at=MONDAY_LATE, shop=tenant.shop).points == 60
    assert buy(session, member, 1000, key="b", at=MONDAY, shop=tenant.shop).points == 10


def test_a_monday_offer_does_not_apply_after_local_midnight(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"weekdays": [MON]})
    assert buy(session, member, 1000, key="a", at=MONDAY_LATE, shop=tenant.shop).points == 10


def test_weekdays_follow_each_shop_own_time_zone(session, tenant, member):
    new_york = merchants.create_shop(
        session, merchant=tenant.merchant, name="Fifth Avenue", timezone="America/New_York"
    )
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"weekdays": [MON]})
    assert buy(session, member, 1000, key="a", at=MONDAY_LATE, shop=new_york).points == 60


def test_without_a_shop_weekdays_use_the_merchant_time_zone(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"weekdays": [TUE]})
    assert buy(session, member, 1000, at=MONDAY_LATE).points == 60


def test_an_offer_applies_only_between_its_start_and_end(session, tenant, member):
    start, end = MONDAY, MONDAY + timedelta(days=7)
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", starts_at=start, ends_at=end)
    assert buy(session, member, 1000, key="before", at=start - timedelta(seconds=1)).points == 10
    assert buy(session, member, 1000, key="start", at=start).points == 60
    assert buy(session, member, 1000, key="last", at=end - timedelta(seconds=1)).points == 60
    assert buy(session, member, 1000, key="end", at=end).points == 10


def test_an_inactive_offer_never_applies(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", active=False)
    assert buy(session, member, 1000).points == 10
    assert count(session, PromotionRedemption) == 0


def test_a_segment_bound_offer_applies_to_nobody_until_segments_exist(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", conditions={"segment_id": 1})
    assert buy(session, member, 1000).points == 10


def test_another_programmes_offer_never_applies(session, tenant, member):
    other = factories.make_tenant(session)
    promo(session, other, PromotionType.BONUS_POINTS, "50")
    assert buy(session, member, 1000).points == 10


# --- limits ------------------------------------------------------------------------------


def test_max_redemptions_counts_across_members(session, tenant, member):
    limited = promo(session, tenant, PromotionType.BONUS_POINTS, "50", max_redemptions=2)
    other = factories.make_member(session, tenant)
    assert buy(session, member, 1000, key="a").points == 60
    assert buy(session, other, 1000, key="b").points == 60
    assert buy(session, member, 1000, key="c").points == 10
    session.refresh(limited)
    assert limited.redemptions_count == 2
    assert count(session, PromotionRedemption) == 2


def test_per_member_limit_is_per_member(session, tenant, member):
    promo(session, tenant, PromotionType.BONUS_POINTS, "50", per_member_limit=1)
    other = factories.make_member(session, tenant)
    assert buy(session, member, 1000, key="a").points == 60
    assert buy(session, member, 1000, key="b").points == 10
    assert buy(session, other, 1000, key="c").points == 60


def test_a_replayed_earn_does_not_use_the_offer_again(session, tenant, member):
    limited = promo(session, tenant, PromotionType.BONUS_POINTS, "50", max_redemptions=5)
    first = buy(session, member, 1000, key="same")
    again = buy(session, member, 1000, key="same")
    assert again.replayed
    assert (again.points, again.promotions) == (first.points, first.promotions)
    session.refresh(limited)
    assert limited.redemptions_count == 1
    assert count(session, PromotionRedemption) == 1


# --- preview -----------------------------------------------------------------------------


def test_preview_shows_the_offer_and_writes_nothing(session, tenant, member):
    limited = promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "2", max_redemptions=1)
    promo(session, tenant, PromotionType.DISCOUNT_FIXED, "200")
    quote = preview_earn(session, member=member, amount_cents=1200, at=MONDAY)
    assert (quote.base_points, quote.points, quote.offer.discount_cents) == (10, 20, 200)
    assert quote.points_by_promotion == {limited.id: 10}
    session.expire_all()
    assert count(session, LoyaltyTransaction) == 0
    assert count(session, PointLot) == 0
    assert count(session, PromotionRedemption) == 0
    assert limited.redemptions_count == 0


def test_preview_matches_what_earn_then_credits(session, tenant, member):
    promo(session, tenant, PromotionType.POINTS_MULTIPLIER, "1.5")
    promo(session, tenant, PromotionType.DISCOUNT_PERCENT, "15")
    promo(session, tenant, PromotionType.BONUS_POINTS, "3")
    quote = preview_earn(session, member=member, amount_cents=3333, at=MONDAY)
    assert buy(session, member, 3333).points == quote.points


def test_preview_no_longer_shows_an_offer_used_up_in_the_same_session(session, tenant, member):
    # Holding the object keeps it in the session's identity map, as a page listing offers would.
    limited = promo(session, tenant, PromotionType.BONUS_POINTS, "50", max_redemptions=1)
    buy(session, member, 1000, key="a")
    assert limited.redemptions_count == 1
    quote = preview_earn(session, member=member, amount_cents=1000, at=MONDAY)
    assert (quote.points, quote.offer.applied) == (10, ())
