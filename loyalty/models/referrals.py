"""Members who invited a friend, and whether the friend's first qualifying purchase has paid out."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum


class ReferralStatus(enum.StrEnum):
    PENDING = "pending"  # the friend joined; their first qualifying purchase is awaited
    REWARDED = "rewarded"


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("referrer_id <> referee_id", name="not_self"),
        Index("ix_referrals_referrer", "referrer_id"),
        Index("ix_referrals_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    referrer_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    # A member is referred once: the unique constraint says so.
    referee_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_members.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[ReferralStatus] = mapped_column(
        str_enum(ReferralStatus), default=ReferralStatus.PENDING
    )
    qualifying_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_transactions.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rewarded_at: Mapped[datetime | None]
