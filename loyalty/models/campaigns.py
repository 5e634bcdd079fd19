"""Marketing to members: saved segments, campaigns sent through the outbox, and automations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum


class Segment(Base):
    """A saved filter over a merchant's members; `definition` is read by services.segments."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_merchant_name", "merchant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    # {"tier_ids": [3], "points_min": 100, "channels": ["sms"], "consents": [...], ...}
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class CampaignSchedule(enum.StrEnum):
    NOW = "now"  # starts when the owner presses Start
    AT = "at"  # once, at `send_at`
    RECURRING = "recurring"  # every `repeat_days` from `send_at`, each time as a new run


class Campaign(Base):
    """A message to a segment over channels in fallback order, queued set-based into the outbox.

    A recurring campaign is never sent itself: at each occurrence the campaigns-due job copies
    it into a run (a Campaign with `parent_id`), because the outbox keys messages by
    (campaign, member, channel) and a member must be able to get next week's message too.
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        # Two workers arming the same occurrence collide here instead of sending twice.
        UniqueConstraint("parent_id", "scheduled_for"),
        Index("ix_campaigns_merchant_created", "merchant_id", "created_at"),
        Index("ix_campaigns_due", "status", "next_run_at"),
        CheckConstraint("bonus_points >= 0", name="bonus_points_not_negative"),
        CheckConstraint("repeat_days IS NULL OR repeat_days > 0", name="repeat_days_positive"),
        CheckConstraint(
            "frequency_cap_days IS NULL OR frequency_cap_days > 0", name="cap_days_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    # None: every active member of the programme.
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    # Channel values in fallback order: ["telegram", "sms", "email"].
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {"default": "Hi {first_name} ..."} plus optional per-channel texts {"sms": "..."}.
    templates: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    subject: Mapped[str] = mapped_column(String(200), default="")  # e-mail only
    bonus_points: Mapped[int] = mapped_column(default=0)
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("rewards.id", ondelete="SET NULL"))
    schedule: Mapped[CampaignSchedule] = mapped_column(
        str_enum(CampaignSchedule), default=CampaignSchedule.NOW
    )
    send_at: Mapped[datetime | None]  # first (or only) occurrence, UTC
    repeat_days: Mapped[int | None]
    next_run_at: Mapped[datetime | None]  # what the campaigns-due job looks at
    # At most one campaign message per member within this many days (any campaign).
    frequency_cap_days: Mapped[int | None]
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime | None]  # the occurrence a run was made for
    # Counted when the audience is materialised; the outbox rows hold the rest.
    audience_count: Mapped[int] = mapped_column(default=0)
    unreachable_count: Mapped[int] = mapped_column(default=0)
    capped_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    segment: Mapped[Segment | None] = relationship()


class AutomationKey(enum.StrEnum):
    WELCOME_SERIES = "welcome_series"
    WIN_BACK = "win_back"
    EXPIRY_REMINDER = "expiry_reminder"
    TIER_UP = "tier_up"


class AutomationSetting(Base):
    """One automated campaign switched on or off for one merchant, with its settings.

    No row means the default of services.automations.DEFAULTS; jobs read the switch through
    `automations.is_enabled`.
    """

    __tablename__ = "automation_settings"
    __table_args__ = (UniqueConstraint("merchant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    key: Mapped[AutomationKey] = mapped_column(str_enum(AutomationKey, length=30))
    enabled: Mapped[bool] = mapped_column(default=False)
    # {"days": 60, "text": "We miss you, {first_name}!"}
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
