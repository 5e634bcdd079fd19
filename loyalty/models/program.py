"""The points programme a merchant runs, and its tiers."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum
from loyalty.models.merchant import Merchant
from loyalty.models.rewards import Reward


class RefundShortfall(enum.StrEnum):
    """What happens when a refunded purchase's points were already spent."""

    ABSORB = "absorb"  # the merchant writes them off
    CLAW_BACK = "claw_back"  # recorded as a debt, recovered from the member's next earnings


class FraudAction(enum.StrEnum):
    """What a velocity rule does when an earn crosses it (services/fraud.py)."""

    FLAG = "flag"  # the earn goes through and a manager sees an alert
    BLOCK = "block"  # the till is refused, nothing is written


class ProgramKind(enum.StrEnum):
    """What members collect: points on spend, or stamps on a card that gives a reward when full."""

    POINTS = "points"
    STAMPS = "stamps"


class StampPer(enum.StrEnum):
    VISIT = "visit"  # one stamp per purchase
    ITEM = "item"  # one stamp per item bought (the count entered at the till)


class Rounding(enum.StrEnum):
    FLOOR = "floor"
    ROUND = "round"  # half up
    CEIL = "ceil"


class ExpiryPolicy(enum.StrEnum):
    NONE = "none"
    AFTER_DAYS = "after_days"  # each lot expires N days after it was earned
    INACTIVITY = "inactivity"  # all points expire after N months without activity


