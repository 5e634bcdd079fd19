"""Fraud controls: the velocity rules a merchant sets, and the alerts a flagged earn leaves."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum
from loyalty.models.member import LoyaltyMember
from loyalty.models.program import FraudAction

__all__ = ["AlertStatus", "FraudAction", "FraudAlert", "FraudRule"]


class FraudRule(enum.StrEnum):
    MEMBER_DAILY_EARNS = "member_daily_earns"  # more than N earns by one card in 24 hours
    EARN_AMOUNT = "earn_amount"  # one purchase above an amount
    STAFF_HOURLY_EARNS = "staff_hourly_earns"  # more than M earns by one staff user in an hour


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # looked at: it was real and has been dealt with
    DISMISSED = "dismissed"  # looked at: nothing wrong


class FraudAlert(Base):
    """An earn that crossed a rule set to "flag". One row per rule crossed."""

    __tablename__ = "fraud_alerts"
    __table_args__ = (
        CheckConstraint("observed >= 0 AND threshold >= 0", name="figures_not_negative"),
        # The back-office list: a merchant's open alerts, newest first.
        Index("ix_fraud_alerts_merchant_status_created", "merchant_id", "status", "created_at"),
        Index("ix_fraud_alerts_transaction", "transaction_id"),
        Index("ix_fraud_alerts_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_transactions.id", ondelete="SET NULL")
    )
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="SET NULL"))
    rule: Mapped[FraudRule] = mapped_column(str_enum(FraudRule, length=30))
    amount_cents: Mapped[int | None]
    # What was seen against the limit: earns in the window (this one included) or the amount.
    observed: Mapped[int]
    threshold: Mapped[int]
    status: Mapped[AlertStatus] = mapped_column(str_enum(AlertStatus), default=AlertStatus.OPEN)
    note: Mapped[str] = mapped_column(String(500), default="")
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[LoyaltyMember] = relationship()
