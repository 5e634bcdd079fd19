"""Dashboard figures the worker computes ahead for large programmes, so the page reads one row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow


class DashboardSnapshot(Base):
    """Every figure of one merchant's dashboard for one period, as of `computed_at`."""

    __tablename__ = "dashboard_snapshots"
    __table_args__ = (UniqueConstraint("merchant_id", "days"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    days: Mapped[int]
    # The offering the figures were computed under: a snapshot of another one is not shown.
    offering: Mapped[str] = mapped_column(String(20))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
