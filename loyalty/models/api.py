"""The public API's own rows: merchants' API keys and the stored answers behind Idempotency-Key."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum
from loyalty.models.merchant import Merchant


class ApiScope(enum.StrEnum):
    READ = "read"  # GET only: reporting, look-ups
    WRITE = "write"  # everything, including earn, redeem and erase


class ApiKey(Base):
    """A secret a merchant's own system (POS, e-shop) sends as `Authorization: Bearer …`.

    Only the SHA-256 of the secret is stored: the full key is shown once, at creation. The
    secret is 40 random characters, so a plain hash (no salt, no stretching) is enough and
    lets one indexed look-up find the key on every request.
    """

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_merchant", "merchant_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80), default="")
    # The first characters of the key ("lk_live_4f9Qa"), shown in lists to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(24))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[ApiScope] = mapped_column(str_enum(ApiScope), default=ApiScope.WRITE)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    merchant: Mapped[Merchant] = relationship()


class IdempotencyRecord(Base):
    """One Idempotency-Key of one merchant: the request it was first used for and its answer.

    The row is inserted (and committed) before the work starts, so the unique constraint
    decides which of two concurrent requests does the work. `status_code` stays NULL while
    that request runs.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("merchant_id", "key"),
        Index("ix_api_idempotency_keys_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of method, path and the canonical JSON body: "the same request".
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the request doing the work started it; a stale one (a killed worker) is taken over.
    locked_at: Mapped[datetime | None] = mapped_column(default=utcnow)
