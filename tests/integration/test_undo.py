"""Undo at the till: the cashier's last earn or redemption, within 10 minutes, once, as new rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty.errors import IdempotencyConflict, NothingToReverse
from loyalty.models import (
    LoyaltyTransaction,
    Reward,
    Role,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from loyalty.services.undo import undo_last, undoable
from loyalty.services.vouchers import use_voucher
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def _cashier(session, tenant):
    user = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    return factories.actor_for(user, Role.STAFF, tenant.shop)


@pytest.fixture
def cashier(session, tenant):
    return _cashier(session, tenant)


def _earn(session, member, cashier, tenant, key, cents=2500, at=NOW):
    return earn(
        session,
        member=member,
        amount_cents=cents,
        idempotency_key=key,
        actor=cashier,
        shop=tenant.shop,
        at=at,
    )


def _undo(session, tenant, cashier, key="undo-1", at=NOW + timedelta(minutes=2), **kwargs):
    return undo_last(
        session,
        merchant=tenant.merchant,
        actor=cashier,
        shop=tenant.shop,
        idempotency_key=key,
        now=at,
        **kwargs,
    )


def test_undo_reverses_the_last_earn_with_a_new_row(session, tenant, member, cashier):
    first = _earn(session, member, cashier, tenant, "e1")
    result = _undo(session, tenant, cashier, transaction_id=first.transaction_id)
    assert result.undone.id == first.transaction_id
    assert result.reversal.type == TransactionType.REVERSE
    assert result.reversal.points == -25
    assert result.reversal.reverses_id == first.transaction_id
    assert result.reversal.shop_id == tenant.shop.id
    assert assert_ledger_consistent(session, member.id) == 0
    original = session.get(LoyaltyTransaction, first.transaction_id)
    assert original.points == 25  # never edited


def test_undo_works_once(session, tenant, member, cashier):
    _earn(session, member, cashier, tenant, "e1")
    _undo(session, tenant, cashier, key="u1")
    with pytest.raises(NothingToReverse, match="already been undone"):
        _undo(session, tenant, cashier, key="u2")
    assert assert_ledger_consistent(session, member.id) == 0


def test_undo_does_not_reach_back_to_the_transaction_before(session, tenant, member, cashier):
    _earn(session, member, cashier, tenant, "e1", at=NOW)
    _earn(session, member, cashier, tenant, "e2", at=NOW + timedelta(minutes=1))
    _undo(session, tenant, cashier, key="u1")
    with pytest.raises(NothingToReverse):
        _undo(session, tenant, cashier, key="u2")
    assert assert_ledger_consistent(session, member.id) == 25


def test_a_replayed_undo_returns_the_first_and_writes_nothing(session, tenant, member, cashier):
    _earn(session, member, cashier, tenant, "e1")
    first = _undo(session, tenant, cashier, key="u1")
    again = _undo(session, tenant, cashier, key="u1")
    assert again.replayed
    assert again.reversal.id == first.reversal.id
    assert session.scalar(select(func.count()).select_from(LoyaltyTransaction)) == 2


def test_undo_is_refused_after_ten_minutes(session, tenant, member, cashier):
    _earn(session, member, cashier, tenant, "e1")
    with pytest.raises(NothingToReverse, match="more than 10 minutes"):
        _undo(session, tenant, cashier, at=NOW + timedelta(minutes=10, seconds=1))
    assert assert_ledger_consistent(session, member.id) == 25
    assert (
        undoable(
            session,
            merchant=tenant.merchant,
            actor=cashier,
            shop=tenant.shop,
            now=NOW + timedelta(minutes=11),
        )
        is None
    )


def test_undo_only_touches_the_cashiers_own_transactions(session, tenant, member, cashier):
    colleague = _cashier(session, tenant)
    _earn(session, member, colleague, tenant, "e1")
    with pytest.raises(NothingToReverse, match="nothing to undo"):
        _undo(session, tenant, cashier)


def test_undo_refuses_when_the_screen_shows_an_older_transaction(session, tenant, member, cashier):
    older = _earn(session, member, cashier, tenant, "e1", at=NOW)
    _earn(session, member, cashier, tenant, "e2", at=NOW + timedelta(minutes=1))
    with pytest.raises(NothingToReverse, match="no longer it"):
        _undo(session, tenant, cashier, transaction_id=older.transaction_id)
    assert assert_ledger_consistent(session, member.id) == 50


def test_undo_of_a_redemption_voids_the_voucher_and_returns_points_and_stock(
    session, tenant, member, cashier
):
    _earn(session, member, cashier, tenant, "e1", cents=30_000)
    reward = factories.make_reward(session, tenant, cost=100, stock=5)
    voucher = redeem(
        session,
        member=member,
        reward=reward,
        idempotency_key="r1",
        actor=cashier,
        shop=tenant.shop,
        now=NOW + timedelta(minutes=1),
    )
    use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="r1",
        actor=cashier,
        shop=tenant.shop,
        now=NOW + timedelta(minutes=1),
    )
    result = _undo(session, tenant, cashier)
    assert result.undone.type == TransactionType.REDEEM
    assert result.reversal.points == 100
    assert session.get(Voucher, voucher.id).status == VoucherStatus.VOID
    assert session.scalar(select(Reward.stock).where(Reward.id == reward.id)) == 5
    assert assert_ledger_consistent(session, member.id) == 300


def test_a_key_used_for_something_else_is_a_conflict(session, tenant, member, cashier):
    _earn(session, member, cashier, tenant, "e1")
    with pytest.raises(IdempotencyConflict):
        _undo(session, tenant, cashier, key="e1")
