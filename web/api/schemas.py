"""The API's request and response shapes: one pydantic model each.

The same models validate requests and generate the OpenAPI document (pydantic's JSON Schema
is draft 2020-12, which is what OpenAPI 3.1 uses), so the reference cannot drift from what
the server accepts. Requests are strict (no "10" for 10, no unknown fields); every string has
a length limit and no control characters, which the database could not store.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loyalty.services.points import MAX_AMOUNT_CENTS

MAX_ID = 2**31 - 1
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def text(max_length: int, *, min_length: int = 0):
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length, pattern=_NO_CONTROL),
    ]


Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=_NO_CONTROL),
    Field(json_schema_extra={"format": "email"}),
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Cents = Annotated[
    int, Field(ge=1, le=MAX_AMOUNT_CENTS, description="Integer cents, e.g. 1250 = €12.50")
]
Language = Literal["en", "fr", "de"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    # Query strings are text: "10" is how a number arrives.
    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- members ------------------------------------------------------------------------------


class MarketingConsents(Request):
    marketing_email: bool = False
    marketing_sms: bool = False
    marketing_telegram: bool = False


class MemberCreate(Request):
    """A new member. Give an e-mail or a phone (or both); the programme terms must be accepted."""

    name: text(120) = ""
    email: Email | None = None
    phone: text(30) | None = None
    birthday: date | None = None
    language: Language = "en"
    external_id: text(64) | None = Field(
        None, description="Your own customer number; unique within your business."
    )
    terms_accepted: bool = Field(description="The customer accepted the programme's terms.")
    consents: MarketingConsents = Field(default_factory=MarketingConsents)


class MemberUpdate(Request):
    """Only the fields sent change; null clears an optional field."""

    name: text(120) | None = None
    email: Email | None = None
    phone: text(30) | None = None
    birthday: date | None = None
    language: Language | None = None
    external_id: text(64) | None = None


class MemberLookup(Query):
    """Exactly one of these."""

    card_number: text(30) | None = Field(None, description="Printed card number, spaces allowed.")
    phone: text(30) | None = None
    email: Email | None = None
    external_id: text(64) | None = None


class TierRef(Response):
    id: int
    name: str


class Member(Response):
    object: Literal["member"] = "member"
    id: int
    card_number: str
    status: Literal["active", "suspended", "closed"]
    name: str
    email: str | None
    phone: str | None
    birthday: date | None
    language: str
    external_id: str | None
    points_balance: int
    lifetime_points: int
    tier: TierRef | None
    enrolled_at: datetime
    last_activity_at: datetime
    erased: bool


# --- transactions ---------------------------------------------------------------------------


class BasketLine(Request):
    amount_cents: Cents
    category: text(40) | None = Field(
        None, description="Category with its own multiplier in the programme, e.g. 'wine'."
    )
    label: text(120) = ""


class EarnCreate(Request):
    """A purchase: the member earns points on what was paid."""

    member_id: Id
    amount_cents: Cents
    shop_id: Id | None = None
    order_reference: text(64) | None = Field(None, description="Your receipt or order number.")
    lines: list[BasketLine] = Field(default_factory=list, max_length=200)
    items: int | None = Field(
        None,
        ge=1,
        le=999,
        description="Items bought: the stamps of a per-item stamp card (ignored for points).",
    )


class RefundCreate(Request):
    """Refund all (no amount) or part of a purchase; its points go back in proportion."""

    amount_cents: Cents | None = None
    shop_id: Id | None = None
    reason: text(200) = ""


# Every ledger row type (loyalty.models.TransactionType); a unit test keeps the two in step.
TransactionKind = Literal[
    "earn", "redeem", "expire", "adjust", "reverse", "bonus", "release", "membership"
]


class Transaction(Response):
    object: Literal["transaction"] = "transaction"
    id: int
    member_id: int
    type: TransactionKind
    points: int = Field(description="Signed: credits positive, debits negative.")
    balance_after: int
    amount_cents: int | None
    shop_id: int | None
    order_reference: str | None
    reverses_id: int | None
    description: str
    created_at: datetime


class EarnResult(Response):
    object: Literal["earn"] = "earn"
    transaction: Transaction
    points: int
    balance: int = Field(description="The member's balance after this purchase.")
    discount_cents: int
    promotions: list[str]
    free_items: list[str]
    new_tier: str | None
    card_vouchers: list[str] = Field(
        default_factory=list,
        description="Stamp cards: codes of the vouchers of the cards this purchase filled.",
    )
    card_held: str | None = Field(
        default=None,
        description="Stamp cards: why a full card still waits for its voucher (its reward out "
        "of stock, its limit reached, or no reward set), in the cashier's words; null when "
        "nothing waits. The card keeps its stamps and a later purchase completes it.",
    )


class RefundResult(Response):
    object: Literal["refund"] = "refund"
    transaction: Transaction
    balance: int


class TransactionFilter(Query):
    member_id: Id | None = None
    shop_id: Id | None = None
    type: TransactionKind | None = None
    order_reference: text(64) | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = Field(25, ge=1, le=100)
    starting_after: Id | None = Field(
        None, description="Cursor: the last id of the previous page (newest first)."
    )


class TransactionList(Response):
    object: Literal["list"] = "list"
    data: list[Transaction]
    has_more: bool
    next_cursor: int | None = Field(description="Pass as starting_after for the next page.")


# --- rewards, redemptions, vouchers -----------------------------------------------------------


class Reward(Response):
    object: Literal["reward"] = "reward"
    id: int
    name: str
    description: str
    type: str
    points_cost: int
    value: int | None
    stock: int | None = Field(description="null: unlimited")
    validity_days: int
    redemption_limit: Literal["repeatable", "once", "month", "year", "days"] = Field(
        description="How often one member may redeem it: as often as the points allow, once, "
        "once per calendar month or year (the merchant's time zone), or once every "
        "limit_days days. A refusal is problem reward_limit_reached."
    )
    limit_days: int | None = Field(description="For redemption_limit days; otherwise null")


class RewardList(Response):
    object: Literal["list"] = "list"
    data: list[Reward]


class RedemptionCreate(Request):
    member_id: Id
    reward_id: Id
    shop_id: Id | None = None


VoucherState = Literal["issued", "used", "void", "expired"]


class Voucher(Response):
    object: Literal["voucher"] = "voucher"
    code: str
    status: VoucherState
    member_id: int
    reward_id: int | None
    reward_name: str | None
    points_spent: int
    valid_until: datetime
    used_at: datetime | None
    used_shop_id: int | None
    usable: bool
    reason: str | None = Field(description="Why it cannot be used, for the cashier.")


class RedemptionResult(Response):
    object: Literal["redemption"] = "redemption"
    voucher: Voucher
    transaction_id: int
    balance: int


class VoucherUse(Request):
    shop_id: Id | None = None


class VoucherVoid(Request):
    reason: text(200, min_length=1)


class VoucherVoidResult(Response):
    object: Literal["voucher_void"] = "voucher_void"
    voucher: Voucher
    balance: int


# --- promotions, tiers, shops ---------------------------------------------------------------


class Promotion(Response):
    object: Literal["promotion"] = "promotion"
    id: int
    name: str
    type: str
    value: str
    starts_at: datetime
    ends_at: datetime | None


class PromotionList(Response):
    object: Literal["list"] = "list"
    data: list[Promotion]


class BasketEvaluate(Request):
    """A basket to price: nothing is written."""

    member_id: Id
    amount_cents: Cents
    shop_id: Id | None = None
    lines: list[BasketLine] = Field(default_factory=list, max_length=200)


class AppliedPromotion(Response):
    id: int
    name: str
    type: str
    bonus_points: int
    discount_cents: int
    free_item: str | None


class BasketEvaluation(Response):
    object: Literal["basket_evaluation"] = "basket_evaluation"
    amount_cents: int
    points: int
    base_points: int
    discount_cents: int
    free_items: list[str]
    promotions: list[AppliedPromotion]
    balance: int = Field(description="The member's current balance (unchanged).")


class Tier(Response):
    object: Literal["tier"] = "tier"
    id: int
    name: str
    min_points: int
    earn_multiplier: str
    qualification_window_days: int | None


class TierList(Response):
    object: Literal["list"] = "list"
    data: list[Tier]


class Shop(Response):
    object: Literal["shop"] = "shop"
    id: int
    name: str
    address: str
    timezone: str


class ShopList(Response):
    object: Literal["list"] = "list"
    data: list[Shop]


# --- errors -------------------------------------------------------------------------------


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details. `type` is stable per `code`; `detail` is for people."""

    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    field: str | None = None
    errors: list[FieldError] | None = None
    required_offering: str | None = None
    retry_after: int | None = None
