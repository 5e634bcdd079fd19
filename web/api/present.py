"""Domain rows as the API shows them: one function per response shape."""

from __future__ import annotations

from flask import g

from loyalty.db import utcnow
from loyalty.models import LoyaltyMember, LoyaltyTransaction, Reward, Voucher, VoucherStatus
from loyalty.models import LoyaltyTier as TierRow
from loyalty.models import Promotion as PromotionRow
from loyalty.models import Shop as ShopRow
from loyalty.services import vouchers
from web.api import schemas
from web.extensions import db

# Ledger rows written through the API carry the caller's order number under this type.
ORDER_REFERENCE = "order"


def member(row: LoyaltyMember) -> schemas.Member:
    customer = row.customer
    return schemas.Member(
        id=row.id,
        card_number=row.card_number,
        status=row.status.value,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        birthday=customer.birthday,
        language=customer.language,
        external_id=customer.external_id,
        points_balance=row.points_balance,
        lifetime_points=row.lifetime_points,
        tier=schemas.TierRef(id=row.tier.id, name=row.tier.name) if row.tier else None,
        enrolled_at=row.enrolled_at,
        last_activity_at=row.last_activity_at,
        erased=customer.erased_at is not None,
    )


def transaction(row: LoyaltyTransaction) -> schemas.Transaction:
    return schemas.Transaction(
        id=row.id,
        member_id=row.member_id,
        type=row.type.value,
        points=row.points,
        balance_after=row.balance_after,
        amount_cents=row.amount_cents,
        shop_id=row.shop_id,
        order_reference=row.reference_id if row.reference_type == ORDER_REFERENCE else None,
        reverses_id=row.reverses_id,
        description=row.description,
        created_at=row.created_at,
    )


def reward(row: Reward) -> schemas.Reward:
    return schemas.Reward(
        id=row.id,
        name=row.name,
        description=row.description,
        type=row.type.value,
        points_cost=row.points_cost,
        value=row.value,
        stock=row.stock,
        validity_days=row.validity_days,
        redemption_limit=row.redemption_limit.value,
        limit_days=row.limit_days,
    )


def voucher(row: Voucher) -> schemas.Voucher:
    now = utcnow()
    usable = row.status == VoucherStatus.ISSUED and row.valid_until > now
    status = row.status.value
    if row.status == VoucherStatus.ISSUED and not usable:
        status = VoucherStatus.EXPIRED.value  # past its date; the nightly job will mark it
    reason = vouchers.unusable_reason(db.session, voucher=row, merchant=g.api_key.merchant, now=now)
    return schemas.Voucher(
        code=row.code,
        status=status,
        member_id=row.member_id,
        reward_id=row.reward_id,
        reward_name=row.reward.name if row.reward else None,
        points_spent=row.points_spent,
        valid_until=row.valid_until,
        used_at=row.used_at,
        used_shop_id=row.used_shop_id,
        usable=usable,
        reason=reason,
    )


def promotion(row: PromotionRow) -> schemas.Promotion:
    return schemas.Promotion(
        id=row.id,
        name=row.name,
        type=row.type.value,
        value=str(row.value),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


def tier(row: TierRow) -> schemas.Tier:
    return schemas.Tier(
        id=row.id,
        name=row.name,
        min_points=row.min_points,
        earn_multiplier=str(row.earn_multiplier),
        qualification_window_days=row.qualification_window_days,
    )


def shop(row: ShopRow) -> schemas.Shop:
    return schemas.Shop(id=row.id, name=row.name, address=row.address, timezone=row.timezone)
