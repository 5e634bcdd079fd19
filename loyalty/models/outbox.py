"""Messages waiting to leave the system; a worker delivers them (see jobs/)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow
from loyalty.models.columns import partial_index, str_enum


class OutboxChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    TELEGRAM = "telegram"
    APPLE = "apple"
    GOOGLE = "google"
    WEBHOOK = "webhook"


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("campaign_id", "member_id", "channel"),
        UniqueConstraint("merchant_id", "dedupe_key"),
        # The delivery loop's claim: the next due messages of a channel, in order, straight off
        # this index (a few hundred rows however long the queue). Only messages still to
        # send are in it, so a sent message leaves it and costs it nothing more.
        partial_index(
            "ix_outbox_messages_pending",
            "channel",
            "next_attempt_at",
            "id",
            where="status IN ('queued', 'sending')",
        ),
        Index("ix_outbox_messages_merchant_created", "merchant_id", "created_at"),
        # A campaign's progress bar counts its rows by status.
        Index("ix_outbox_messages_campaign_status", "campaign_id", "status"),
        # The frequency cap looks for a member's recent campaign messages.
        Index("ix_outbox_messages_member_created", "member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for platform mail that belongs to no business (a password reset): it never shows
    # on a merchant's sent-mail page.
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_members.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    channel: Mapped[OutboxChannel] = mapped_column(str_enum(OutboxChannel))
    template: Mapped[str] = mapped_column(String(60))  # "welcome", "receipt", ...
    address: Mapped[str] = mapped_column(String(254), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Makes a transactional message idempotent: "welcome:member:42" is queued once.
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    provider_id: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class SendSlot(Base):
    """The next free send time of one rate-limited provider, shared by every worker copy.

    See loyalty.notify.pacing: each send reserves the next slot with one UPDATE, so a limit
    holds across processes. Seconds since the epoch as a float, not a timestamp, so that the
    reservation is one portable arithmetic statement with sub-millisecond spacing.
    """

    __tablename__ = "send_slots"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)  # "sms", "telegram", ...
    next_at: Mapped[float] = mapped_column(Float(precision=53), default=0.0)
