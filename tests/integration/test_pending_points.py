"""Pending points: held for the return window, shown but not spendable, gone without trace on a refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty.errors import InsufficientPoints
from loyalty.models import ExpiryPolicy, LoyaltyTransaction, Role, TransactionType
from loyalty.services.corrections import adjust, reverse
from loyalty.services.earn import earn
from loyalty.services.expiry import expire_points
from loyalty.services.pending import release_due
from loyalty.services.rewards import redeem
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)


@pytest.fixture
def returns_window(session, tenant):
    tenant.program.pending_days = 14
    session.flush()
    return tenant


@pytest.fixture
def manager(session, tenant):
    return factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)


def _buy(session, member, cents=2500, key="sale-1", at=NOW):
    return earn(session, member=member, amount_cents=cents, idempotency_key=key, at=at)


def _refund(session, sale, manager, *, cents=None, key="refund-1", at=NOW + timedelta(days=2)):
    original = session.get(LoyaltyTransaction, sale.transaction_id)
    return reverse(
        session,
        purchase=original,
        amount_cents=cents,
        idempotency_key=key,
        actor=manager,
        now=at,
    )


def test_a_purchase_in_the_window_is_pending_not_spendable(session, returns_window, member):
    result = _buy(session, member)
    assert result.points == 25
    assert result.pending_until == NOW + WINDOW
    assert (member.points_balance, member.pending_points) == (0, 25)
    assert result.balance == 0  # what can be spent
    assert assert_ledger_consistent(session, member.id) == 0


def test_pending_points_cannot_be_redeemed(session, returns_window, member):
    reward = factories.make_reward(session, returns_window, cost=20)
    _buy(session, member)
    with pytest.raises(InsufficientPoints, match="25 more are pending"):
        redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert (member.points_balance, member.pending_points) == (0, 25)


def test_points_become_available_when_the_window_closes(session, returns_window, member):
    _buy(session, member)
    assert release_due(session, now=NOW + WINDOW - timedelta(seconds=1)).members == 0
    run = release_due(session, now=NOW + WINDOW)
    assert (run.members, run.points) == (1, 25)
    assert (member.points_balance, member.pending_points) == (25, 0)
    release = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.type == TransactionType.RELEASE)
    ).one()
    assert (release.points, release.balance_after) == (0, 25)
    assert release_due(session, now=NOW + WINDOW).members == 0  # once
    assert assert_ledger_consistent(session, member.id) == 25


def test_a_redemption_after_the_window_does_not_wait_for_the_worker(
    session, returns_window, member
):
    reward = factories.make_reward(session, returns_window, cost=20)
    _buy(session, member)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW + WINDOW)
    assert (member.points_balance, member.pending_points) == (5, 0)
    assert assert_ledger_consistent(session, member.id) == 5


def test_a_refund_inside_the_window_takes_the_pending_points_back_without_trace(
    session, returns_window, member, manager
):
    adjust(session, member=member, points=40, reason="welcome", idempotency_key="a", actor=manager)
    sale = _buy(session, member)
    refund = _refund(session, sale, manager)
    assert refund.points == -25
    assert refund.balance_after == 40  # the spendable balance never moved
    assert (member.points_balance, member.pending_points) == (40, 0)
    assert release_due(session, now=NOW + WINDOW).points == 0
    assert assert_ledger_consistent(session, member.id) == 40


def test_a_partial_refund_inside_the_window_takes_back_its_share(
    session, returns_window, member, manager
):
    sale = _buy(session, member, cents=4000)  # 40 points pending
    _refund(session, sale, manager, cents=1000)
    assert (member.points_balance, member.pending_points) == (0, 30)
    release_due(session, now=NOW + WINDOW)
    assert (member.points_balance, member.pending_points) == (30, 0)
    assert assert_ledger_consistent(session, member.id) == 30


def test_a_refund_after_the_window_takes_spendable_points(session, returns_window, member, manager):
    sale = _buy(session, member)
    refund = _refund(session, sale, manager, at=NOW + WINDOW + timedelta(days=1))
    assert refund.points == -25
    assert (member.points_balance, member.pending_points) == (0, 0)
    assert assert_ledger_consistent(session, member.id) == 0


def test_redemptions_spend_only_available_points(session, returns_window, member, manager):
    reward = factories.make_reward(session, returns_window, cost=30)
    adjust(session, member=member, points=30, reason="gift", idempotency_key="a", actor=manager)
    _buy(session, member)
    redeem(session, member=member, reward=reward, idempotency_key="r1", now=NOW)
    assert (member.points_balance, member.pending_points) == (0, 25)
    assert assert_ledger_consistent(session, member.id) == 0


def test_pending_points_do_not_expire_before_they_are_released(session, returns_window, member):
    returns_window.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    returns_window.program.expiry_days = 7  # an odd set-up: expiry inside the window
    session.flush()
    _buy(session, member)
    assert (
        expire_points(session, program=returns_window.program, now=NOW + timedelta(days=8)).points
        == 0
    )
    assert member.pending_points == 25
    release_due(session, now=NOW + WINDOW)
    assert expire_points(session, program=returns_window.program, now=NOW + WINDOW).points == 25
    assert assert_ledger_consistent(session, member.id) == 0


def test_release_is_one_pass_over_every_member(session, returns_window):
    members = [factories.make_member(session, returns_window) for _ in range(3)]
    for n, member in enumerate(members):
        _buy(session, member, cents=1000 * (n + 1), key=f"sale-{n}")
    run = release_due(session, now=NOW + WINDOW)
    assert (run.members, run.points) == (3, 60)
    assert [m.points_balance for m in members] == [10, 20, 30]
    for member in members:
        assert_ledger_consistent(session, member.id)


def test_a_replayed_pending_purchase_returns_the_same_release_date(session, returns_window, member):
    first = _buy(session, member)
    again = _buy(session, member)
    assert again.replayed
    assert again.pending_until == first.pending_until
    assert member.pending_points == 25


def test_without_a_window_points_are_spendable_at_once(session, tenant, member):
    result = _buy(session, member)
    assert result.pending_until is None
    assert (member.points_balance, member.pending_points) == (25, 0)


def test_the_worker_job_releases_what_is_due_and_reports_it(session, returns_window, member):
    from jobs.tasks import release_pending_work

    _buy(session, member)
    assert release_pending_work(session, now=NOW) == {"members": 0, "points": 0}
    assert release_pending_work(session, now=NOW + WINDOW) == {"members": 1, "points": 25}
    assert member.points_balance == 25
