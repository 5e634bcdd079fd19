"""What members spend points on: rewards in the catalogue and the vouchers they become."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum


class RewardType(enum.StrEnum):
    DISCOUNT_FIXED = "discount_fixed"  # value: cents off
    DISCOUNT_PERCENT = "discount_percent"  # value: percent off
    FREE_ITEM = "free_item"  # a named product
    CUSTOM = "custom"  # anything else the merchant describes


# Every offering may run standard discount rewards; items and custom rewards are the Plus catalogue.
CUSTOM_REWARD_TYPES = frozenset({RewardType.FREE_ITEM, RewardType.CUSTOM})


class RedemptionLimit(enum.StrEnum):
    """How often one member may redeem a reward. Periods are the merchant's calendar."""

    REPEATABLE = "repeatable"  # as often as the points allow
    ONCE = "once"  # once per member, ever
    MONTH = "month"  # once per calendar month
    YEAR = "year"  # once per calendar year
    DAYS = "days"  # once every `limit_days` days (rolling)


class VoucherStatus(enum.StrEnum):
    ISSUED = "issued"
    USED = "used"
    VOID = "void"
    EXPIRED = "expired"


class Reward(Base):
    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("points_cost > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("validity_days > 0", name="validity_positive"),
        CheckConstraint(
            "(redemption_limit = 'days') = (limit_days IS NOT NULL AND limit_days > 0)",
            name="limit_days_with_rule",
        ),
        Index("ix_rewards_program_active", "program_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    type: Mapped[RewardType] = mapped_column(
        str_enum(RewardType), default=RewardType.DISCOUNT_FIXED
    )
    points_cost: Mapped[int]
    value: Mapped[int | None]
    stock: Mapped[int | None]  # None: unlimited
    validity_days: Mapped[int] = mapped_column(default=30)
    active: Mapped[bool] = mapped_column(default=True)
    redemption_limit: Mapped[RedemptionLimit] = mapped_column(
        str_enum(RedemptionLimit), default=RedemptionLimit.REPEATABLE
    )
    limit_days: Mapped[int | None]  # only for RedemptionLimit.DAYS
    # The reward's picture, relative to the upload folder (services/images.py); None: no picture.
    image_file: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("merchant_id", "code"),
        Index("ix_vouchers_member_status", "member_id", "status"),
        Index("ix_vouchers_member_reward", "member_id", "reward_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("rewards.id", ondelete="SET NULL"))
    promotion_id: Mapped[int | None] = mapped_column(
        ForeignKey("promotions.id", ondelete="SET NULL")
    )
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_transactions.id"))
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[VoucherStatus] = mapped_column(
        str_enum(VoucherStatus), default=VoucherStatus.ISSUED
    )
    points_spent: Mapped[int] = mapped_column(default=0)
    valid_until: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="SET NULL"))
    used_key: Mapped[str | None] = mapped_column(String(100))
    # The staff user who accepted it at the till (None: the API or an older voucher).
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    reward: Mapped[Reward | None] = relationship()
