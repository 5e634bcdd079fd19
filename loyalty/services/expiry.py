"""Points expiry, set-based: a handful of statements whatever the number of members.

Each lot keeps the rule in force when it was earned (a date, or N months without a visit), so
changing the programme's policy never shortens points already earned.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    String,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    PointLot,
    TransactionType,
)
from loyalty.services import bulk_ledger, events


@dataclass(frozen=True)
class ExpiryRun:
    members: int
    points: int


def months_before(moment: datetime, months: int) -> datetime:
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _due_lots(session: Session, program: LoyaltyProgram, now: datetime) -> ColumnElement[bool]:
    """Open, spendable lots of this programme that expire by `now`, each by its own rule.

    A lot expires on its date, or after the months without a visit that the inactivity rule in
    force when it was earned said. Pending lots wait for their release: the return window
    outlasts an expiry date only in an odd configuration, and then the points expire at the
    first run after they are released.
    """
    # A lot belongs to its member's merchant, and a merchant runs one programme (a unique
    # key): the lot's own column says it is this programme's, with no join to the members.
    in_program = PointLot.merchant_id == program.merchant_id
    open_lot = (PointLot.remaining > 0) & PointLot.available_at.is_(None)
    expired = [PointLot.expires_at <= now]
    # Few distinct rules ever exist (one per policy change): one condition for each.
    rules = session.scalars(
        select(PointLot.inactivity_months)
        .where(PointLot.inactivity_months.is_not(None), PointLot.remaining > 0, in_program)
        .distinct()
    ).all()
    for months in rules:
        inactive = exists().where(
            LoyaltyMember.id == PointLot.member_id,
            LoyaltyMember.last_activity_at < months_before(now, months),
        )
        expired.append((PointLot.inactivity_months == months) & inactive)
    return open_lot & in_program & or_(*expired)


def _expire_in_one_statement(
    session: Session, program: LoyaltyProgram, due: ColumnElement[bool], now: datetime
) -> ExpiryRun:
    """PostgreSQL: sums, balances, ledger rows and lots in one data-modifying CTE.

    The members are locked by the caller first, so the statement's snapshot (taken after the
    locks) cannot miss a concurrent redeem. One pass to sum, one to zero the lots, instead of
    four: the bench (bench/expiry.py) holds it to 2x one bare UPDATE of the same lots.
    """
    key_prefix = f"expire:{now.isoformat()}:"
    per_member = (
        select(PointLot.member_id, func.sum(PointLot.remaining).label("points"))
        .where(due)
        .group_by(PointLot.member_id)
        .cte("per_member")
    )
    members = (
        update(LoyaltyMember)
        .where(LoyaltyMember.id == per_member.c.member_id)
        # onupdate defaults are not applied inside a CTE: the pass worker needs updated_at.
        .values(
            points_balance=LoyaltyMember.points_balance - per_member.c.points,
            updated_at=utcnow(),
        )
        .returning(
            LoyaltyMember.id,
            LoyaltyMember.merchant_id,
            LoyaltyMember.program_id,
            LoyaltyMember.points_balance,
            per_member.c.points,
        )
        .cte("expired_members")
    )
    ledger = (
        LoyaltyTransaction.__table__.insert()
        .from_select(
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
            select(
                members.c.merchant_id,
                members.c.program_id,
                members.c.id,
                literal(TransactionType.EXPIRE.value),
                -members.c.points,
                members.c.points_balance,  # RETURNING gives the balance after the update
                literal("Points expired"),
                literal(key_prefix) + cast(members.c.id, String),
                literal(now, LoyaltyTransaction.__table__.c.created_at.type),
            ),
        )
        .cte("expire_rows")
    )
    lots = update(PointLot).where(due).values(remaining=0).cte("expired_lots")
    totals = session.execute(
        select(func.count(), func.coalesce(func.sum(members.c.points), 0))
        .select_from(members)
        .add_cte(ledger, lots)
    ).one()
    if totals[0]:
        events.points_expired(session, program=program, key_prefix=key_prefix)
    session.expire_all()
    return ExpiryRun(members=totals[0], points=int(totals[1]))


def expire_points(
    session: Session, *, program: LoyaltyProgram, now: datetime | None = None
) -> ExpiryRun:
    now = now or utcnow()
    due = _due_lots(session, program, now)
    members_due = select(PointLot.member_id).where(due).distinct()
    if is_postgres(session):
        # The due members' set and their sums spill to disk at the default 4 MB in a big
        # programme; this transaction only (the nightly job's), not the server's setting.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        # Lock members first, in id order, as every other balance change does: no deadlocks.
        # NO KEY UPDATE still excludes every other balance change (they take FOR UPDATE) but
        # not the foreign-key checks of rows that merely point at the member; cheaper too.
        bulk_ledger.lock_members(
            session,
            select(PointLot.member_id).where(due),
            LoyaltyMember.program_id == program.id,
            key_share=True,
        )
        return _expire_in_one_statement(session, program, due, now)
    per_member = bulk_ledger.due_per_member(due)
    members, points = bulk_ledger.totals(session, per_member)
    if not members:
        return ExpiryRun(0, 0)
    key_prefix = f"expire:{now.isoformat()}:"
    bulk_ledger.append_per_member(
        session,
        per_member=per_member,
        type=TransactionType.EXPIRE,
        points=-per_member.c.points,
        balance_after=LoyaltyMember.points_balance - per_member.c.points,
        description=literal("Points expired"),
        key_prefix=key_prefix,
        now=now,
    )
    expiring = (
        select(func.sum(PointLot.remaining))
        .where(due, PointLot.member_id == LoyaltyMember.id)
        .scalar_subquery()
    )
    session.execute(
        update(LoyaltyMember)
        .where(LoyaltyMember.id.in_(members_due))
        .values(points_balance=LoyaltyMember.points_balance - expiring)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PointLot).where(due).values(remaining=0).execution_options(synchronize_session=False)
    )
    events.points_expired(session, program=program, key_prefix=key_prefix)
    session.expire_all()
    return ExpiryRun(members=members, points=points)
