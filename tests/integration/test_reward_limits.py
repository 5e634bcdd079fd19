"""Reward limits: once per member, once per calendar month or year, once every N days.

The limit is checked under the member's lock in `redeem`; a refusal changes nothing, and a
reversed redemption (voided voucher, undo at the till) frees the limit again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty.errors import InvalidInput, RewardLimitReached
from loyalty.models import (
    LoyaltyTransaction,
    RedemptionLimit,
    RewardType,
    Role,
    Voucher,
    VoucherStatus,
)
from loyalty.services import reward_catalog
from loyalty.services.earn import earn
from loyalty.services.rewards import affordable_rewards, redeem
from loyalty.services.undo import undo_last
from loyalty.services.vouchers import return_reward, use_voucher, void_voucher
from tests import factories
from tests.invariants import assert_ledger_consistent

# Luxembourg is UTC+1 in winter: 23:30 UTC on 31 January is already February there.
JAN_31_LATE_EVENING = datetime(2024, 1, 31, 22, 30, tzinfo=UTC)  # 23:30 local, January
FEB_1_JUST_AFTER_MIDNIGHT = datetime(2024, 1, 31, 23, 30, tzinfo=UTC)  # 00:30 local, February


@pytest.fixture
def rich_member(session, tenant, member):
    earn(
        session,
        member=member,
        amount_cents=100_000,
        idempotency_key="seed",
        at=datetime(2023, 1, 1, tzinfo=UTC),
    )
    return member


def _redeem(session, member, reward, key, at):
    return redeem(session, member=member, reward=reward, idempotency_key=key, now=at)


def _snapshot(session, member, reward):
    session.expire_all()
    return (
        assert_ledger_consistent(session, member.id),
        session.scalar(select(func.count()).where(LoyaltyTransaction.member_id == member.id)),
        session.scalar(select(func.count()).where(Voucher.member_id == member.id)),
        reward.stock,
    )


def test_repeatable_reward_can_be_redeemed_again_at_once(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100)
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    _redeem(session, rich_member, reward, "r1", at)
    _redeem(session, rich_member, reward, "r2", at)
    assert rich_member.points_balance == 800


def test_once_per_member_refuses_the_second_redemption_and_changes_nothing(
    session, tenant, rich_member
):
    reward = factories.make_reward(
        session, tenant, cost=100, stock=5, name="Welcome croissant", limit=RedemptionLimit.ONCE
    )
    _redeem(session, rich_member, reward, "r1", datetime(2024, 3, 1, 12, tzinfo=UTC))
    before = _snapshot(session, rich_member, reward)
    with pytest.raises(RewardLimitReached) as refused:
        _redeem(session, rich_member, reward, "r2", datetime(2026, 3, 1, 12, tzinfo=UTC))
    card = " ".join(rich_member.card_number[i : i + 4] for i in range(0, 12, 4))
    assert refused.value.message == (
        f"“Welcome croissant” can be redeemed once per member, and card {card} "
        "already redeemed it on 1 Mar 2024. Choose another reward."
    )
    assert refused.value.code == "reward_limit_reached"
    assert _snapshot(session, rich_member, reward) == before


def test_replaying_the_first_redemption_is_not_a_second_one(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.ONCE)
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    first = _redeem(session, rich_member, reward, "r1", at)
    assert _redeem(session, rich_member, reward, "r1", at).id == first.id


def test_once_per_member_is_per_member(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.ONCE)
    other = factories.make_member(session, tenant)
    earn(session, member=other, amount_cents=10_000, idempotency_key="other-seed")
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    _redeem(session, rich_member, reward, "r1", at)
    assert _redeem(session, other, reward, "r2", at).member_id == other.id


def test_a_cancelled_voucher_frees_a_once_per_member_reward(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100, stock=1, limit=RedemptionLimit.ONCE)
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    voucher = _redeem(session, rich_member, reward, "r1", at)
    void_voucher(
        session,
        voucher=voucher,
        reason="Customer changed their mind",
        idempotency_key="v1",
        actor=factories.actor_for(factories.make_user(session, tenant), Role.OWNER),
        now=at + timedelta(hours=1),
    )
    again = _redeem(session, rich_member, reward, "r2", at + timedelta(hours=2))
    assert again.status == VoucherStatus.ISSUED
    assert reward.stock == 0
    assert assert_ledger_consistent(session, rich_member.id) == 900


def test_an_undone_redemption_frees_a_once_per_member_reward(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.ONCE)
    user = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    cashier = factories.actor_for(user, Role.STAFF, tenant.shop)
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    redeem(
        session,
        member=rich_member,
        reward=reward,
        idempotency_key="r1",
        actor=cashier,
        shop=tenant.shop,
        now=at,
    )
    undo_last(
        session,
        merchant=tenant.merchant,
        actor=cashier,
        shop=tenant.shop,
        idempotency_key="u1",
        now=at + timedelta(minutes=1),
    )
    assert _redeem(session, rich_member, reward, "r2", at + timedelta(minutes=2))


def test_an_expired_voucher_still_counts(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.ONCE)
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    _redeem(session, rich_member, reward, "r1", at)
    with pytest.raises(RewardLimitReached):
        _redeem(session, rich_member, reward, "r2", at + timedelta(days=400))


def test_monthly_limit_follows_the_merchants_calendar_not_utc(session, tenant, rich_member):
    assert tenant.merchant.timezone == "Europe/Luxembourg"
    reward = factories.make_reward(
        session, tenant, cost=100, name="Coffee", limit=RedemptionLimit.MONTH
    )
    # 23:30 on 31 January local, then 00:30 on 1 February local: two months, one hour apart
    # (and the same month in UTC).
    _redeem(session, rich_member, reward, "jan", JAN_31_LATE_EVENING)
    _redeem(session, rich_member, reward, "feb", FEB_1_JUST_AFTER_MIDNIGHT)
    # Later in February (local) is the same month as 00:30 on 1 February.
    with pytest.raises(RewardLimitReached) as refused:
        _redeem(session, rich_member, reward, "feb-2", datetime(2024, 2, 29, 22, 59, tzinfo=UTC))
    assert refused.value.message.endswith(
        "once per calendar month, and card "
        + " ".join(rich_member.card_number[i : i + 4] for i in range(0, 12, 4))
        + " already redeemed it on 1 Feb 2024. It can be redeemed again from 1 Mar 2024."
    )
    assert refused.value.details["available_again_at"] == datetime(2024, 2, 29, 23, tzinfo=UTC)
    # 1 March 00:00 in Luxembourg is 23:00 UTC on 29 February.
    assert _redeem(session, rich_member, reward, "mar", datetime(2024, 2, 29, 23, tzinfo=UTC))


def test_yearly_limit_turns_over_at_local_new_year(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.YEAR)
    _redeem(session, rich_member, reward, "2023", datetime(2023, 12, 31, 22, 30, tzinfo=UTC))
    # 23:30 UTC on 31 December 2023 is 00:30 on 1 January 2024 in Luxembourg.
    _redeem(session, rich_member, reward, "2024", datetime(2023, 12, 31, 23, 30, tzinfo=UTC))
    with pytest.raises(RewardLimitReached, match="again from 1 Jan 2025"):
        _redeem(session, rich_member, reward, "2024-b", datetime(2024, 12, 31, 22, 0, tzinfo=UTC))


def test_monthly_limit_in_another_time_zone(session, tenant, rich_member):
    tenant.merchant.timezone = "America/New_York"  # UTC-5 in January
    reward = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.MONTH)
    # 03:00 UTC on 1 February is still 31 January in New York.
    _redeem(session, rich_member, reward, "a", datetime(2024, 2, 1, 3, 0, tzinfo=UTC))
    with pytest.raises(RewardLimitReached, match=r"on 31 Jan 2024.*again from 1 Feb 2024"):
        _redeem(session, rich_member, reward, "b", datetime(2024, 2, 1, 4, 59, tzinfo=UTC))
    assert _redeem(session, rich_member, reward, "c", datetime(2024, 2, 1, 5, 0, tzinfo=UTC))


def test_rolling_limit_counts_whole_days_from_the_last_redemption(session, tenant, rich_member):
    reward = factories.make_reward(
        session, tenant, cost=100, limit=RedemptionLimit.DAYS, limit_days=30
    )
    first = datetime(2024, 3, 10, 15, 0, tzinfo=UTC)
    _redeem(session, rich_member, reward, "r1", first)
    with pytest.raises(RewardLimitReached, match=r"once every 30 days.*again from 9 Apr 2024"):
        _redeem(session, rich_member, reward, "r2", first + timedelta(days=30, seconds=-1))
    assert _redeem(session, rich_member, reward, "r3", first + timedelta(days=30))


def test_limit_is_checked_before_the_balance(session, tenant, member):
    earn(session, member=member, amount_cents=10_000, idempotency_key="seed")
    reward = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.ONCE)
    _redeem(session, member, reward, "r1", datetime(2030, 1, 1, tzinfo=UTC))
    assert member.points_balance == 0
    with pytest.raises(RewardLimitReached):
        _redeem(session, member, reward, "r2", datetime(2030, 1, 2, tzinfo=UTC))


def test_affordable_rewards_leave_out_the_ones_used_up(session, tenant, rich_member):
    once = factories.make_reward(session, tenant, cost=100, limit=RedemptionLimit.ONCE)
    monthly = factories.make_reward(session, tenant, cost=200, limit=RedemptionLimit.MONTH)
    always = factories.make_reward(session, tenant, cost=300)
    at = datetime(2024, 3, 5, tzinfo=UTC)
    _redeem(session, rich_member, once, "r1", at)
    _redeem(session, rich_member, monthly, "r2", at)
    assert affordable_rewards(session, member=rich_member, now=at) == [always]
    next_month = datetime(2024, 4, 5, tzinfo=UTC)
    assert affordable_rewards(session, member=rich_member, now=next_month) == [monthly, always]


def test_catalogue_wants_n_for_a_rolling_limit_and_drops_it_otherwise(session, tenant):
    owner = factories.actor_for(factories.make_user(session, tenant), Role.OWNER)
    draft = reward_catalog.RewardDraft(
        name="Coffee",
        type=RewardType.DISCOUNT_FIXED,
        value=250,
        points_cost=50,
        redemption_limit=RedemptionLimit.DAYS,
    )
    with pytest.raises(InvalidInput) as refused:
        reward_catalog.create_reward(session, merchant=tenant.merchant, actor=owner, draft=draft)
    assert refused.value.field == "limit_days"
    reward = reward_catalog.create_reward(
        session,
        merchant=tenant.merchant,
        actor=owner,
        draft=reward_catalog.RewardDraft(**{**draft.__dict__, "limit_days": 7}),
    )
    assert (reward.redemption_limit, reward.limit_days) == (RedemptionLimit.DAYS, 7)
    reward_catalog.update_reward(
        session,
        reward=reward,
        merchant=tenant.merchant,
        actor=owner,
        draft=reward_catalog.RewardDraft(
            **{**draft.__dict__, "redemption_limit": RedemptionLimit.YEAR, "limit_days": 7}
        ),
    )
    assert (reward.redemption_limit, reward.limit_days) == (RedemptionLimit.YEAR, None)


def test_a_returned_reward_frees_a_once_per_member_limit(session, tenant, rich_member):
    reward = factories.make_reward(session, tenant, cost=100, stock=1, limit=RedemptionLimit.ONCE)
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    voucher = _redeem(session, rich_member, reward, "r1", at)
    owner = factories.actor_for(factories.make_user(session, tenant), Role.OWNER)
    use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="u1",
        actor=owner,
        now=at,
    )
    with pytest.raises(RewardLimitReached):
        _redeem(session, rich_member, reward, "r2", at + timedelta(days=2))
    return_reward(
        session,
        voucher=voucher,
        reason="Returned",
        idempotency_key="ret-1",
        actor=owner,
        now=at + timedelta(days=3),
    )
    assert _redeem(session, rich_member, reward, "r3", at + timedelta(days=4))
    assert assert_ledger_consistent(session, rich_member.id) == 900
