"""Tenants and the people who work for them: merchants, shops, users and their memberships."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    or_,
    select,
)
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum


class Offering(enum.StrEnum):
    BASIC = "basic"
    PLUS = "plus"
    ENTERPRISE = "enterprise"


class MerchantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Role(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    STAFF = "staff"


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (
        # Host names compare case-insensitively; storing them lower-cased keeps the unique
        # constraint honest on every database.
        CheckConstraint("custom_domain = lower(custom_domain)", name="custom_domain_lower"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    offering: Mapped[Offering] = mapped_column(str_enum(Offering), default=Offering.BASIC)
    status: Mapped[MerchantStatus] = mapped_column(
        str_enum(MerchantStatus), default=MerchantStatus.ACTIVE
    )
    default_country: Mapped[str] = mapped_column(String(2), default="LU")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Luxembourg")
    branding: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The merchant's own host name for its public pages (Enterprise white-label), e.g.
    # "rewards.example.com"; set through services.merchants.set_custom_domain only.
    custom_domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shops: Mapped[list[Shop]] = relationship(back_populates="merchant", order_by="Shop.name")

    def __repr__(self) -> str:
        return f"<Merchant {self.id} {self.slug} {self.offering}>"


def merchant_not_suspended(merchant_id: Any) -> ColumnElement[bool]:
    """SQL truth of "this row's merchant is not suspended", for the jobs that hold its work.

    A NULL merchant (platform mail) is never suspended. Written as NOT IN the (short) list of
    suspended merchants, not as NOT EXISTS: PostgreSQL then keeps reading an index in order
    (the outbox claim's) and filters, instead of joining every due row and sorting them.
    """
    suspended = select(Merchant.id).where(Merchant.status == MerchantStatus.SUSPENDED)
    return or_(merchant_id.is_(None), merchant_id.not_in(suspended.scalar_subquery()))


class Shop(Base):
    __tablename__ = "shops"
    __table_args__ = (Index("ix_shops_merchant_name", "merchant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(300), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Luxembourg")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    merchant: Mapped[Merchant] = relationship(back_populates="shops")


class User(Base):
    """A person who signs in: merchant staff or a platform admin. Customers are not users."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Part of the id a session stores (get_id): raising it signs every other session out.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", foreign_keys="Membership.user_id"
    )

    # The four attributes Flask-Login expects, written out so the core needs no Flask import.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # Flask-Login's "alternative token": a session (or remember cookie) made before the
        # last password reset or change names an old version and loads no user.
        return f"{self.id}:{self.session_version}"

    def end_other_sessions(self) -> None:
        """After a password reset or change: sessions made before it no longer sign in."""
        self.session_version = (self.session_version or 0) + 1


class Membership(Base):
    """A user's role in one merchant, optionally tied to one shop (shop staff)."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "merchant_id"),
        Index("ix_memberships_merchant", "merchant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    # No ON DELETE SET NULL: staff of a deleted shop must not silently become staff of all shops.
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    # A switched-off membership keeps its history (audit, who served whom) but opens nothing.
    active: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships", foreign_keys=[user_id])
    merchant: Mapped[Merchant] = relationship()
    shop: Mapped[Shop | None] = relationship()
