"""Earning points: the arithmetic, the ledger it writes, and replays that write nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loyalty.errors import IdempotencyConflict, InvalidInput, MemberNotActive, NotFound
from loyalty.models import (
    ExpiryPolicy,
    LoyaltyTransaction,
    MemberStatus,
    Offering,
    PointLot,
    Rounding,
)
from loyalty.services.earn import earn, preview_earn
from loyalty.services.points import BasketLine
from tests import factories
from tests.invariants import assert_ledger_consistent


def test_earn_credits_points_by_the_programme_rate_rounded_down(session, tenant, member):
    tenant.program.points_per_euro = Decimal("1.5")
    result = earn(session, member=member, amount_cents=1999, shop=tenant.shop, idempotency_key="k1")
    assert (result.points, result.balance) == (29, 29)  # 19.99 × 1.5 = 29.985 → 29
    assert_ledger_consistent(session, member.id)


@pytest.mark.parametrize(
    ("rounding", "expected"), [(Rounding.FLOOR, 12), (Rounding.ROUND, 13), (Rounding.CEIL, 13)]
)
def test_earn_rounds_as_the_programme_says(session, tenant, member, rounding, expected):
    tenant.program.rounding = rounding
    result = earn(session, member=member, amount_cents=1250, idempotency_key="r")
    assert result.points == expected


def test_earn_applies_the_tier_multiplier(session, tenant, member):
    gold = factories.make_tier(session, tenant, name="Gold", min_points=0, multiplier="1.5")
    member.tier_id = gold.id
    session.flush()
    result = earn(session, member=member, amount_cents=1000, idempotency_key="t")
    assert result.points == 15


def test_tier_multiplier_stops_when_the_offering_no_longer_has_tiers(session, tenant, member):
    gold = factories.make_tier(session, tenant, name="Gold", min_points=0, multiplier="2")
    member.tier_id = gold.id
    tenant.merchant.offering = Offering.BASIC
    session.flush()
    assert earn(session, member=member, amount_cents=1000, idempotency_key="b").points == 10


def test_category_multipliers_apply_to_basket_lines(session, tenant, member):
    tenant.program.category_multipliers = {"bread": "2"}
    session.flush()
    basket = [BasketLine(500, "bread"), BasketLine(300, "coffee")]
    result = earn(session, member=member, amount_cents=1000, basket=basket, idempotency_key="c")
    assert result.points == 15  # 5×2 + 3 + 2 (the part without a line)


def test_earn_replay_returns_the_first_result_and_writes_nothing(session, tenant, member):
    first = earn(session, member=member, amount_cents=1000, idempotency_key="same")
    again = earn(session, member=member, amount_cents=1000, idempotency_key="same")
    assert again.replayed
    assert not first.replayed
    assert (again.transaction_id, again.points, again.balance) == (
        first.transaction_id,
        first.points,
        first.balance,
    )
    rows = session.scalar(select(func.count()).where(LoyaltyTransaction.member_id == member.id))
    assert rows == 1


def test_earn_key_reused_for_another_amount_is_refused(session, tenant, member):
    earn(session, member=member, amount_cents=1000, idempotency_key="same")
    with pytest.raises(IdempotencyConflict):
        earn(session, member=member, amount_cents=2000, idempotency_key="same")


@pytest.mark.parametrize("amount", [0, -5, 10_000_001, "12", 12.5, True])
def test_earn_refuses_bad_amounts_and_changes_nothing(session, tenant, member, amount):
    with pytest.raises(InvalidInput):
        earn(session, member=member, amount_cents=amount, idempotency_key="bad")
    assert session.scalar(select(func.count(LoyaltyTransaction.id))) == 0


def test_earn_refuses_a_shop_of_another_merchant(session, tenant, member):
    other = factories.make_tenant(session)
    with pytest.raises(NotFound):
        earn(session, member=member, amount_cents=1000, shop=other.shop, idempotency_key="x")


def test_earn_refuses_a_suspended_card(session, tenant, member):
    member.status = MemberStatus.SUSPENDED
    session.flush()
    with pytest.raises(MemberNotActive):
        earn(session, member=member, amount_cents=1000, idempotency_key="s")


def test_points_expiring_after_days_get_a_dated_lot(session, tenant, member):
    tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    tenant.program.expiry_days = 365
    session.flush()
    result = earn(session, member=member, amount_cents=1000, idempotency_key="e")
    lot = session.scalars(
        select(PointLot).where(PointLot.transaction_id == result.transaction_id)
    ).one()
    transaction = session.get(LoyaltyTransaction, result.transaction_id)
    assert (lot.expires_at - transaction.created_at).days == 365


def test_earn_upgrades_the_tier_as_soon_as_points_qualify(session, tenant, member):
    factories.make_tier(session, tenant, name="Bronze", min_points=0)
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    result = earn(session, member=member, amount_cents=10_000, idempotency_key="u")
    assert result.new_tier == "Silver"
    session.refresh(member)
    assert member.tier.name == "Silver"


def test_preview_matches_earn_and_writes_nothing(session, tenant, member):
    quote = preview_earn(session, member=member, amount_cents=4321)
    assert session.scalar(select(func.count(LoyaltyTransaction.id))) == 0
    assert (
        earn(session, member=member, amount_cents=4321, idempotency_key="p").points == quote.points
    )
