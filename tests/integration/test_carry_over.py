"""Spend carries over between visits: what a purchase leaves below the next point counts next time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty.models import LoyaltyTransaction, Role, Rounding
from loyalty.services.earn import earn, preview_earn
from loyalty.services.points import BasketLine, carry_after
from loyalty.services.undo import undo_last
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def five_euro_programme(session, tenant):
    """A bakery giving 1 point per €5 that keeps the remainder for the next visit."""
    tenant.program.points_per_euro = Decimal("0.2")
    tenant.program.carry_over_spend = True
    session.flush()
    return tenant


def _earn(session, member, cents, key, **kwargs):
    return earn(session, member=member, amount_cents=cents, idempotency_key=key, **kwargs)


def test_the_remainder_of_a_purchase_counts_on_the_next_visit(session, five_euro_programme, member):
    first = _earn(session, member, 3200, "v1")
    assert (first.points, first.carry_cents) == (6, 200)  # €32: 6 points and €2 kept
    second = _earn(session, member, 1800, "v2")
    assert (second.points, second.carry_cents) == (4, 0)  # €18 + €2 = €20: 4 points
    assert member.points_balance == 10
    assert member.spend_carry_cents == 0
    assert assert_ledger_consistent(session, member.id) == 10


def test_without_carry_over_the_remainder_is_lost(session, five_euro_programme, member):
    five_euro_programme.program.carry_over_spend = False
    session.flush()
    assert _earn(session, member, 3200, "v1").points == 6
    result = _earn(session, member, 1800, "v2")
    assert (result.points, result.carry_cents) == (3, None)
    assert member.spend_carry_cents == 0


def test_small_purchases_add_up_to_a_point(session, five_euro_programme, member):
    points = [_earn(session, member, 250, f"coffee-{n}").points for n in range(4)]
    assert points == [0, 1, 0, 1]  # €2.50 coffees: every second one completes €5
    assert member.spend_carry_cents == 0
    assert assert_ledger_consistent(session, member.id) == 2


def test_the_ledger_row_records_the_carry_before_and_after(session, five_euro_programme, member):
    _earn(session, member, 3200, "v1")
    result = _earn(session, member, 1000, "v2")
    row = session.get(LoyaltyTransaction, result.transaction_id)
    assert (row.carry_in_cents, row.carry_out_cents) == (200, 200)  # €12: 2 points, €2 left


def test_a_replay_returns_the_first_carry_and_moves_nothing(session, five_euro_programme, member):
    first = _earn(session, member, 3200, "v1")
    again = _earn(session, member, 3200, "v1")
    assert again.replayed
    assert again.carry_cents == first.carry_cents == 200
    assert member.spend_carry_cents == 200


def test_the_till_preview_counts_the_carried_spend(session, five_euro_programme, member):
    _earn(session, member, 3200, "v1")
    assert preview_earn(session, member=member, amount_cents=300).points == 1  # €3 + €2


def test_the_tier_multiplier_applies_to_carried_spend_on_the_visit_it_counts(
    session, five_euro_programme, member
):
    gold = factories.make_tier(
        session, five_euro_programme, name="Gold", min_points=0, multiplier="2"
    )
    member.tier_id = gold.id
    session.flush()
    assert _earn(session, member, 700, "v1").points == 2  # €7 × 0.2 × 2 = 2.8 → 2, €2 kept
    assert _earn(session, member, 300, "v2").points == 2  # €3 + €2 = €5 → 1 × 2
    assert member.points_balance == 4  # €10 at 2 × (1 per €5): nothing lost


def test_category_lines_carry_their_weighted_spend(session, five_euro_programme, member):
    five_euro_programme.program.category_multipliers = {"cake": "2"}
    session.flush()
    result = _earn(session, member, 400, "v1", basket=[BasketLine(400, "cake")])
    assert (result.points, result.carry_cents) == (1, 300)  # €4 of cake counts as €8


@pytest.mark.parametrize("rounding", [Rounding.ROUND, Rounding.CEIL])
def test_programmes_that_round_up_have_no_remainder_to_carry(
    session, five_euro_programme, member, rounding
):
    five_euro_programme.program.rounding = rounding
    session.flush()
    assert _earn(session, member, 3200, "v1").carry_cents is None
    assert member.spend_carry_cents == 0


def test_undoing_a_purchase_puts_the_carry_back(session, five_euro_programme, member):
    cashier = factories.actor_for(
        factories.make_user(
            session, five_euro_programme, role=Role.STAFF, shop=five_euro_programme.shop
        ),
        Role.STAFF,
        five_euro_programme.shop,
    )
    common = {"actor": cashier, "shop": five_euro_programme.shop}
    _earn(session, member, 3200, "v1", at=NOW, **common)
    _earn(session, member, 1100, "v2", at=NOW + timedelta(minutes=1), **common)
    assert member.spend_carry_cents == 300  # €11 + €2: 2 points, €3 kept
    undo_last(
        session,
        merchant=five_euro_programme.merchant,
        actor=cashier,
        shop=five_euro_programme.shop,
        idempotency_key="undo",
        now=NOW + timedelta(minutes=2),
    )
    assert member.spend_carry_cents == 200  # back to what the €32 purchase left
    assert assert_ledger_consistent(session, member.id) == 6


@pytest.mark.parametrize(
    ("spend", "rate", "expected"),
    [
        (Decimal(3200), Decimal("0.2"), 200),
        (Decimal(3250), Decimal(1), 50),
        (Decimal(1050), Decimal("1.5"), 50),
        (Decimal(1000), Decimal("1.5"), 0),
        (Decimal("3200.5"), Decimal("0.2"), 200),
        (Decimal(999), Decimal(0), 0),
    ],
)
def test_carry_after_keeps_what_is_below_one_base_point(spend, rate, expected):
    assert carry_after(spend=spend, rate=rate) == expected
