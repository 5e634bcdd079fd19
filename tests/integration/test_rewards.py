"""Redeeming rewards: points out oldest-first, stock down, a voucher with a short code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty.errors import (
    FeatureNotInOffering,
    IdempotencyConflict,
    InsufficientPoints,
    MemberNotActive,
    NotFound,
    RewardOutOfStock,
    RewardUnavailable,
)
from loyalty.models import (
    ExpiryPolicy,
    LoyaltyTransaction,
    MemberStatus,
    Offering,
    PointLot,
    RewardType,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services.earn import earn
from loyalty.services.rewards import CODE_ALPHABET, affordable_rewards, redeem
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def give(session, member, points: int, key: str, at: datetime = NOW - timedelta(days=1)) -> int:
    """Earn `points` (at 1 point per euro) and return the earn row's id."""
    result = earn(session, member=member, amount_cents=points * 100, idempotency_key=key, at=at)
    assert_ledger_consistent(session, member.id)
    return result.transaction_id


def snapshot(session, member, reward=None) -> tuple:
    session.expire_all()
    rows = session.scalar(select(func.count()).where(LoyaltyTransaction.member_id == member.id))
    vouchers = session.scalar(select(func.count()).where(Voucher.member_id == member.id))
    balance = assert_ledger_consistent(session, member.id)
    return balance, rows, vouchers, reward.stock if reward is not None else None


def remaining_by_lot(session, *transaction_ids: int) -> list[int]:
    return [
        session.scalars(select(PointLot.remaining).where(PointLot.transaction_id == tid)).one()
        for tid in transaction_ids
    ]


def test_redeem_issues_a_voucher_and_debits_the_cost(session, tenant, member):
    give(session, member, 150, "e1")
    reward = factories.make_reward(session, tenant, cost=100)
    voucher = redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert voucher.status == VoucherStatus.ISSUED
    assert (voucher.member_id, voucher.reward_id, voucher.points_spent) == (
        member.id,
        reward.id,
        100,
    )
    row = session.get(LoyaltyTransaction, voucher.transaction_id)
    assert (row.type, row.points, row.balance_after) == (TransactionType.REDEEM, -100, 50)
    assert member.points_balance == 50
    assert member.lifetime_points == 150  # spending does not undo what was earned
    assert assert_ledger_consistent(session, member.id) == 50


def test_voucher_code_is_eight_unambiguous_characters_valid_for_the_reward_days(
    session, tenant, member
):
    give(session, member, 100, "e1")
    reward = factories.make_reward(session, tenant, cost=100)
    reward.validity_days = 14
    voucher = redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert len(voucher.code) == 8
    assert set(voucher.code) <= set(CODE_ALPHABET)
    assert not set(voucher.code) & set("01IO")
    assert voucher.valid_until == NOW + timedelta(days=14)


def test_redeem_takes_points_from_the_oldest_lots_first(session, tenant, member):
    oldest = give(session, member, 60, "e1", at=NOW - timedelta(days=30))
    middle = give(session, member, 60, "e2", at=NOW - timedelta(days=20))
    newest = give(session, member, 60, "e3", at=NOW - timedelta(days=10))
    reward = factories.make_reward(session, tenant, cost=100)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert remaining_by_lot(session, oldest, middle, newest) == [0, 20, 60]
    assert assert_ledger_consistent(session, member.id) == 80


def test_redeem_takes_points_that_expire_soonest_first(session, tenant, member):
    tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    tenant.program.expiry_days = 365
    session.flush()
    later = give(session, member, 60, "e1", at=NOW - timedelta(days=10))
    tenant.program.expiry_days = 30  # a later, shorter policy: these expire first
    session.flush()
    sooner = give(session, member, 60, "e2", at=NOW - timedelta(days=5))
    reward = factories.make_reward(session, tenant, cost=80)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert remaining_by_lot(session, sooner, later) == [0, 40]
    assert assert_ledger_consistent(session, member.id) == 40


def test_dated_lots_go_before_lots_that_never_expire(session, tenant, member):
    forever = give(session, member, 50, "e1", at=NOW - timedelta(days=30))
    tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    tenant.program.expiry_days = 90
    session.flush()
    dated = give(session, member, 50, "e2", at=NOW - timedelta(days=1))
    reward = factories.make_reward(session, tenant, cost=60)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert remaining_by_lot(session, dated, forever) == [0, 40]


def test_redeem_refuses_when_balance_too_low_and_changes_nothing(session, tenant, member):
    give(session, member, 99, "e1")
    reward = factories.make_reward(session, tenant, cost=100, stock=5)
    before = snapshot(session, member, reward)
    with pytest.raises(InsufficientPoints) as caught:
        redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert "costs 100 points; the card has 99. 1 more to go." in caught.value.message
    assert snapshot(session, member, reward) == before == (99, 1, 0, 5)


def test_redeem_decrements_stock(session, tenant, member):
    give(session, member, 300, "e1")
    reward = factories.make_reward(session, tenant, cost=100, stock=2)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert reward.stock == 1
    redeem(session, member=member, reward=reward, idempotency_key="r2", now=NOW)
    assert reward.stock == 0
    assert assert_ledger_consistent(session, member.id) == 100


