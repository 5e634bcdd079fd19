"""The WalletPass rows behind members' cards: created on first download, found by serial, dated."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import LoyaltyMember, LoyaltyProgram, WalletPass, WalletPlatform


def new_serial() -> str:
    return secrets.token_hex(16)


def new_authentication_token() -> str:
    # Apple asks for at least 16 characters; 32 URL-safe characters carry 192 bits.
    return secrets.token_urlsafe(24)


def pass_for(session: Session, member: LoyaltyMember, platform: WalletPlatform) -> WalletPass:
    """The member's pass on `platform`, created the first time it is asked for."""
    wallet_pass = session.scalars(
        select(WalletPass).where(WalletPass.member_id == member.id, WalletPass.platform == platform)
    ).one_or_none()
    if wallet_pass is not None:
        return wallet_pass
    now = utcnow()
    wallet_pass = WalletPass(
        merchant_id=member.merchant_id,
        member_id=member.id,
        platform=platform,
        serial_number=new_serial(),
        authentication_token=new_authentication_token(),
        created_at=now,
        updated_at=now,
        # Nothing to announce for changes made before the pass existed: it shows them already.
        pushed_at=max(now, member.updated_at),
    )
    # A concurrent first download may insert the same pass: keep whichever lands first.
    try:
        with session.begin_nested():
            session.add(wallet_pass)
            session.flush()
    except IntegrityError:  # the savepoint is rolled back, the session goes on
        existing = session.scalars(
            select(WalletPass).where(
                WalletPass.member_id == member.id, WalletPass.platform == platform
            )
        ).one_or_none()
        if existing is None:
            raise
        return existing
    return wallet_pass


def by_serial(session: Session, serial: str) -> WalletPass | None:
    if not serial or len(serial) > 64:
        return None
    return session.scalars(
        select(WalletPass).where(WalletPass.serial_number == serial)
    ).one_or_none()


def last_modified(wallet_pass: WalletPass) -> datetime:
    """When what the pass shows last changed: the member's data or the pass itself (branding)."""
    return max(wallet_pass.updated_at, wallet_pass.member.updated_at)


def branding_changed(session: Session, program: LoyaltyProgram, at: datetime | None = None) -> int:
    """Call after a programme's name, colours or logo change: every pass of it is re-sent.

    One statement, however many passes; `queue_pass_updates` then pushes them.
    """
    result = session.execute(
        update(WalletPass)
        .where(
            WalletPass.member_id.in_(
                select(LoyaltyMember.id).where(LoyaltyMember.program_id == program.id)
            )
        )
        .values(updated_at=at or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