class LoyaltyProgram(Base):
    __tablename__ = "loyalty_programs"
    __table_args__ = (
        CheckConstraint("points_per_euro >= 0", name="rate_not_negative"),
        CheckConstraint("signup_bonus >= 0 AND birthday_bonus >= 0", name="bonuses_not_negative"),
        CheckConstraint("pending_days >= 0 AND pending_days <= 60", name="pending_days_range"),
        CheckConstraint(
            "referrer_bonus >= 0 AND referee_bonus >= 0 AND referral_min_spend_cents >= 0",
            name="referral_terms_not_negative",
        ),
        CheckConstraint(
            "fraud_member_daily_earns > 0 AND fraud_max_earn_cents > 0"
            " AND fraud_staff_hourly_earns > 0 AND qr_max_age_days > 0",
            name="fraud_limits_positive",
        ),
        CheckConstraint(
            "membership_price_cents >= 0 AND membership_months >= 1 AND membership_months <= 60",
            name="membership_terms_range",
        ),
        CheckConstraint(
            "stamp_card_size >= 2 AND stamp_card_size <= 50", name="stamp_card_size_range"
        ),
        CheckConstraint("stamp_min_spend_cents >= 0", name="stamp_min_spend_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One programme per merchant to start; the unique constraint says so.
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    # Short code customers type or follow to join (SMS "JOIN <code>", Telegram deep link).
    join_code: Mapped[str] = mapped_column(String(20), unique=True)
    points_per_euro: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("1"))
    rounding: Mapped[Rounding] = mapped_column(str_enum(Rounding), default=Rounding.FLOOR)
    # Keep the part of a purchase below the next point for the member's next visit.
    carry_over_spend: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Days a purchase's points stay pending (the return window) before they can be spent.
    pending_days: Mapped[int] = mapped_column(default=0, server_default="0")
    # Referral programme (Plus and Enterprise): points for both when an invited friend's first
    # purchase of at least the minimum spend goes through. 0 and 0: no referral programme.
    referrer_bonus: Mapped[int] = mapped_column(default=0, server_default="0")
    referee_bonus: Mapped[int] = mapped_column(default=0, server_default="0")
    referral_min_spend_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    # Paid membership: a card is valid for `membership_months` from its payment and is renewed
    # at the till for the price; a lapsed card earns nothing (services/membership.py).
    paid_membership: Mapped[bool] = mapped_column(default=False, server_default=false())
    membership_price_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    membership_months: Mapped[int] = mapped_column(default=12, server_default="12")
    # Points (the default) or a stamp card. A stamp card uses the same ledger: a stamp is one
    # unit, the balance is the stamps on the current card, and a full card is spent on its
    # reward (services/stamps.py).
    kind: Mapped[ProgramKind] = mapped_column(
        str_enum(ProgramKind), default=ProgramKind.POINTS, server_default="points"
    )
    stamp_card_size: Mapped[int] = mapped_column(default=10, server_default="10")
    stamp_per: Mapped[StampPer] = mapped_column(
        str_enum(StampPer), default=StampPer.VISIT, server_default="visit"
    )
    # What a full card gives: a voucher for this catalogue reward (use_alter: rewards already
    # point at their programme, so the two tables reference each other).
    stamp_reward_id: Mapped[int | None] = mapped_column(
        ForeignKey("rewards.id", ondelete="SET NULL", use_alter=True)
    )
    # A purchase below this earns no stamp; per item, each stamp needs this much of the spend.
    stamp_min_spend_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    refund_shortfall: Mapped[RefundShortfall] = mapped_column(
        str_enum(RefundShortfall), default=RefundShortfall.ABSORB, server_default="absorb"
    )
    # Fraud controls (services/fraud.py): each limit None is off. Columns, not settings JSON:
    # the one-statement earn reads them to know whether a limit could trigger.
    fraud_member_daily_earns: Mapped[int | None] = mapped_column(default=10, server_default="10")
    fraud_member_daily_action: Mapped[FraudAction] = mapped_column(
        str_enum(FraudAction, name="fraud_member_daily_action"),
        default=FraudAction.FLAG,
        server_default="flag",
    )
    fraud_max_earn_cents: Mapped[int | None] = mapped_column(
        default=100_000, server_default="100000"
    )
    fraud_max_earn_action: Mapped[FraudAction] = mapped_column(
        str_enum(FraudAction, name="fraud_max_earn_action"),
        default=FraudAction.FLAG,
        server_default="flag",
    )
    fraud_staff_hourly_earns: Mapped[int | None] = mapped_column(default=120, server_default="120")
    fraud_staff_hourly_action: Mapped[FraudAction] = mapped_column(
        str_enum(FraudAction, name="fraud_staff_hourly_action"),
        default=FraudAction.FLAG,
        server_default="flag",
    )
    # The scanner warns when a card's QR code is older than this (None: never).
    qr_max_age_days: Mapped[int | None] = mapped_column(default=365, server_default="365")
    expiry_policy: Mapped[ExpiryPolicy] = mapped_column(
        str_enum(ExpiryPolicy), default=ExpiryPolicy.NONE
    )
    expiry_days: Mapped[int | None]
    expiry_inactivity_months: Mapped[int | None]
    signup_bonus: Mapped[int] = mapped_column(default=0)
    birthday_bonus: Mapped[int] = mapped_column(default=0)
    # {"bread": "2", "coffee": "1.5"}: multipliers applied to basket lines of that category.
    category_multipliers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    primary_color: Mapped[str] = mapped_column(String(7), default="#7a4b2a")
    secondary_color: Mapped[str] = mapped_column(String(7), default="#f5efe6")
    logo_path: Mapped[str | None] = mapped_column(String(300))
    terms_version: Mapped[str] = mapped_column(String(20), default="1")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the owner pressed "Go live" at the end of onboarding; None while still setting up.
    launched_at: Mapped[datetime | None]

    merchant: Mapped[Merchant] = relationship()
    stamp_reward: Mapped[Reward | None] = relationship(foreign_keys=[stamp_reward_id])
    tiers: Mapped[list[LoyaltyTier]] = relationship(
        back_populates="program", order_by="LoyaltyTier.min_points"
    )


class LoyaltyTier(Base):
    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        UniqueConstraint("program_id", "name"),
        CheckConstraint("min_points >= 0", name="min_points_not_negative"),
        CheckConstraint("earn_multiplier > 0", name="multiplier_positive"),
        Index("ix_loyalty_tiers_program_min", "program_id", "min_points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    min_points: Mapped[int] = mapped_column(default=0)
    # Points counted over this many days to qualify; None counts lifetime points.
    qualification_window_days: Mapped[int | None]
    # A column rather than a key in benefits: the earn statement reads it on every purchase.
    earn_multiplier: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal("1"))
    benefits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sort_order: Mapped[int] = mapped_column(default=0)

    program: Mapped[LoyaltyProgram] = relationship(back_populates="tiers")
