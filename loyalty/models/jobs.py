"""The worker's job history: one row per run that did something, failed, or holds a daily slot."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum


class JobOutcome(enum.StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


class JobRun(Base):
    """A run of a scheduled job.

    `run_key` makes a run happen once across worker copies: the nightly jobs insert
    (job, "programme 7 on 2026-05-01") before working, and a second worker's insert fails on
    the unique key. Continuous jobs (outbox delivery) leave it NULL: SKIP LOCKED shares their work.
    """

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "run_key"),
        Index("ix_job_runs_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    run_key: Mapped[str | None] = mapped_column(String(120))
    worker: Mapped[str] = mapped_column(String(120), default="")  # host:pid
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    outcome: Mapped[JobOutcome] = mapped_column(str_enum(JobOutcome), default=JobOutcome.RUNNING)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
