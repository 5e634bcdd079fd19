"""A CSV import of members: the saved upload, its column mapping, and how far the import has got."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow
from loyalty.models.columns import str_enum


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # saved and checked; waiting for its column mapping
    READY = "ready"  # mapped; the next step starts it
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class MemberImport(Base):
    """One uploaded file. The import advances in steps that each record where they stopped.

    `byte_offset` is the byte position after the last record handled, so a step reads on from
    there without holding the file, and a stopped import resumes where it was.
    """

    __tablename__ = "member_imports"
    __table_args__ = (Index("ix_member_imports_merchant_created", "merchant_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(500))  # the saved upload
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    header: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {"email": 2, "phone": 3, ...}: field -> column position in the file
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ImportStatus] = mapped_column(
        str_enum(ImportStatus), default=ImportStatus.UPLOADED
    )
    byte_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    line: Mapped[int] = mapped_column(default=1)  # last physical line read (1 = the header)
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_imported: Mapped[int] = mapped_column(default=0)
    rows_duplicate: Mapped[int] = mapped_column(default=0)
    rows_failed: Mapped[int] = mapped_column(default=0)
    # Size of the error report when the last step committed: a failed step's lines are cut off.
    report_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
