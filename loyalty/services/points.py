"""How many points a purchase is worth. Pure arithmetic, shared by every earn path and preview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from loyalty.errors import InvalidInput
from loyalty.models import Rounding
from loyalty.money import euros

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
            f"{euros(amount_cents, grouping=True)} is more than one purchase can be "
            f"({euros(MAX_AMOUNT_CENTS, grouping=True)} at most). Check the amount.",
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


def weighted_spend(
    *,
    amount_cents: int,
    lines: Sequence[BasketLine] = (),
    category_multipliers: Mapping[str, str] | None = None,
    discount_cents: int = 0,
) -> Decimal:
    """The spend that earns at the base rate, in cents.

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
    return weighted


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
    carry_cents: int = 0,
) -> int:
    """Points for a purchase (plus spend carried from earlier visits), rounded once at the end."""
    weighted = carry_cents + weighted_spend(
        amount_cents=amount_cents,
        lines=lines,
        category_multipliers=category_multipliers,
        discount_cents=discount_cents,
    )
    raw = weighted * Decimal(rate) * Decimal(tier_multiplier) * promotion_multiplier / 100
    return apply_rounding(raw, rounding)


def carry_after(*, spend: Decimal, rate: Decimal) -> int:
    """Cents of `spend` (base-rate cents, carry included) not yet worth a whole base point.

    At "1 point per €5" (rate 0.2) €32 earns 6 points and leaves €2: 200. The carry is kept in
    base-rate cents so that tier and promotion multipliers apply to it on the visit it counts.
    """
    rate = Decimal(rate)
    if rate <= 0:
        return 0
    base_points = (spend * rate / 100).to_integral_value(rounding=ROUND_FLOOR)
    used = (base_points * 100 / rate).to_integral_value(rounding=ROUND_CEILING)
    return max(0, int(spend - used))
