"""Purchase arithmetic: rate, rounding, tier and category multipliers, discounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.errors import InvalidInput
from loyalty.models import Rounding
from loyalty.services.points import (
    MAX_AMOUNT_CENTS,
    BasketLine,
    apply_rounding,
    purchase_points,
    validate_amount,
    validate_basket,
)


def points(amount_cents: int, rate: str = "1", rounding: Rounding = Rounding.FLOOR, **kw) -> int:
    return purchase_points(amount_cents=amount_cents, rate=Decimal(rate), rounding=rounding, **kw)


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [
        ("12.5", Rounding.FLOOR, 12),
        ("12.5", Rounding.ROUND, 13),
        ("12.5", Rounding.CEIL, 13),
        ("12.49", Rounding.ROUND, 12),
        ("12.01", Rounding.CEIL, 13),
        ("12.99", Rounding.FLOOR, 12),
        ("12", Rounding.CEIL, 12),
        ("0.5", Rounding.ROUND, 1),
    ],
)
def test_rounding_modes(value, rounding, expected):
    assert apply_rounding(Decimal(value), rounding) == expected


def test_rounding_accepts_the_stored_string_value():
    assert apply_rounding(Decimal("2.5"), "round") == 3


def test_one_point_per_euro_by_default_rounded_down():
    assert points(1999) == 19


def test_the_rate_is_a_decimal_not_a_float():
    # 0.1 + 0.2 style errors would make 3 × 0.1 € at 10 points/€ worth 2 points.
    assert points(30, rate="10") == 3
    assert points(1000, rate="0.1") == 1


@pytest.mark.parametrize(
    ("rounding", "expected"), [(Rounding.FLOOR, 29), (Rounding.ROUND, 30), (Rounding.CEIL, 30)]
)
def test_rate_and_rounding_combine(rounding, expected):
    assert points(1999, rate="1.5", rounding=rounding) == expected  # 29.985


def test_tier_multiplier_multiplies_before_rounding():
    assert points(1000, tier_multiplier=Decimal("1.5")) == 15


def test_no_fraction_is_lost_twice():
    # €9.99 × 1.5 points/€ × 1.5 (tier) = 22.4775 → 22. Rounding each step would give
    # floor(14.985) = 14, then floor(14 × 1.5) = 21: a point lost to the second rounding.
    assert points(999, rate="1.5", tier_multiplier=Decimal("1.5")) == 22


def test_category_multiplier_applies_to_its_lines_and_the_rest_counts_at_one():
    lines = [BasketLine(500, "bread"), BasketLine(300, "coffee")]
    result = points(1000, lines=lines, category_multipliers={"bread": "2", "coffee": "1.5"})
    assert result == 16  # 5×2 + 3×1.5 + 2×1 = 16.5, rounded down


def test_basket_lines_are_weighted_then_rounded_once():
    lines = [BasketLine(333, "bread"), BasketLine(333, "bread"), BasketLine(334, "coffee")]
    # (3.33 + 3.33) × 1.5 + 3.34 = 13.33 → 13; per-line rounding would give 4 + 4 + 3 = 11.
    assert points(1000, lines=lines, category_multipliers={"bread": "1.5"}) == 13


def test_lines_of_unknown_or_missing_category_count_at_one():
    lines = [BasketLine(500, "flowers"), BasketLine(500)]
    assert points(1000, lines=lines, category_multipliers={"bread": "3"}) == 10


def test_category_and_tier_multipliers_stack():
    lines = [BasketLine(1000, "bread")]
    result = points(
        1000, lines=lines, category_multipliers={"bread": "2"}, tier_multiplier=Decimal("1.5")
    )
    assert result == 30


def test_promotion_multiplier_stacks_with_the_rest():
    assert points(1000, tier_multiplier=Decimal(2), promotion_multiplier=Decimal(3)) == 60


def test_points_follow_what_is_paid_after_a_discount():
    assert points(2000, discount_cents=500) == 15


def test_a_discount_lowers_each_line_in_proportion():
    lines = [BasketLine(1000, "bread")]
    # 10 € of bread at ×2 plus 10 € at ×1 = 30 weighted; paying 15 of 20 € keeps 3/4 of it.
    result = points(2000, lines=lines, category_multipliers={"bread": "2"}, discount_cents=500)
    assert result == 22  # 22.5 rounded down


def test_a_full_discount_earns_nothing():
    assert points(2000, discount_cents=2000) == 0


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT_CENTS + 1, "100", 1.5, True, None])
def test_validate_amount_refuses_what_is_not_a_purchase(amount):
    with pytest.raises(InvalidInput) as caught:
        validate_amount(amount)
    assert caught.value.field == "amount"


def test_validate_amount_accepts_the_largest_purchase():
    assert validate_amount(MAX_AMOUNT_CENTS) == MAX_AMOUNT_CENTS


def test_validate_basket_refuses_lines_worth_more_than_the_purchase():
    with pytest.raises(InvalidInput, match="add up to more"):
        validate_basket(1000, [BasketLine(600), BasketLine(500)])


@pytest.mark.parametrize("line_amount", [0, -100])
def test_validate_basket_refuses_empty_or_negative_lines(line_amount):
    with pytest.raises(InvalidInput, match="above zero"):
        validate_basket(1000, [BasketLine(line_amount)])
