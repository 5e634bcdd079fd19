"""Members' wallet passes (Apple and Google) and the Apple devices registered for their updates."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum
from loyalty.models.member import LoyaltyMember


class WalletPlatform(enum.StrEnum):
    APPLE = "apple"
    GOOGLE = "google"


class WalletPass(Base):
    """One member's card on one platform. Its content is read from the member when it is served.

    `updated_at` moves when something outside the member changes what the pass shows (the
    programme's branding); the member's own `updated_at` covers balance, tier and name. A pass
    was last modified at the later of the two. `pushed_at` is the modification time that the
    devices (APNs) or Google have last been told about.
    """

    __tablename__ = "wallet_passes"
    __table_args__ = (
        UniqueConstraint("member_id", "platform"),
        Index("ix_wallet_passes_merchant", "merchant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    platform: Mapped[WalletPlatform] = mapped_column(str_enum(WalletPlatform))
    serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    # Apple sends it back as "Authorization: ApplePass <token>"; compared in constant time.
    authentication_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    pushed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Google lets a pass notify the holder at most 3 times in any 24 hours; these are the
    # balance Google was last sent and when the latest notifying updates went out (ISO, UTC).
    google_balance_shown: Mapped[int | None]
    google_notified_at: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")

    member: Mapped[LoyaltyMember] = relationship()
    registrations: Mapped[list[AppleRegistration]] = relationship(
        back_populates="wallet_pass", cascade="all, delete-orphan", passive_deletes=True
    )


class AppleRegistration(Base):
    """A device that installed an Apple pass and asked to be pushed when it changes."""

    __tablename__ = "apple_registrations"
    __table_args__ = (
        UniqueConstraint("device_library_identifier", "pass_id"),
        Index("ix_apple_registrations_pass", "pass_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_library_identifier: Mapped[str] = mapped_column(String(128))
    push_token: Mapped[str] = mapped_column(String(200))
    pass_id: Mapped[int] = mapped_column(ForeignKey("wallet_passes.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    wallet_pass: Mapped[WalletPass] = relationship(back_populates="registrations")
