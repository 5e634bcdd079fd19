"""Set-based ledger steps shared by the jobs that move many members' points at once.

Expiry and the release of pending points both: lock the members concerned in id order, sum the
due lots per member, and write one ledger row per member from a single INSERT … SELECT.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, String, Subquery, cast, func, literal, select
from sqlalchemy.orm import Session

from loyalty.models import LoyaltyMember, LoyaltyTransaction, PointLot, TransactionType


def lock_members(
    session: Session,
    member_ids: Select,
    *conditions: ColumnElement[bool],
    key_share: bool = False,
) -> None:
    """PostgreSQL only: lock these members in id order, as every other balance change does,
    so that a bulk job and a till never deadlock. `key_share` takes FOR NO KEY UPDATE."""
    locked = (
        select(LoyaltyMember.id)
        .where(LoyaltyMember.id.in_(member_ids), *conditions)
        .order_by(LoyaltyMember.id)
        .with_for_update(key_share=key_share)
        .subquery()
    )
    session.execute(select(func.count()).select_from(locked))


def due_per_member(due: ColumnElement[bool]) -> Subquery:
    """member_id and the points of their lots matching `due`."""
    return (
        select(PointLot.member_id, func.sum(PointLot.remaining).label("points"))
        .where(due)
        .group_by(PointLot.member_id)
        .subquery()
    )


def totals(session: Session, per_member: Subquery) -> tuple[int, int]:
    """(members, points) of a `due_per_member` subquery."""
    members, points = session.execute(
        select(func.count(), func.coalesce(func.sum(per_member.c.points), 0))
    ).one()
    return members, int(points)


def append_per_member(
    session: Session,
    *,
    per_member: Subquery,
    type: TransactionType,
    points: ColumnElement[int],
    balance_after: ColumnElement[int],
    description: ColumnElement[str],
    key_prefix: str,
    now: datetime,
    only_positive: bool = False,
) -> None:
    """One ledger row per member of `per_member`, keyed `<key_prefix><member id>`."""
    rows = select(
        LoyaltyMember.merchant_id,
        LoyaltyMember.program_id,
        LoyaltyMember.id,
        literal(type.value),
        points,
        balance_after,
        description,
        literal(key_prefix) + cast(LoyaltyMember.id, String),
        literal(now, LoyaltyTransaction.__table__.c.created_at.type),
    ).join(per_member, per_member.c.member_id == LoyaltyMember.id)
    if only_positive:
        rows = rows.where(per_member.c.points > 0)
    session.execute(
        LoyaltyTransaction.__table__.insert().from_select(
            [
                "merchant_id",
                "program_id",
                "member_id",
                "type",
                "points",
                "balance_after",
                "description",
                "idempotency_key",
                "created_at",
            ],
            rows,
        )
    )
