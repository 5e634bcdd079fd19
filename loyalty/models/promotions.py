"""Time-boxed offers applied to purchases, and the record of each time one applied."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum


class PromotionType(enum.StrEnum):
    BONUS_POINTS = "bonus_points"  # value: points added
    POINTS_MULTIPLIER = "points_multiplier"  # value: factor on the purchase's points
    DISCOUNT_PERCENT = "discount_percent"  # value: percent off the purchase
    DISCOUNT_FIXED = "discount_fixed"  # value: cents off the purchase
    FREE_ITEM = "free_item"  # value unused; the item is in the name


class Promotion(Base):
    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint("value >= 0", name="value_not_negative"),
        CheckConstraint("redemptions_count >= 0", name="count_not_negative"),
        Index("ix_promotions_program_window", "program_id", "active", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[PromotionType] = mapped_column(str_enum(PromotionType))
    value: Mapped[Decimal] = mapped_column(Numeric(12, 3), default=Decimal("0"))
    # {"min_spend_cents": 1000, "shop_ids": [1], "tier_ids": [2], "weekdays": [0, 5]}
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime | None]
    max_redemptions: Mapped[int | None]
    per_member_limit: Mapped[int | None]
    redemptions_count: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromotionRedemption(Base):
    __tablename__ = "promotion_redemptions"
    __table_args__ = (
        Index("ix_promotion_redemptions_promotion_member", "promotion_id", "member_id"),
        Index("ix_promotion_redemptions_transaction", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_transactions.id"))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="SET NULL"))
    points: Mapped[int] = mapped_column(default=0)
    discount_cents: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