def test_redeem_refuses_an_out_of_stock_reward_and_changes_nothing(session, tenant, member):
    give(session, member, 300, "e1")
    reward = factories.make_reward(session, tenant, cost=100, stock=0, name="Tote bag")
    before = snapshot(session, member, reward)
    with pytest.raises(RewardOutOfStock, match="“Tote bag” is out of stock"):
        redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert snapshot(session, member, reward) == before == (300, 1, 0, 0)


def test_unlimited_stock_stays_unlimited(session, tenant, member):
    give(session, member, 100, "e1")
    reward = factories.make_reward(session, tenant, cost=100, stock=None)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert reward.stock is None
    assert assert_ledger_consistent(session, member.id) == 0


def test_redeem_refuses_an_inactive_reward_and_changes_nothing(session, tenant, member):
    give(session, member, 300, "e1")
    reward = factories.make_reward(session, tenant, cost=100, stock=3, name="Old mug")
    reward.active = False
    session.flush()
    before = snapshot(session, member, reward)
    with pytest.raises(RewardUnavailable, match="“Old mug” is no longer offered"):
        redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert snapshot(session, member, reward) == before


@pytest.mark.parametrize("reward_type", [RewardType.FREE_ITEM, RewardType.CUSTOM])
def test_custom_rewards_are_refused_on_basic_and_change_nothing(session, reward_type):
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    member = factories.make_member(session, tenant)
    give(session, member, 300, "e1")
    reward = factories.make_reward(session, tenant, cost=100, stock=3, type=reward_type)
    before = snapshot(session, member, reward)
    with pytest.raises(FeatureNotInOffering, match="Upgrade to Plus"):
        redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert snapshot(session, member, reward) == before


@pytest.mark.parametrize("reward_type", [RewardType.FREE_ITEM, RewardType.CUSTOM])
def test_custom_rewards_are_allowed_on_plus(session, tenant, member, reward_type):
    give(session, member, 100, "e1")
    reward = factories.make_reward(session, tenant, cost=100, type=reward_type, name="Croissant")
    voucher = redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert voucher.reward_id == reward.id
    assert assert_ledger_consistent(session, member.id) == 0


@pytest.mark.parametrize("reward_type", [RewardType.DISCOUNT_FIXED, RewardType.DISCOUNT_PERCENT])
def test_discount_rewards_are_allowed_on_basic(session, reward_type):
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    member = factories.make_member(session, tenant)
    give(session, member, 100, "e1")
    reward = factories.make_reward(session, tenant, cost=100, type=reward_type)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert assert_ledger_consistent(session, member.id) == 0


def test_a_replayed_redemption_returns_the_same_voucher_and_spends_once(session, tenant, member):
    give(session, member, 300, "e1")
    reward = factories.make_reward(session, tenant, cost=100, stock=5)
    first = redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    after_first = snapshot(session, member, reward)
    again = redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert again.id == first.id
    assert again.code == first.code
    assert snapshot(session, member, reward) == after_first == (200, 2, 1, 4)


def test_a_key_reused_for_another_reward_is_refused(session, tenant, member):
    give(session, member, 300, "e1")
    reward = factories.make_reward(session, tenant, cost=100)
    other = factories.make_reward(session, tenant, cost=50, name="Coffee")
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    with pytest.raises(IdempotencyConflict):
        redeem(session, member=member, reward=other, idempotency_key="r1", now=NOW)
    assert snapshot(session, member) == (200, 2, 1, None)


def test_a_reward_of_another_merchant_is_not_found(session, tenant, member):
    give(session, member, 300, "e1")
    foreign = factories.make_reward(session, factories.make_tenant(session), cost=10)
    with pytest.raises(NotFound):
        redeem(session, member=member, reward=foreign, idempotency_key="r1", now=NOW)
    assert snapshot(session, member) == (300, 1, 0, None)


def test_a_suspended_card_cannot_redeem(session, tenant, member):
    give(session, member, 300, "e1")
    member.status = MemberStatus.SUSPENDED
    session.flush()
    reward = factories.make_reward(session, tenant, cost=100, stock=1)
    with pytest.raises(MemberNotActive):
        redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert snapshot(session, member, reward) == (300, 1, 0, 1)


def test_affordable_rewards_lists_active_in_stock_rewards_within_the_balance(
    session, tenant, member
):
    give(session, member, 150, "e1")
    cheap = factories.make_reward(session, tenant, cost=50, name="Coffee")
    exact = factories.make_reward(session, tenant, cost=150, name="Cake")
    factories.make_reward(session, tenant, cost=151, name="Too dear")
    factories.make_reward(session, tenant, cost=10, stock=0, name="Gone")
    retired = factories.make_reward(session, tenant, cost=10, name="Retired")
    retired.active = False
    factories.make_reward(session, factories.make_tenant(session), cost=10, name="Elsewhere")
    session.flush()
    assert affordable_rewards(session, member=member) == [cheap, exact]


def test_affordable_rewards_leave_out_custom_rewards_the_offering_does_not_include(session) -> None:
    from loyalty.models import Offering, RewardType
    from loyalty.services.earn import earn
    from loyalty.services.rewards import affordable_rewards

    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    member = factories.make_member(session, tenant)
    discount = factories.make_reward(session, tenant, cost=50)
    factories.make_reward(session, tenant, cost=50, type=RewardType.FREE_ITEM, name="Croissant")
    earn(session, member=member, amount_cents=10_000, idempotency_key="buy")
    assert [r.id for r in affordable_rewards(session, member=member)] == [discount.id]
