"""Points expiry: dated lots, the inactivity policy, one ledger row per member, idempotent runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty.models import (
    ExpiryPolicy,
    LoyaltyTransaction,
    PointLot,
    TransactionType,
)
from loyalty.services.earn import earn
from loyalty.services.expiry import ExpiryRun, expire_points, months_before
from tests import factories
from tests.invariants import assert_ledger_consistent

JAN = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
NOTHING = ExpiryRun(members=0, points=0)


def policy(session, tenant, kind: ExpiryPolicy, *, days=None, months=None) -> None:
    tenant.program.expiry_policy = kind
    tenant.program.expiry_days = days
    tenant.program.expiry_inactivity_months = months
    session.flush()


def buy(session, member, euros: int, at: datetime, key: str) -> int:
    result = earn(session, member=member, amount_cents=euros * 100, idempotency_key=key, at=at)
    assert_ledger_consistent(session, member.id)
    return result.transaction_id


def expire_rows(session, member) -> list[tuple[int, int]]:
    return [
        (row.points, row.balance_after)
        for row in session.scalars(
            select(LoyaltyTransaction)
            .where(
                LoyaltyTransaction.member_id == member.id,
                LoyaltyTransaction.type == TransactionType.EXPIRE,
            )
            .order_by(LoyaltyTransaction.id)
        )
    ]


def expire(session, tenant, now: datetime) -> ExpiryRun:
    return expire_points(session, program=tenant.program, now=now)


def balance(session, member) -> int:
    return assert_ledger_consistent(session, member.id)


# --- after_days --------------------------------------------------------------------------


def test_lots_expire_on_their_date_and_not_before(session, tenant):
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    member = factories.make_member(session, tenant)
    buy(session, member, 40, JAN, "e1")
    due = JAN + timedelta(days=30)

    assert expire(session, tenant, due - timedelta(seconds=1)) == NOTHING
    assert balance(session, member) == 40

    run = expire(session, tenant, due)
    assert (run.members, run.points) == (1, 40)
    assert expire_rows(session, member) == [(-40, 0)]
    assert balance(session, member) == 0


def test_only_the_lots_that_are_due_expire(session, tenant):
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    member = factories.make_member(session, tenant)
    old = buy(session, member, 10, JAN, "e1")
    new = buy(session, member, 25, JAN + timedelta(days=20), "e2")
    expire(session, tenant, JAN + timedelta(days=31))
    remaining = dict(session.execute(select(PointLot.transaction_id, PointLot.remaining)).all())
    assert remaining == {old: 0, new: 25}
    assert expire_rows(session, member) == [(-10, 25)]
    assert balance(session, member) == 25


def test_partly_spent_lots_expire_what_remains(session, tenant):
    from loyalty.services.rewards import redeem

    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    member = factories.make_member(session, tenant)
    buy(session, member, 100, JAN, "e1")
    reward = factories.make_reward(session, tenant, cost=70)
    redeem(session, member=member, reward=reward, idempotency_key="r", now=JAN)
    run = expire(session, tenant, JAN + timedelta(days=30))
    assert run.points == 30
    assert balance(session, member) == 0


def test_one_expire_row_per_member_whatever_the_number_of_lots(session, tenant):
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    ann, bob, cid = (factories.make_member(session, tenant) for _ in range(3))
    for n in range(3):
        buy(session, ann, 10, JAN + timedelta(hours=n), f"ann{n}")
    buy(session, bob, 7, JAN, "bob")
    buy(session, cid, 5, JAN + timedelta(days=10), "cid")  # not due yet
    run = expire(session, tenant, JAN + timedelta(days=31))
    assert (run.members, run.points) == (2, 37)
    assert expire_rows(session, ann) == [(-30, 0)]
    assert expire_rows(session, bob) == [(-7, 0)]
    assert expire_rows(session, cid) == []
    for member in (ann, bob, cid):
        balance(session, member)


def test_running_twice_expires_nothing_more(session, tenant):
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    member = factories.make_member(session, tenant)
    buy(session, member, 40, JAN, "e1")
    buy(session, member, 15, JAN + timedelta(days=25), "e2")
    now = JAN + timedelta(days=31)
    assert expire(session, tenant, now).points == 40
    assert expire(session, tenant, now) == NOTHING
    assert expire(session, tenant, now + timedelta(hours=1)) == NOTHING
    assert len(expire_rows(session, member)) == 1
    assert balance(session, member) == 15


def test_lots_keep_their_own_expiry_when_the_policy_changes_later(session, tenant):
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=365)
    member = factories.make_member(session, tenant)
    buy(session, member, 50, JAN, "year")
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)  # shorter for new points only
    buy(session, member, 20, JAN, "month")
    policy(session, tenant, ExpiryPolicy.NONE)  # and then no expiry at all for new points
    buy(session, member, 5, JAN, "forever")

    assert expire(session, tenant, JAN + timedelta(days=31)).points == 20
    assert balance(session, member) == 55
    assert expire(session, tenant, JAN + timedelta(days=365)).points == 50
    assert expire(session, tenant, JAN + timedelta(days=3650)) == NOTHING
    assert balance(session, member) == 5


def test_points_earned_before_an_expiry_policy_existed_never_expire(session, tenant):
    member = factories.make_member(session, tenant)
    buy(session, member, 50, JAN, "before")
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    assert expire(session, tenant, JAN + timedelta(days=400)) == NOTHING
    assert balance(session, member) == 50


def test_expiry_is_limited_to_the_programme(session, tenant):
    other = factories.make_tenant(session)
    for t in (tenant, other):
        policy(session, t, ExpiryPolicy.AFTER_DAYS, days=30)
    ours = factories.make_member(session, tenant)
    theirs = factories.make_member(session, other)
    buy(session, ours, 10, JAN, "e")
    buy(session, theirs, 10, JAN, "e")
    expire(session, tenant, JAN + timedelta(days=31))
    assert (balance(session, ours), balance(session, theirs)) == (0, 10)


# --- inactivity --------------------------------------------------------------------------


def test_inactivity_expires_everything_of_members_inactive_for_n_months(session, tenant):
    policy(session, tenant, ExpiryPolicy.INACTIVITY, months=12)
    sleeper = factories.make_member(session, tenant)
    regular = factories.make_member(session, tenant)
    buy(session, sleeper, 30, JAN, "s1")
    buy(session, sleeper, 20, JAN + timedelta(days=5), "s2")
    buy(session, regular, 40, JAN, "r1")
    buy(session, regular, 1, datetime(2024, 12, 1, tzinfo=UTC), "r2")  # still shopping

    run = expire(session, tenant, datetime(2025, 1, 16, tzinfo=UTC))
    assert (run.members, run.points) == (1, 50)
    assert expire_rows(session, sleeper) == [(-50, 0)]
    assert expire_rows(session, regular) == []
    assert balance(session, sleeper) == 0
    assert balance(session, regular) == 41


def test_inactivity_counts_from_the_last_activity_not_before_n_months(session, tenant):
    policy(session, tenant, ExpiryPolicy.INACTIVITY, months=6)
    member = factories.make_member(session, tenant)
    buy(session, member, 30, JAN, "s1")  # last activity 10 Jan 2024 12:00
    assert expire(session, tenant, datetime(2024, 7, 10, 12, 0, tzinfo=UTC)) == NOTHING
    run = expire(session, tenant, datetime(2024, 7, 10, 12, 1, tzinfo=UTC))
    assert run.points == 30


def test_expiry_itself_is_not_activity(session, tenant):
    policy(session, tenant, ExpiryPolicy.INACTIVITY, months=6)
    member = factories.make_member(session, tenant)
    buy(session, member, 30, JAN, "s1")
    expire(session, tenant, datetime(2024, 8, 1, tzinfo=UTC))
    session.refresh(member)
    assert member.last_activity_at == JAN


def test_inactivity_run_twice_expires_nothing_more(session, tenant):
    policy(session, tenant, ExpiryPolicy.INACTIVITY, months=6)
    member = factories.make_member(session, tenant)
    buy(session, member, 30, JAN, "s1")
    later = datetime(2024, 8, 1, tzinfo=UTC)
    assert expire(session, tenant, later).points == 30
    assert expire(session, tenant, later) == NOTHING
    assert expire(session, tenant, later + timedelta(days=60)) == NOTHING
    assert len(expire_rows(session, member)) == 1


def test_inactivity_policy_still_honours_dated_lots_of_active_members(session, tenant):
    policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    member = factories.make_member(session, tenant)
    buy(session, member, 10, JAN, "dated")
    policy(session, tenant, ExpiryPolicy.INACTIVITY, months=12)
    buy(session, member, 20, JAN + timedelta(days=20), "undated")
    run = expire(session, tenant, JAN + timedelta(days=31))
    assert run.points == 10
    assert balance(session, member) == 20


def test_nothing_to_expire_reports_zero(session, tenant):
    policy(session, tenant, ExpiryPolicy.INACTIVITY, months=1)
    factories.make_member(session, tenant)  # inactive but holding no points
    assert expire(session, tenant, datetime(2030, 1, 1, tzinfo=UTC)) == NOTHING
    assert session.scalar(select(func.count(LoyaltyTransaction.id))) == 0


# --- months_before -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2024, 3, 31), 1, datetime(2024, 2, 29)),  # leap year
        (datetime(2023, 3, 31), 1, datetime(2023, 2, 28)),
        (datetime(2024, 5, 31), 1, datetime(2024, 4, 30)),
        (datetime(2024, 1, 15), 1, datetime(2023, 12, 15)),  # across the year
        (datetime(2024, 1, 31), 2, datetime(2023, 11, 30)),
        (datetime(2024, 2, 29), 12, datetime(2023, 2, 28)),
        (datetime(2024, 7, 10), 0, datetime(2024, 7, 10)),
        (datetime(2024, 7, 10), 30, datetime(2022, 1, 10)),
    ],
)
def test_months_before_clamps_to_the_end_of_shorter_months(moment, months, expected):
    assert months_before(moment, months) == expected


def test_months_before_keeps_time_and_time_zone():
    moment = datetime(2024, 3, 31, 23, 30, 15, tzinfo=UTC)
    assert months_before(moment, 1) == datetime(2024, 2, 29, 23, 30, 15, tzinfo=UTC)
