"""How many points a purchase is worth. Pure arithmetic, shared by every earn path and preview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from loyalty.errors import InvalidInput
from loyalty.models import Rounding

MAX_AMOUNT_CENTS = 10_000_000  # €100,000: beyond this a typo is likelier than a purchase

_ROUNDING_MODES = {
    Rounding.FLOOR: ROUND_FLOOR,
    Rounding.CEIL: ROUND_CEILING,
    Rounding.ROUND: ROUND_HALF_UP,  # PostgreSQL's round(numeric) also rounds halves away from 0
}


@dataclass(frozen=True)
class BasketLine:
    amount_cents: int
    category: str | None = None
    label: str = ""


def validate_amount(amount_cents: object) -> int:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise InvalidInput("The amount must be a whole number of cents.", field="amount")
    if amount_cents <= 0:
        raise InvalidInput("Enter an amount above zero.", field="amount")
    if amount_cents > MAX_AMOUNT_CENTS:
        raise InvalidInput(
            f"€{amount_cents / 100:,.2f} is more than one purchase can be "
            f"(€{MAX_AMOUNT_CENTS / 100:,.0f} at most). Check the amount.",
            field="amount",
        )
    return amount_cents


def validate_basket(amount_cents: int, lines: Sequence[BasketLine]) -> tuple[BasketLine, ...]:
    for line in lines:
        if not isinstance(line.amount_cents, int) or line.amount_cents <= 0:
            raise InvalidInput("Every basket line needs an amount above zero.", field="basket")
    if sum(line.amount_cents for line in lines) > amount_cents:
        raise InvalidInput(
            "The basket lines add up to more than the purchase amount.", field="basket"
        )
    return tuple(lines)


def apply_rounding(value: Decimal, rounding: Rounding) -> int:
    return int(value.to_integral_value(rounding=_ROUNDING_MODES[Rounding(rounding)]))


def purchase_points(
    *,
    amount_cents: int,
    rate: Decimal,
    rounding: Rounding,
    tier_multiplier: Decimal = Decimal(1),
    lines: Sequence[BasketLine] = (),
    category_multipliers: Mapping[str, str] | None = None,
    promotion_multiplier: Decimal = Decimal(1),
    discount_cents: int = 0,
) -> int:
    """Points for a purchase, rounded once at the end so that no fraction is lost twice.

    Lines carry a category multiplier; the part of the amount not covered by lines counts at 1.
    A discount lowers what the customer pays, and points follow what is paid.
    """
    multipliers = category_multipliers or {}
    covered = sum(line.amount_cents for line in lines)
    weighted = Decimal(amount_cents - covered)
    for line in lines:
        weighted += line.amount_cents * Decimal(multipliers.get(line.category or "", "1"))
    if discount_cents:
        weighted = weighted * Decimal(amount_cents - discount_cents) / Decimal(amount_cents)
    raw = weighted * Decimal(rate) * Decimal(tier_multiplier) * promotion_multiplier / 100
    return apply_rounding(raw, rounding)
