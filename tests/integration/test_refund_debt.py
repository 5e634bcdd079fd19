"""Refunds of points already spent: the merchant absorbs them, or claws them back from later purchases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loyalty.models import LoyaltyTransaction, RefundShortfall, Role
from loyalty.services.corrections import reverse
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def manager(session, tenant):
    return factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)


@pytest.fixture
def spent_then_refunded(session, tenant, member, manager):
    """€25 earned 25 points, 20 went on a reward, then the purchase came back."""
    reward = factories.make_reward(session, tenant, cost=20)
    sale = earn(session, member=member, amount_cents=2500, idempotency_key="sale", at=NOW)
    redeem(session, member=member, reward=reward, idempotency_key="spend", now=NOW)

    def refund():
        return reverse(
            session,
            purchase=session.get(LoyaltyTransaction, sale.transaction_id),
            idempotency_key="refund",
            actor=manager,
            now=NOW + timedelta(days=1),
        )

    return refund


def test_by_default_the_merchant_absorbs_points_already_spent(session, member, spent_then_refunded):
    refund = spent_then_refunded()
    assert refund.points == -5  # what the card still held
    assert "20 points already spent, not recovered" in refund.description
    assert (member.points_balance, member.points_debt) == (0, 0)
    assert assert_ledger_consistent(session, member.id) == 0


def test_claw_back_records_a_debt_and_recovers_it_from_the_next_purchase(
    session, tenant, member, spent_then_refunded
):
    tenant.program.refund_shortfall = RefundShortfall.CLAW_BACK
    refund = spent_then_refunded()
    assert "20 points already spent, recovered from future purchases" in refund.description
    assert (member.points_balance, member.points_debt) == (0, 20)
    later = earn(session, member=member, amount_cents=3000, idempotency_key="next", at=NOW)
    assert (later.points, later.debt_recovered, later.balance) == (30, 20, 10)
    assert member.points_debt == 0
    assert assert_ledger_consistent(session, member.id) == 10


def test_a_small_purchase_pays_off_part_of_the_debt(session, tenant, member, spent_then_refunded):
    tenant.program.refund_shortfall = RefundShortfall.CLAW_BACK
    spent_then_refunded()
    first = earn(session, member=member, amount_cents=1200, idempotency_key="n1", at=NOW)
    assert (first.debt_recovered, first.balance, member.points_debt) == (12, 0, 8)
    second = earn(session, member=member, amount_cents=1200, idempotency_key="n2", at=NOW)
    assert (second.debt_recovered, second.balance, member.points_debt) == (8, 4, 0)
    assert assert_ledger_consistent(session, member.id) == 4


def test_a_replayed_purchase_reports_the_same_recovery_and_takes_nothing_more(
    session, tenant, member, spent_then_refunded
):
    tenant.program.refund_shortfall = RefundShortfall.CLAW_BACK
    spent_then_refunded()
    first = earn(session, member=member, amount_cents=1200, idempotency_key="n1", at=NOW)
    again = earn(session, member=member, amount_cents=1200, idempotency_key="n1", at=NOW)
    assert again.replayed
    assert again.debt_recovered == first.debt_recovered == 12
    assert member.points_debt == 8


def test_debt_is_recovered_from_points_still_pending(session, tenant, member, spent_then_refunded):
    tenant.program.refund_shortfall = RefundShortfall.CLAW_BACK
    spent_then_refunded()
    tenant.program.pending_days = 14
    result = earn(session, member=member, amount_cents=3000, idempotency_key="n1", at=NOW)
    assert result.debt_recovered == 20
    assert (member.points_balance, member.pending_points, member.points_debt) == (0, 10, 0)
    assert assert_ledger_consistent(session, member.id) == 0
