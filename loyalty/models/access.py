"""Single-use sign-in links for members: only a hash of each link is kept, with its expiry and use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow


class MemberAccessToken(Base):
    __tablename__ = "member_access_tokens"
    __table_args__ = (Index("ix_member_access_tokens_member", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    # SHA-256 of the signed link token: a copy of the table opens no member page.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20), default="sign_in")  # welcome | sign_in
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
