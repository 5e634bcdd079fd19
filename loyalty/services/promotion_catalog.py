"""Setting up promotions in the back-office: create, change, end, and preview who qualifies.

The engine that applies promotions to purchases is `services/promotions.py`; this module only
writes the rows it reads. Days are the merchant's days: a promotion "from 1 to 7 March" starts
at midnight on 1 March and ends at midnight after 7 March in the merchant's time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session, joinedload

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.models import (
    LoyaltyMember,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberStatus,
    Merchant,
    Promotion,
    PromotionRedemption,
    PromotionType,
    Role,
    Shop,
    TransactionType,
)
from loyalty.money import euros
from loyalty.offerings import Feature
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.calendar import local_day, local_midnight
from loyalty.services.merchants import program_of

MAX_COUNT = 1_000_000_000  # far beyond any real limit, well inside an INTEGER column
MAX_SPEND_CENTS = 100_000_000  # €1,000,000: a minimum spend above that is a typo
MAX_BONUS_POINTS = 1_000_000
MAX_MULTIPLIER = Decimal(10)
MAX_FIXED_DISCOUNT_CENTS = 100_000_000
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PREVIEW_SAMPLE = 10

TYPE_LABELS: dict[PromotionType, str] = {
    PromotionType.BONUS_POINTS: "Bonus points",
    PromotionType.POINTS_MULTIPLIER: "Points multiplier",
    PromotionType.DISCOUNT_PERCENT: "Percentage off",
    PromotionType.DISCOUNT_FIXED: "Amount off",
    PromotionType.FREE_ITEM: "Free item",
}


@dataclass(frozen=True)
class PromotionDraft:
    """What the merchant typed, already parsed into Python values; the rules are checked here."""

    name: str
    type: PromotionType
    value: Decimal = Decimal(0)  # points, a factor, a percent or cents, by type
    min_spend_cents: int | None = None
    shop_ids: tuple[int, ...] = ()
    tier_ids: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()  # 0 = Monday, as datetime.weekday()
    starts_on: date | None = None  # None: today
    ends_on: date | None = None  # None: open-ended; inclusive
    max_redemptions: int | None = None
    per_member_limit: int | None = None
    active: bool = True


@dataclass(frozen=True)
class QualifyingMember:
    member_id: int
    name: str
    card_number: str
    tier_name: str | None
    last_activity_at: datetime


@dataclass(frozen=True)
class Preview:
    count: int
    sample: tuple[QualifyingMember, ...] = ()
    notes: tuple[str, ...] = field(default=())


def last_day(promotion: Promotion, merchant: Merchant) -> date | None:
    """The last day the promotion runs, as the merchant entered it (ends_at is the next midnight)."""
    if promotion.ends_at is None:
        return None
    return local_day(promotion.ends_at - timedelta(microseconds=1), merchant)


def value_label(promotion: Promotion) -> str:
    value = Decimal(promotion.value)
    match promotion.type:
        case PromotionType.BONUS_POINTS:
            return f"+{int(value)} points"
        case PromotionType.POINTS_MULTIPLIER:
            return f"×{value.normalize():f} points"
        case PromotionType.DISCOUNT_PERCENT:
            return f"{value.normalize():f}% off"
        case PromotionType.DISCOUNT_FIXED:
            return f"{euros(int(value))} off"
        case _:
            return "Free item"


def status_of(promotion: Promotion, now: datetime | None = None) -> str:
    """One word for the list: scheduled, running, paused, used up or ended."""
    now = now or utcnow()
    if promotion.ends_at is not None and promotion.ends_at <= now:
        return "ended"
    if not promotion.active:
        return "paused"
    if (
        promotion.max_redemptions is not None
        and promotion.redemptions_count >= promotion.max_redemptions
    ):
        return "used up"
    if promotion.starts_at > now:
        return "scheduled"
    return "running"


# --- validation ------------------------------------------------------------------------------


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _value(draft: PromotionDraft) -> Decimal:
    try:
        value = Decimal(draft.value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput("Enter the promotion's value as a number.", field="value") from None
    if not value.is_finite():
        raise InvalidInput("Enter the promotion's value as a number.", field="value")
    match draft.type:
        case PromotionType.BONUS_POINTS:
            if value != value.to_integral_value() or not 1 <= value <= MAX_BONUS_POINTS:
                raise InvalidInput(
                    f"Bonus points are a whole number from 1 to {MAX_BONUS_POINTS:,}.",
                    field="value",
                )
        case PromotionType.POINTS_MULTIPLIER:
            if not Decimal("1") < value <= MAX_MULTIPLIER or _decimals(value) > 3:
                raise InvalidInput(
                    "A points multiplier is more than 1 and at most 10, like 2 for double "
                    "points or 1.5.",
                    field="value",
                )
        case PromotionType.DISCOUNT_PERCENT:
            if not Decimal(0) < value <= Decimal(100) or _decimals(value) > 2:
                raise InvalidInput(
                    "A percentage off is more than 0 and at most 100, like 10.", field="value"
                )
        case PromotionType.DISCOUNT_FIXED:
            if value != value.to_integral_value() or not 1 <= value <= MAX_FIXED_DISCOUNT_CENTS:
                raise InvalidInput(
                    "An amount off is at least €0.01 and at most €1,000,000.", field="value"
                )
        case PromotionType.FREE_ITEM:
            value = Decimal(0)  # the item is named in the promotion's name
    return value


def _count(value: int | None, *, field: str, what: str) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= MAX_COUNT:
        raise InvalidInput(
            f"{what} is a whole number of at least 1; leave it empty for no limit.", field=field
        )
    return value


def _own_ids(
    session: Session, model: type, ids: Sequence[int], merchant: Merchant, *, field: str, what: str
) -> list[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = set(
        session.scalars(
            select(model.id).where(model.id.in_(wanted), model.merchant_id == merchant.id)  # type: ignore[attr-defined]
        )
    )
    if found != set(wanted):
        raise InvalidInput(f"Choose {what} from the list.", field=field)
    return wanted


def _conditions(
    session: Session, merchant: Merchant, draft: PromotionDraft, previous: dict | None
) -> dict:
    conditions: dict = {}
    # Keys this page does not edit (a segment, set by campaigns) are kept as they were.
    for key, kept in (previous or {}).items():
        if key not in {"min_spend_cents", "shop_ids", "tier_ids", "weekdays"}:
            conditions[key] = kept
    if draft.min_spend_cents is not None:
        if not 0 <= draft.min_spend_cents <= MAX_SPEND_CENTS:
            raise InvalidInput(
                "A minimum spend is between €0 and €1,000,000; leave it empty for none.",
                field="min_spend",
            )
        if draft.min_spend_cents:
            conditions["min_spend_cents"] = draft.min_spend_cents
    shops = _own_ids(session, Shop, draft.shop_ids, merchant, field="shops", what="shops")
    if shops:
        conditions["shop_ids"] = shops
    if draft.tier_ids:
        # Kept as they were after a downgrade (they then match nobody); new ones need tiers.
        if set(draft.tier_ids) != set((previous or {}).get("tier_ids") or ()):
            offerings.require(merchant, Feature.TIERS)
        conditions["tier_ids"] = _own_ids(
            session, LoyaltyTier, draft.tier_ids, merchant, field="tiers", what="tiers"
        )
    if draft.weekdays:
        if any(not 0 <= day <= 6 for day in draft.weekdays):
            raise InvalidInput("Choose weekdays from Monday to Sunday.", field="weekdays")
        conditions["weekdays"] = sorted(set(draft.weekdays))
    return conditions


def _window(
    merchant: Merchant, draft: PromotionDraft, now: datetime, *, is_new: bool
) -> tuple[datetime, datetime | None]:
    today = local_day(now, merchant)
    starts_on = draft.starts_on or today
    if is_new and starts_on < today:
        raise InvalidInput(
            "A new promotion cannot start in the past. Choose today or a later day.",
            field="starts_on",
        )
    if draft.ends_on is not None:
        if draft.ends_on < starts_on:
            raise InvalidInput(
                "The last day comes before the first day. Check the dates.", field="ends_on"
            )
        if is_new and draft.ends_on < today:
            raise InvalidInput("The last day has already passed.", field="ends_on")
    # A promotion starting today starts now, so it applies from the next purchase on.
    starts_at = now if starts_on == today and is_new else local_midnight(starts_on, merchant)
    ends_at = local_midnight(draft.ends_on + timedelta(days=1), merchant) if draft.ends_on else None
    return starts_at, ends_at


def _name(draft: PromotionDraft) -> str:
    name = (draft.name or "").strip()
    if not name:
        raise InvalidInput("Give the promotion a name customers will recognise.", field="name")
    if len(name) > 120:
        raise InvalidInput("A promotion name has at most 120 characters.", field="name")
    return name


def _check(actor: Actor, merchant: Merchant) -> None:
    actor.require_role(Role.MANAGER, "change promotions")
    offerings.require(merchant, Feature.BASIC_PROMOTIONS)


# --- use cases -----------------------------------------------------------------------------


def create_promotion(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    draft: PromotionDraft,
    now: datetime | None = None,
) -> Promotion:
    _check(actor, merchant)
    now = now or utcnow()
    name = _name(draft)
    value = _value(draft)
    conditions = _conditions(session, merchant, draft, None)
    starts_at, ends_at = _window(merchant, draft, now, is_new=True)
    promotion = Promotion(
        merchant_id=merchant.id,
        program_id=program_of(session, merchant).id,
        name=name,
        type=draft.type,
        value=value,
        conditions=conditions,
        starts_at=starts_at,
        ends_at=ends_at,
        max_redemptions=_count(draft.max_redemptions, field="max_redemptions", what="A limit"),
        per_member_limit=_count(
            draft.per_member_limit, field="per_member_limit", what="A limit per member"
        ),
        active=draft.active,
        created_at=now,
    )
    session.add(promotion)
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="promotion.created",
        target_type="promotion",
        target_id=promotion.id,
        name=name,
    )
    return promotion


def update_promotion(
    session: Session,
    *,
    promotion: Promotion,
    merchant: Merchant,
    actor: Actor,
    draft: PromotionDraft,
    now: datetime | None = None,
) -> Promotion:
    if promotion.merchant_id != merchant.id:
        raise InvalidInput("That promotion belongs to another business.")
    _check(actor, merchant)
    now = now or utcnow()
    name = _name(draft)
    value = _value(draft)
    if promotion.redemptions_count and draft.type != promotion.type:
        raise InvalidInput(
            "This promotion has already been used, so its type stays. End it and create a new one.",
            field="type",
        )
    conditions = _conditions(session, merchant, draft, promotion.conditions)
    max_redemptions = _count(draft.max_redemptions, field="max_redemptions", what="A limit")
    if max_redemptions is not None and max_redemptions < promotion.redemptions_count:
        raise InvalidInput(
            f"It has been used {promotion.redemptions_count} times already: the limit cannot be "
            "lower.",
            field="max_redemptions",
        )
    starts_on = draft.starts_on or local_day(promotion.starts_at, merchant)
    starts_at, ends_at = _window(
        merchant,
        PromotionDraft(name=name, type=draft.type, starts_on=starts_on, ends_on=draft.ends_on),
        now,
        is_new=False,
    )
    if starts_on == local_day(promotion.starts_at, merchant):
        starts_at = promotion.starts_at  # unchanged day: keep the exact moment it began
    if draft.ends_on is not None and draft.ends_on == last_day(promotion, merchant):
        # Unchanged last day: keep the exact end, so saving a promotion ended at 11:00 today
        # does not reopen it until midnight.
        ends_at = promotion.ends_at
    promotion.name = name
    promotion.type = draft.type
    promotion.value = value
    promotion.conditions = conditions
    promotion.starts_at = starts_at
    promotion.ends_at = ends_at
    promotion.max_redemptions = max_redemptions
    promotion.per_member_limit = _count(
        draft.per_member_limit, field="per_member_limit", what="A limit per member"
    )
    promotion.active = draft.active
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="promotion.updated",
        target_type="promotion",
        target_id=promotion.id,
        name=name,
    )
    return promotion


def end_promotion(
    session: Session,
    *,
    promotion: Promotion,
    merchant: Merchant,
    actor: Actor,
    now: datetime | None = None,
) -> Promotion:
    """Stop it now. The row and its redemptions stay: reports still count them."""
    if promotion.merchant_id != merchant.id:
        raise InvalidInput("That promotion belongs to another business.")
    actor.require_role(Role.MANAGER, "change promotions")
    now = now or utcnow()
    if promotion.ends_at is not None and promotion.ends_at <= now:
        return promotion  # already over: ending twice changes nothing
    promotion.ends_at = now
    if promotion.starts_at > now:
        promotion.starts_at = now  # a scheduled one that never ran
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="promotion.ended",
        target_type="promotion",
        target_id=promotion.id,
        name=promotion.name,
    )
    return promotion


def draft_of(promotion: Promotion, merchant: Merchant) -> PromotionDraft:
    """The saved promotion as the form shows it."""
    conditions = promotion.conditions or {}
    return PromotionDraft(
        name=promotion.name,
        type=PromotionType(promotion.type),
        value=Decimal(promotion.value),
        min_spend_cents=conditions.get("min_spend_cents"),
        shop_ids=tuple(conditions.get("shop_ids") or ()),
        tier_ids=tuple(conditions.get("tier_ids") or ()),
        weekdays=tuple(conditions.get("weekdays") or ()),
        starts_on=local_day(promotion.starts_at, merchant),
        ends_on=last_day(promotion, merchant),
        max_redemptions=promotion.max_redemptions,
        per_member_limit=promotion.per_member_limit,
        active=promotion.active,
    )


# --- who qualifies -----------------------------------------------------------------------------


def _audience(
    session: Session,
    *,
    merchant: Merchant,
    program_id: int,
    draft: PromotionDraft,
    promotion_id: int | None,
) -> list[ColumnElement[bool]]:
    """The WHERE clause of "members this promotion could apply to", as set-based conditions."""
    where: list[ColumnElement[bool]] = [
        LoyaltyMember.program_id == program_id,
        LoyaltyMember.status == MemberStatus.ACTIVE,
    ]
    if draft.tier_ids:
        # A downgraded merchant's tier conditions match nobody, as at the till.
        if not offerings.has(merchant, Feature.TIERS):
            where.append(LoyaltyMember.id.is_(None))
        else:
            where.append(LoyaltyMember.tier_id.in_(draft.tier_ids))
    if draft.shop_ids:
        # A shop condition is about where the purchase happens: members who buy there.
        where.append(
            exists().where(
                LoyaltyTransaction.member_id == LoyaltyMember.id,
                LoyaltyTransaction.type == TransactionType.EARN,
                LoyaltyTransaction.shop_id.in_(draft.shop_ids),
            )
        )
    if draft.per_member_limit is not None and promotion_id is not None:
        used = (
            select(func.count(PromotionRedemption.id))
            .where(
                PromotionRedemption.promotion_id == promotion_id,
                PromotionRedemption.member_id == LoyaltyMember.id,
            )
            .scalar_subquery()
        )
        where.append(used < draft.per_member_limit)
    return where


def preview(
    session: Session,
    *,
    merchant: Merchant,
    draft: PromotionDraft,
    promotion: Promotion | None = None,
    sample_size: int = PREVIEW_SAMPLE,
) -> Preview:
    """How many members the promotion could reach, and the most recently active of them.

    Two statements whatever the programme's size: a count and a short sample. Conditions that
    depend on the purchase itself (spend, weekday, dates) are checked at the till, so they
    appear as notes rather than as filters.
    """
    program = program_of(session, merchant)
    where = _audience(
        session,
        merchant=merchant,
        program_id=program.id,
        draft=draft,
        promotion_id=promotion.id if promotion is not None else None,
    )
    count = session.scalar(select(func.count(LoyaltyMember.id)).where(and_(*where))) or 0
    rows = session.scalars(
        select(LoyaltyMember)
        .where(and_(*where))
        .options(joinedload(LoyaltyMember.customer), joinedload(LoyaltyMember.tier))
        .order_by(LoyaltyMember.last_activity_at.desc(), LoyaltyMember.id.desc())
        .limit(sample_size)
    )
    sample = tuple(
        QualifyingMember(
            member_id=m.id,
            name=m.customer.name or "(no name)",
            card_number=m.card_number,
            tier_name=m.tier.name if m.tier is not None else None,
            last_activity_at=m.last_activity_at,
        )
        for m in rows
    )
    notes = []
    if draft.min_spend_cents:
        notes.append(f"Only purchases of at least {euros(draft.min_spend_cents)} count.")
    if draft.weekdays:
        days = ", ".join(WEEKDAY_NAMES[d] for d in sorted(set(draft.weekdays)) if 0 <= d <= 6)
        notes.append(f"Only on {days}.")
    if draft.tier_ids and not offerings.has(merchant, Feature.TIERS):
        notes.append("Tiers are not in your offering, so a tier condition matches nobody.")
    if (
        promotion is not None
        and promotion.max_redemptions is not None
        and promotion.redemptions_count >= promotion.max_redemptions
    ):
        notes.append("It has reached its total limit: no one can use it any more.")
    return Preview(count=count, sample=sample, notes=tuple(notes))
