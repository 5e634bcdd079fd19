"""Customers of one merchant, their membership card in its programme and the channels that reach them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import partial_index, str_enum
from loyalty.models.program import LoyaltyProgram, LoyaltyTier


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class ChannelKind(enum.StrEnum):
    TELEGRAM = "telegram"
    SMS = "sms"
    EMAIL = "email"
    APPLE_DEVICE = "apple_device"
    GOOGLE = "google"


class Customer(Base):
    """A person as one merchant knows them. The same person at another merchant is another row."""

    __tablename__ = "customers"
    __table_args__ = (
        # One customer per e-mail and per phone within a merchant; enrolment reports duplicates.
        partial_index(
            "uq_customers_merchant_email",
            "merchant_id",
            "email",
            unique=True,
            where="email IS NOT NULL",
        ),
        partial_index(
            "uq_customers_merchant_phone",
            "merchant_id",
            "phone",
            unique=True,
            where="phone IS NOT NULL",
        ),
        # Pattern ops so that PostgreSQL serves `LIKE 'pre%'` from the index in any collation.
        Index(
            "ix_customers_merchant_name",
            "merchant_id",
            "name_search",
            postgresql_ops={"name_search": "varchar_pattern_ops"},
        ),
        # The merchant's own customer number (POS, e-shop): the API looks members up by it.
        partial_index(
            "uq_customers_merchant_external_id",
            "merchant_id",
            "external_id",
            unique=True,
            where="external_id IS NOT NULL",
        ),
        Index(
            "ix_customers_merchant_email_prefix",
            "merchant_id",
            "email",
            postgresql_ops={"email": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120), default="")
    # Lower-cased, accent-free name for prefix search with an index on every database.
    name_search: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    birthday: Mapped[date | None]
    language: Mapped[str] = mapped_column(String(5), default="en")
    # {"terms": {"granted": true, "at": iso, "version": "1"}, "marketing_email": {...}}
    consents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]


class LoyaltyMember(Base):
    __tablename__ = "loyalty_members"
    __table_args__ = (
        UniqueConstraint("program_id", "card_number"),
        UniqueConstraint("program_id", "enrollment_key"),
        UniqueConstraint("program_id", "referral_code"),
        # What a ledger row's foreign key points at: the member, its merchant and programme.
        UniqueConstraint("id", "merchant_id", "program_id"),
        CheckConstraint("points_balance >= 0", name="balance_not_negative"),
        CheckConstraint("lifetime_points >= 0", name="lifetime_not_negative"),
        CheckConstraint("spend_carry_cents >= 0", name="carry_not_negative"),
        CheckConstraint("pending_points >= 0", name="pending_not_negative"),
        CheckConstraint("points_debt >= 0", name="debt_not_negative"),
        Index("ix_loyalty_members_merchant_enrolled", "merchant_id", "enrolled_at"),
        Index("ix_loyalty_members_program_activity", "program_id", "last_activity_at"),
        # The daily lapse job: paid periods of a programme that have ended.
        partial_index(
            "ix_loyalty_members_program_membership",
            "program_id",
            "membership_expires_at",
            where="membership_expires_at IS NOT NULL",
        ),
        # The member list's "last visit" filter and its count: with the tier and status
        # included, PostgreSQL counts a filtered list from the index alone. Neither the balance
        # nor `updated_at` is in any index: a change of balance alone (expiry, a bonus) rewrites
        # the row in place, HOT, on the room fillfactor 50 leaves (migration d3a7f1c5e820).
        Index(
            "ix_loyalty_members_merchant_activity",
            "merchant_id",
            "last_activity_at",
            postgresql_include=["tier_id", "status"],
        ),
        # Card number prefix search in the back-office (the unique key is per programme, and
        # without pattern ops PostgreSQL cannot serve `LIKE '1234%'` from it in every collation).
        Index(
            "ix_loyalty_members_merchant_card",
            "merchant_id",
            "card_number",
            postgresql_ops={"card_number": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    card_number: Mapped[str] = mapped_column(String(20))
    # Part of the HMAC key of the member's QR token; rotating it revokes every printed token.
    qr_secret: Mapped[str] = mapped_column(String(32))
    # When the current secret was made (None: at enrolment): the scanner shows the code's age.
    qr_issued_at: Mapped[datetime | None]
    # The secret before the last rotation, kept so the scanner can say "replaced" rather
    # than "forged" when an old screenshot is shown. Never accepted.
    qr_previous_secret: Mapped[str | None] = mapped_column(String(32))
    points_balance: Mapped[int] = mapped_column(default=0)
    lifetime_points: Mapped[int] = mapped_column(default=0)
    # Spend not yet turned into a point when the programme carries remainders over (in cents
    # at the base rate): €2 of a €32 purchase at "1 point per €5" counts on the next visit.
    spend_carry_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    # Points of recent purchases still inside the return window: shown, not yet spendable.
    # points_balance is what can be spent; the ledger holds balance + pending.
    pending_points: Mapped[int] = mapped_column(default=0, server_default="0")
    # Points of refunded purchases that had already been spent, to be recovered from the
    # member's next earnings (when the programme claws back rather than absorbs).
    points_debt: Mapped[int] = mapped_column(default=0, server_default="0")
    # The code in this member's "invite a friend" link; given when first asked for.
    referral_code: Mapped[str | None] = mapped_column(String(16))
    # With a paid membership: the instant the paid period ends (the merchant's local midnight
    # after the last valid day). None: never paid. Ignored when the programme is free.
    membership_expires_at: Mapped[datetime | None]
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_tiers.id", ondelete="SET NULL"))
    status: Mapped[MemberStatus] = mapped_column(
        str_enum(MemberStatus), default=MemberStatus.ACTIVE
    )
    enrollment_key: Mapped[str | None] = mapped_column(String(100))
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Any change a wallet pass shows (balance, tier, name): what pass refreshes look for.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship()
    program: Mapped[LoyaltyProgram] = relationship()
    tier: Mapped[LoyaltyTier | None] = relationship()
    channels: Mapped[list[ChannelIdentity]] = relationship(back_populates="member")


class ChannelIdentity(Base):
    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("merchant_id", "kind", "address"),
        Index("ix_channel_identities_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    kind: Mapped[ChannelKind] = mapped_column(str_enum(ChannelKind))
    address: Mapped[str] = mapped_column(String(254))
    verified_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[LoyaltyMember] = relationship(back_populates="channels")
