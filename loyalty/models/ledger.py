"""The append-only points ledger and the lots that remember which points expire when."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import partial_index, str_enum


class TransactionType(enum.StrEnum):
    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    ADJUST = "adjust"
    REVERSE = "reverse"
    BONUS = "bonus"
    # Pending points of a purchase became available: 0 points (the earn row counted them),
    # the available balance moves. Written by services.pending only.
    RELEASE = "release"
    # A paid membership period bought or extended: 0 points, the amount paid, the new end date
    # in reference_id. Written by services.membership only.
    MEMBERSHIP = "membership"


class LoyaltyTransaction(Base):
    """One movement of points. Rows are never updated or deleted: corrections are new rows."""

    __tablename__ = "loyalty_transactions"
    __table_args__ = (
        UniqueConstraint("program_id", "idempotency_key"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        # A row belongs to its member's merchant and programme, checked by the database: one
        # key lookup per row instead of one for each of the member, merchant and programme.
        ForeignKeyConstraint(
            ["member_id", "merchant_id", "program_id"],
            ["loyalty_members.id", "loyalty_members.merchant_id", "loyalty_members.program_id"],
            ondelete="CASCADE",
        ),
        Index("ix_loyalty_transactions_member_created", "member_id", "created_at"),
        Index("ix_loyalty_transactions_merchant_created", "merchant_id", "created_at"),
        # The four below hold only the rows that have the column: the rows the jobs write
        # (expiry, bonuses) have neither shop, staff, reversal nor reference, and skip them.
        partial_index(
            "ix_loyalty_transactions_reverses", "reverses_id", where="reverses_id IS NOT NULL"
        ),
        # The back-office's "visited this shop" member filter (a semi-join on shop).
        partial_index(
            "ix_loyalty_transactions_shop_member",
            "shop_id",
            "member_id",
            where="shop_id IS NOT NULL",
        ),
        # Fraud controls count a staff user's earns in the last hour (services/fraud.py).
        partial_index(
            "ix_loyalty_transactions_actor_created",
            "created_by",
            "created_at",
            where="created_by IS NOT NULL",
        ),
        partial_index(
            "ix_loyalty_transactions_reference",
            "merchant_id",
            "reference_type",
            "reference_id",
            where="reference_id IS NOT NULL",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int]
    program_id: Mapped[int]
    member_id: Mapped[int]
    type: Mapped[TransactionType] = mapped_column(str_enum(TransactionType))
    points: Mapped[int]  # signed: credits positive, debits negative
    balance_after: Mapped[int]
    amount_cents: Mapped[int | None]
    # With carry-over: the member's unconverted spend before and after this purchase.
    carry_in_cents: Mapped[int | None]
    carry_out_cents: Mapped[int | None]
    # Points held for the merchant's return window become available then (None: at once).
    available_at: Mapped[datetime | None]
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="SET NULL"))
    reference_type: Mapped[str | None] = mapped_column(String(40))
    reference_id: Mapped[str | None] = mapped_column(String(64))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_transactions.id"))
    description: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointLot(Base):
    """Points credited together. Debits consume lots oldest-first; expiry zeroes what remains."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_within_points"),
        partial_index(
            "ix_point_lots_member_open",
            "member_id",
            "expires_at",
            "id",
            where="remaining > 0",
        ),
        partial_index(
            "ix_point_lots_expiry",
            "expires_at",
            where="remaining > 0",
        ),
        Index("ix_point_lots_transaction", "transaction_id"),
        partial_index(
            "ix_point_lots_inactivity",
            "inactivity_months",
            where="inactivity_months IS NOT NULL AND remaining > 0",
        ),
        partial_index(
            "ix_point_lots_pending",
            "available_at",
            where="available_at IS NOT NULL",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_transactions.id", ondelete="CASCADE")
    )
    points: Mapped[int]
    remaining: Mapped[int]
    expires_at: Mapped[datetime | None]
    # Set while the lot is pending (the return window); cleared when it becomes available.
    available_at: Mapped[datetime | None]
    # The inactivity rule in force when the lot was earned: its points expire after this many
    # months without a visit. A later change of the programme's policy does not touch it.
    inactivity_months: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    transaction: Mapped[LoyaltyTransaction] = relationship()
