"""Where a chat with the bot stands: one row per chat and bot, so any bot process can answer next."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum
from loyalty.models.member import ChannelKind


class Conversation(Base):
    """A chat (Telegram chat id or phone number) talking to one bot or SMS number.

    `merchant_id` is the programme the chat is about right now: fixed for a merchant's own bot
    or number, chosen by a deep link or `JOIN <code>` on the platform's shared ones. `state` is
    what the bot waits for (a consent, a code, a confirmation) and `data` what it needs then.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "bot", "address"),
        Index("ix_conversations_merchant", "merchant_id"),
        Index("ix_conversations_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[ChannelKind] = mapped_column(str_enum(ChannelKind))
    # Which bot or number was written to: "platform", a bot id, or the SMS number called.
    bot: Mapped[str] = mapped_column(String(64), default="platform")
    address: Mapped[str] = mapped_column(String(254))  # Telegram chat id or E.164 phone
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(5), default="en")
    state: Mapped[str] = mapped_column(String(40), default="idle")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Opted out of messages before being a member (STOP from an unknown number).
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
