"""The promotions engine: which offers apply to a purchase, what they are worth, and claiming them.

Stacking, as merchants expect it: bonus points and free items add up; of several point
multipliers only the highest applies; of several discounts only the best for the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.models import (
    LoyaltyMember,
    Merchant,
    Promotion,
    PromotionRedemption,
    PromotionType,
)
from loyalty.offerings import Feature
from loyalty.services.points import BasketLine


@dataclass(frozen=True)
class Purchase:
    amount_cents: int
    at: datetime
    shop_id: int | None = None
    timezone: str = "UTC"  # the shop's: "every Tuesday" means Tuesday where the till is
    lines: tuple[BasketLine, ...] = ()


@dataclass(frozen=True)
class AppliedPromotion:
    promotion_id: int
    name: str
    type: PromotionType
    bonus_points: int = 0
    multiplier: Decimal = Decimal(1)
    discount_cents: int = 0
    free_item: str | None = None


@dataclass(frozen=True)
class Offer:
    """The promotions that apply to one purchase, already stacked."""

    applied: tuple[AppliedPromotion, ...] = ()
    multiplier: Decimal = Decimal(1)
    bonus_points: int = 0
    discount_cents: int = 0
    free_items: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, applied: Sequence[AppliedPromotion]) -> Offer:
        return cls(
            applied=tuple(applied),
            multiplier=max((a.multiplier for a in applied), default=Decimal(1)),
            bonus_points=sum(a.bonus_points for a in applied),
            discount_cents=sum(a.discount_cents for a in applied),
            free_items=tuple(a.free_item for a in applied if a.free_item),
        )


def active_promotions(session: Session, *, program_id: int, at: datetime) -> list[Promotion]:
    return list(
        session.scalars(
            select(Promotion)
            .where(
                Promotion.program_id == program_id,
                Promotion.active.is_(True),
                Promotion.starts_at <= at,
                or_(Promotion.ends_at.is_(None), Promotion.ends_at > at),
            )
            .order_by(Promotion.id)
        )
    )


def _conditions_hold(
    promotion: Promotion, merchant: Merchant, member: LoyaltyMember, purchase: Purchase
) -> bool:
    conditions = promotion.conditions or {}
    if purchase.amount_cents < int(conditions.get("min_spend_cents") or 0):
        return False
    shop_ids = conditions.get("shop_ids")
    if shop_ids and purchase.shop_id not in shop_ids:
        return False
    tier_ids = conditions.get("tier_ids")
    if tier_ids and (not offerings.has(merchant, Feature.TIERS) or member.tier_id not in tier_ids):
        return False
    weekdays = conditions.get("weekdays")
    if weekdays:
        local = purchase.at.astimezone(ZoneInfo(purchase.timezone))
        if local.weekday() not in weekdays:
            return False
    # Segments arrive with the campaigns issue; until then a segment-bound offer applies to nobody.
    if conditions.get("segment_id") is not None:
        return False
    return not (
        promotion.max_redemptions is not None
        and promotion.redemptions_count >= promotion.max_redemptions
    )


def _uses_by_member(
    session: Session, promotion_ids: Sequence[int], member_id: int
) -> dict[int, int]:
    if not promotion_ids:
        return {}
    rows = session.execute(
        select(PromotionRedemption.promotion_id, func.count())
        .where(
            PromotionRedemption.promotion_id.in_(promotion_ids),
            PromotionRedemption.member_id == member_id,
        )
        .group_by(PromotionRedemption.promotion_id)
    )
    return {promotion_id: count for promotion_id, count in rows}


def _discount(promotion: Promotion, amount_cents: int) -> int:
    if promotion.type == PromotionType.DISCOUNT_PERCENT:
        percent = min(Decimal(promotion.value), Decimal(100))
        return int(Decimal(amount_cents) * percent / 100)
    return min(int(promotion.value), amount_cents)


def find_offer(
    session: Session, *, merchant: Merchant, member: LoyaltyMember, purchase: Purchase
) -> Offer:
    """What applies to this purchase. Reads only: previews and earns share it."""
    if not offerings.has(merchant, Feature.BASIC_PROMOTIONS):
        return Offer()
    candidates = active_promotions(session, program_id=member.program_id, at=purchase.at)
    if not candidates:
        return Offer()
    used = _uses_by_member(session, [p.id for p in candidates], member.id)
    eligible = [
        p
        for p in candidates
        if _conditions_hold(p, merchant, member, purchase)
        and (p.per_member_limit is None or used.get(p.id, 0) < p.per_member_limit)
    ]
    applied: list[AppliedPromotion] = []
    multipliers = [p for p in eligible if p.type == PromotionType.POINTS_MULTIPLIER]
    if multipliers:
        best = max(multipliers, key=lambda p: (Decimal(p.value), -p.id))
        applied.append(
            AppliedPromotion(best.id, best.name, best.type, multiplier=Decimal(best.value))
        )
    discounts = [
        p
        for p in eligible
        if p.type in (PromotionType.DISCOUNT_PERCENT, PromotionType.DISCOUNT_FIXED)
    ]
    if discounts:
        best = max(discounts, key=lambda p: (_discount(p, purchase.amount_cents), -p.id))
        applied.append(
            AppliedPromotion(
                best.id,
                best.name,
                best.type,
                discount_cents=_discount(best, purchase.amount_cents),
            )
        )
    for p in eligible:
        if p.type == PromotionType.BONUS_POINTS:
            applied.append(AppliedPromotion(p.id, p.name, p.type, bonus_points=int(p.value)))
        elif p.type == PromotionType.FREE_ITEM:
            applied.append(AppliedPromotion(p.id, p.name, p.type, free_item=p.name))
    applied.sort(key=lambda a: a.promotion_id)
    return Offer.of(applied)


def claim(session: Session, offer: Offer) -> Offer:
    """Count each promotion's use atomically; one that ran out meanwhile drops out of the offer."""
    kept = []
    for applied in offer.applied:
        claimed = session.execute(
            update(Promotion)
            .where(
                Promotion.id == applied.promotion_id,
                or_(
                    Promotion.max_redemptions.is_(None),
                    Promotion.redemptions_count < Promotion.max_redemptions,
                ),
            )
            .values(redemptions_count=Promotion.redemptions_count + 1)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            kept.append(applied)
        # The count changed behind the ORM's back: a Promotion loaded in this session must not
        # keep the old one, or a later preview in the same session offers what is used up.
        loaded = session.identity_map.get(session.identity_key(Promotion, applied.promotion_id))
        if loaded is not None:
            session.expire(loaded, ["redemptions_count"])
    return offer if len(kept) == len(offer.applied) else Offer.of(kept)


def record_redemptions(
    session: Session,
    *,
    offer: Offer,
    member: LoyaltyMember,
    transaction_id: int,
    shop_id: int | None,
    points_by_promotion: dict[int, int],
) -> None:
    for applied in offer.applied:
        session.add(
            PromotionRedemption(
                merchant_id=member.merchant_id,
                promotion_id=applied.promotion_id,
                member_id=member.id,
                transaction_id=transaction_id,
                shop_id=shop_id,
                points=points_by_promotion.get(applied.promotion_id, 0),
                discount_cents=applied.discount_cents,
            )
        )
    session.flush()
