"""Pending points: a purchase's points held for the merchant's return window, then released.

While pending they are on the ledger (the earn row) and in a lot marked `available_at`, and the
member's `pending_points` counts them; `points_balance` (what can be spent) does not. Release is
set-based, whatever the number of members: one RELEASE row per member (0 points, the new
available balance), the cached figures moved, the lots unmarked. The worker runs it every few
minutes; a debit runs it for its own member first, so a redemption never waits for the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import LoyaltyMember, PointLot, TransactionType
from loyalty.services import bulk_ledger

MAX_PENDING_DAYS = 60


@dataclass(frozen=True)
class ReleaseRun:
    members: int
    points: int


@dataclass(frozen=True)
class PendingPoints:
    available_at: datetime
    points: int


def pending_by_date(session: Session, *, member_id: int, limit: int = 5) -> list[PendingPoints]:
    """What the member is waiting for, soonest first: shown on the card page, till and in chat."""
    rows = session.execute(
        select(PointLot.available_at, func.sum(PointLot.remaining))
        .where(
            PointLot.member_id == member_id,
            PointLot.available_at.is_not(None),
            PointLot.remaining > 0,
        )
        .group_by(PointLot.available_at)
        .order_by(PointLot.available_at)
        .limit(limit)
    ).all()
    return [PendingPoints(at, int(points)) for at, points in rows]


def release_due(
    session: Session, *, now: datetime | None = None, member_id: int | None = None
) -> ReleaseRun:
    """Make available every pending lot whose return window has closed by `now`."""
    now = now or utcnow()
    due = PointLot.available_at.is_not(None) & (PointLot.available_at <= now)
    if member_id is not None:
        due = due & (PointLot.member_id == member_id)
    session.flush()
    members_due = select(PointLot.member_id).where(due).distinct()
    if is_postgres(session):
        bulk_ledger.lock_members(session, members_due)
    per_member = bulk_ledger.due_per_member(due)
    members, points = bulk_ledger.totals(session, per_member)
    if not members:
        return ReleaseRun(0, 0)
    bulk_ledger.append_per_member(
        session,
        per_member=per_member,
        type=TransactionType.RELEASE,
        points=literal(0),
        balance_after=LoyaltyMember.points_balance + per_member.c.points,
        description=cast(per_member.c.points, String) + literal(" pending points now available"),
        key_prefix=f"release:{now.isoformat()}:",
        now=now,
        only_positive=True,
    )
    releasing = (
        select(func.sum(PointLot.remaining))
        .where(due, PointLot.member_id == LoyaltyMember.id)
        .scalar_subquery()
    )
    session.execute(
        update(LoyaltyMember)
        .where(LoyaltyMember.id.in_(members_due))
        .values(
            points_balance=LoyaltyMember.points_balance + releasing,
            pending_points=LoyaltyMember.pending_points - releasing,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PointLot)
        .where(due)
        .values(available_at=None)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return ReleaseRun(members=members, points=points)
