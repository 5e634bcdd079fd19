"""Corrections as new ledger rows: manual adjustments and refunds of purchases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    NothingToReverse,
    PermissionDenied,
)
from loyalty.models import (
    AuditLog,
    LoyaltyTransaction,
    PointLot,
    Role,
    TransactionType,
)
from loyalty.services.actors import Actor
from loyalty.services.corrections import adjust, reverse
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def users(session, tenant):
    return {role: factories.make_user(session, tenant, role=role) for role in Role}


@pytest.fixture
def manager(users):
    return factories.actor_for(users[Role.MANAGER], Role.MANAGER)


def purchase(session, member, amount_cents: int, key: str = "buy") -> LoyaltyTransaction:
    result = earn(session, member=member, amount_cents=amount_cents, idempotency_key=key, at=NOW)
    assert_ledger_consistent(session, member.id)
    return session.get(LoyaltyTransaction, result.transaction_id)


def rows(session, member) -> int:
    return session.scalar(select(func.count()).where(LoyaltyTransaction.member_id == member.id))


# --- adjust ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.OWNER])
def test_a_manager_or_owner_can_add_points(session, member, users, role):
    actor = factories.actor_for(users[role], role)
    row = adjust(
        session, member=member, points=40, reason="Goodwill", idempotency_key="a", actor=actor
    )
    assert (row.type, row.points, row.description, row.created_by) == (
        TransactionType.ADJUST,
        40,
        "Goodwill",
        actor.user_id,
    )
    assert assert_ledger_consistent(session, member.id) == 40
    assert member.lifetime_points == 0  # goodwill does not count towards tiers


def test_an_adjustment_is_written_to_the_audit_trail(session, member, manager):
    adjust(
        session, member=member, points=5, reason="Stamp card", idempotency_key="a", actor=manager
    )
    entry = session.scalars(select(AuditLog)).one()
    assert (entry.action, entry.target_type, entry.target_id) == (
        "points.adjusted",
        "member",
        str(member.id),
    )
    assert entry.details == {"points": 5, "reason": "Stamp card"}
    assert entry.actor_user_id == manager.user_id


@pytest.mark.parametrize("actor_role", [Role.STAFF, None])
def test_staff_and_non_staff_cannot_adjust(session, member, users, actor_role):
    actor = factories.actor_for(users[Role.STAFF], Role.STAFF) if actor_role else Actor.customer()
    with pytest.raises(PermissionDenied, match="Only a manager or above can adjust points"):
        adjust(session, member=member, points=10, reason="Please", idempotency_key="a", actor=actor)
    assert rows(session, member) == 0
    assert assert_ledger_consistent(session, member.id) == 0


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_adjustment_needs_a_reason(session, member, manager, reason):
    with pytest.raises(InvalidInput, match="Give a reason") as caught:
        adjust(session, member=member, points=10, reason=reason, idempotency_key="a", actor=manager)
    assert caught.value.field == "reason"
    assert rows(session, member) == 0


@pytest.mark.parametrize("points", [0, 1.5, "10", True, 1_000_001, -1_000_001])
def test_an_adjustment_needs_a_sensible_whole_number(session, member, manager, points):
    with pytest.raises(InvalidInput) as caught:
        adjust(
            session, member=member, points=points, reason="x", idempotency_key="a", actor=manager
        )
    assert caught.value.field == "points"
    assert rows(session, member) == 0


def test_a_negative_adjustment_takes_points_away(session, member, manager):
    purchase(session, member, 5000)
    row = adjust(
        session, member=member, points=-20, reason="Double scan", idempotency_key="a", actor=manager
    )
    assert (row.points, row.balance_after) == (-20, 30)
    assert member.lifetime_points == 50
    assert assert_ledger_consistent(session, member.id) == 30


def test_a_negative_adjustment_beyond_the_balance_is_refused_and_changes_nothing(
    session, member, manager
):
    purchase(session, member, 1000)
    with pytest.raises(InsufficientPoints, match="needs 11 points and the card has 10"):
        adjust(session, member=member, points=-11, reason="x", idempotency_key="a", actor=manager)
    assert rows(session, member) == 1
    assert assert_ledger_consistent(session, member.id) == 10


def test_a_replayed_adjustment_returns_the_first_row(session, member, manager):
    first = adjust(session, member=member, points=7, reason="x", idempotency_key="a", actor=manager)
    again = adjust(session, member=member, points=7, reason="x", idempotency_key="a", actor=manager)
    assert again.id == first.id
    assert assert_ledger_consistent(session, member.id) == 7


def test_a_replayed_negative_adjustment_returns_the_first_row(session, member, manager):
    purchase(session, member, 1000)
    first = adjust(
        session, member=member, points=-3, reason="x", idempotency_key="a", actor=manager
    )
    again = adjust(
        session, member=member, points=-3, reason="x", idempotency_key="a", actor=manager
    )
    assert again.id == first.id
    assert assert_ledger_consistent(session, member.id) == 7


def test_an_adjustment_key_reused_for_other_points_is_refused(session, member, manager):
    adjust(session, member=member, points=7, reason="x", idempotency_key="a", actor=manager)
    with pytest.raises(IdempotencyConflict):
        adjust(session, member=member, points=8, reason="x", idempotency_key="a", actor=manager)


# --- reverse (refunds) -------------------------------------------------------------------


def test_a_full_refund_takes_back_all_the_purchase_points(session, member, manager):
    bought = purchase(session, member, 4250)
    row = reverse(session, purchase=bought, idempotency_key="refund", actor=manager, now=NOW)
    assert (row.type, row.points, row.amount_cents, row.reverses_id) == (
        TransactionType.REVERSE,
        -42,
        4250,
        bought.id,
    )
    assert (member.points_balance, member.lifetime_points) == (0, 0)
    assert assert_ledger_consistent(session, member.id) == 0
    assert bought.points == 42  # the purchase row is never edited


def test_a_partial_refund_takes_back_points_in_proportion(session, member, manager):
    bought = purchase(session, member, 10_000)
    row = reverse(
        session, purchase=bought, amount_cents=2500, idempotency_key="r1", actor=manager, now=NOW
    )
    assert row.points == -25
    assert assert_ledger_consistent(session, member.id) == 75


def test_partial_refunds_add_up_exactly_to_the_purchase_points(session, member, manager):
    bought = purchase(session, member, 1000)  # 10 points
    for n in range(3):
        reverse(session, purchase=bought, amount_cents=333, idempotency_key=f"r{n}", actor=manager)
        assert_ledger_consistent(session, member.id)
    last = reverse(session, purchase=bought, idempotency_key="rest", actor=manager)
    assert last.amount_cents == 1
    refunded = session.scalar(
        select(func.sum(LoyaltyTransaction.points)).where(
            LoyaltyTransaction.reverses_id == bought.id
        )
    )
    assert refunded == -10
    assert assert_ledger_consistent(session, member.id) == 0


def test_a_refund_of_more_than_is_left_is_refused(session, member, manager):
    bought = purchase(session, member, 1000)
    reverse(session, purchase=bought, amount_cents=600, idempotency_key="r1", actor=manager)
    with pytest.raises(InvalidInput, match=r"between €0.01 and €4.00") as caught:
        reverse(session, purchase=bought, amount_cents=401, idempotency_key="r2", actor=manager)
    assert caught.value.field == "amount"
    assert rows(session, member) == 2
    assert assert_ledger_consistent(session, member.id) == 4


@pytest.mark.parametrize("amount", [0, -100, 1.5, True])
def test_a_refund_amount_must_be_positive_whole_cents(session, member, manager, amount):
    bought = purchase(session, member, 1000)
    with pytest.raises(InvalidInput):
        reverse(session, purchase=bought, amount_cents=amount, idempotency_key="r", actor=manager)
    assert rows(session, member) == 1


def test_a_second_full_refund_has_nothing_to_reverse(session, member, manager):
    bought = purchase(session, member, 1000)
    reverse(session, purchase=bought, idempotency_key="r1", actor=manager)
    with pytest.raises(NothingToReverse, match="already been refunded in full"):
        reverse(session, purchase=bought, idempotency_key="r2", actor=manager)
    assert rows(session, member) == 2
    assert assert_ledger_consistent(session, member.id) == 0


def test_a_replayed_refund_returns_the_first_row(session, member, manager):
    bought = purchase(session, member, 1000)
    first = reverse(session, purchase=bought, amount_cents=500, idempotency_key="r", actor=manager)
    again = reverse(session, purchase=bought, amount_cents=500, idempotency_key="r", actor=manager)
    assert again.id == first.id
    assert assert_ledger_consistent(session, member.id) == 5


def test_a_refund_after_the_points_were_spent_takes_only_what_is_there(
    session, tenant, member, manager
):
    bought = purchase(session, member, 10_000)  # 100 points
    reward = factories.make_reward(session, tenant, cost=70)
    redeem(session, member=member, reward=reward, idempotency_key="spend", now=NOW)
    row = reverse(session, purchase=bought, idempotency_key="refund", actor=manager, now=NOW)
    assert row.points == -30
    assert "70 points already spent, not recovered" in row.description
    assert member.points_balance == 0
    assert member.lifetime_points == 0
    assert assert_ledger_consistent(session, member.id) == 0


def test_a_refund_when_everything_was_spent_writes_a_zero_row(session, tenant, member, manager):
    bought = purchase(session, member, 10_000)
    reward = factories.make_reward(session, tenant, cost=100)
    redeem(session, member=member, reward=reward, idempotency_key="spend", now=NOW)
    row = reverse(session, purchase=bought, idempotency_key="refund", actor=manager, now=NOW)
    assert (row.points, row.balance_after, row.amount_cents) == (0, 0, 10_000)
    assert assert_ledger_consistent(session, member.id) == 0
    with pytest.raises(NothingToReverse):
        reverse(session, purchase=bought, idempotency_key="again", actor=manager)


def test_a_refund_takes_points_from_the_refunded_purchase_first(session, member, manager):
    older = purchase(session, member, 3000, key="older")
    bought = purchase(session, member, 2000, key="bought")
    reverse(session, purchase=bought, idempotency_key="r", actor=manager)
    remaining = dict(session.execute(select(PointLot.transaction_id, PointLot.remaining)).all())
    assert remaining == {older.id: 30, bought.id: 0}
    assert assert_ledger_consistent(session, member.id) == 30


@pytest.mark.parametrize("kind", ["adjustment", "redemption", "refund"])
def test_reversing_something_other_than_a_purchase_is_refused(
    session, tenant, member, manager, kind
):
    bought = purchase(session, member, 10_000)
    if kind == "adjustment":
        other = adjust(
            session, member=member, points=10, reason="x", idempotency_key="a", actor=manager
        )
    elif kind == "redemption":
        reward = factories.make_reward(session, tenant, cost=10)
        voucher = redeem(session, member=member, reward=reward, idempotency_key="a", now=NOW)
        other = session.get(LoyaltyTransaction, voucher.transaction_id)
    else:
        other = reverse(
            session, purchase=bought, amount_cents=100, idempotency_key="a", actor=manager
        )
    balance = assert_ledger_consistent(session, member.id)
    with pytest.raises(InvalidInput, match="Only purchases can be refunded"):
        reverse(session, purchase=other, idempotency_key="r", actor=manager)
    assert rows(session, member) == 2
    assert assert_ledger_consistent(session, member.id) == balance
