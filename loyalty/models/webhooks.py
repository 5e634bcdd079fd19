"""Outgoing webhooks (Enterprise): where a merchant's systems want events, and every delivery attempt.

The event itself travels on an outbox row (channel "webhook", one row per endpoint), so it is
written in the same transaction as the change it reports and delivered by the one worker loop
with its retries and backoff. `WebhookDelivery` is the log of each HTTP attempt the back-office
shows: response code, a bit of the response, how long it took.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, utcnow


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    # Looked up on every event the merchant emits: "this merchant's active endpoints".
    __table_args__ = (Index("ix_webhook_endpoints_merchant_active", "merchant_id", "disabled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Event type names ("points.earned", ...); see loyalty.services.events.EVENT_TYPES.
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Shown to the owner (the receiver needs it to check signatures), so stored as is.
    secret: Mapped[str] = mapped_column(String(80))
    secret_rotated_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    # Failed attempts in a row (reset by any success), and when the streak began: together
    # they decide the automatic disabling (a burst of failures in one bad minute is not enough).
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} {self.url}>"


class WebhookDelivery(Base):
    """One HTTP attempt to deliver one event to one endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_outbox_message_id", "outbox_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # The outbox row carrying the event: what the resend button queues again.
    outbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(60))
    # The exact body sent, so the log shows what the receiver got.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempt: Mapped[int] = mapped_column(default=1)
    status_code: Mapped[int | None]  # None: no HTTP answer (timeout, refused, DNS)
    response_excerpt: Mapped[str] = mapped_column(String(500), default="")
    duration_ms: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    endpoint: Mapped[WebhookEndpoint] = relationship()
