"""The one place that moves points: lock the member, write ledger row and lots, update the balance.

Every balance change in every service goes through `credit` or `debit` (or, for the hot earn
path and set-based expiry, a single SQL statement that keeps the same three things in step).
Invariant: points_balance == Σ ledger points == Σ lots.remaining, and none of them below zero.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    MemberNotActive,
    NotFound,
)
from loyalty.models import (
    ExpiryPolicy,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    MemberStatus,
    PointLot,
    TransactionType,
)
from loyalty.services.actors import Actor

MAX_KEY_LENGTH = 100
# Types whose credits count towards lifetime points (and so towards tiers).
LIFETIME_TYPES = frozenset({TransactionType.EARN, TransactionType.BONUS})
# What the member did themselves. A birthday bonus or a manager's correction is not activity:
# otherwise a yearly bonus would keep a dormant card's points from ever expiring.
ACTIVITY_TYPES = frozenset({TransactionType.EARN, TransactionType.REDEEM})


def check_key(idempotency_key: object) -> str:
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise InvalidInput("Every change needs an idempotency key.", field="idempotency_key")
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"Idempotency keys are at most {MAX_KEY_LENGTH} characters.", field="idempotency_key"
        )
    return idempotency_key


def lock_member(session: Session, member_id: int) -> LoyaltyMember:
    """SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers."""
    member = session.scalars(
        select(LoyaltyMember)
        .where(LoyaltyMember.id == member_id)
        .with_for_update(of=LoyaltyMember)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if member is None:
        raise NotFound("That member does not exist.")
    return member


def ensure_active(member: LoyaltyMember) -> None:
    if member.status != MemberStatus.ACTIVE:
        raise MemberNotActive(
            f"Card {member.card_number} is {member.status.value}: points cannot move on it."
        )


def find_replay(
    session: Session, *, program_id: int, idempotency_key: str
) -> LoyaltyTransaction | None:
    return session.scalars(
        select(LoyaltyTransaction).where(
            LoyaltyTransaction.program_id == program_id,
            LoyaltyTransaction.idempotency_key == idempotency_key,
        )
    ).one_or_none()


def ensure_same_operation(
    replay: LoyaltyTransaction, *, member_id: int, type: TransactionType, **expected: object
) -> LoyaltyTransaction:
    """A key reused for something else is a client bug; say so instead of returning a wrong result."""
    if (
        replay.member_id != member_id
        or replay.type != type
        or any(getattr(replay, name) != value for name, value in expected.items())
    ):
        raise IdempotencyConflict(
            "This idempotency key was already used for a different operation. "
            "Use a new key for a new operation."
        )
    return replay


def lot_expiry(program: LoyaltyProgram, now: datetime) -> datetime | None:
    if program.expiry_policy == ExpiryPolicy.AFTER_DAYS and program.expiry_days:
        return now + timedelta(days=program.expiry_days)
    return None


def _append(
    session: Session,
    *,
    member: LoyaltyMember,
    type: TransactionType,
    points: int,
    now: datetime,
    idempotency_key: str,
    actor: Actor,
    **details: object,
) -> LoyaltyTransaction:
    """Move the locked member's cached balance by signed `points` and write its ledger row."""
    member.points_balance += points
    if type in ACTIVITY_TYPES:
        member.last_activity_at = now
    transaction = LoyaltyTransaction(
        merchant_id=member.merchant_id,
        program_id=member.program_id,
        member_id=member.id,
        type=type,
        points=points,
        balance_after=member.points_balance,
        created_by=actor.user_id,
        idempotency_key=idempotency_key,
        created_at=now,
        **details,
    )
    session.add(transaction)
    session.flush()
    return transaction


def credit(
    session: Session,
    *,
    member: LoyaltyMember,
    type: TransactionType,
    points: int,
    now: datetime,
    idempotency_key: str,
    actor: Actor,
    expires_at: datetime | None = None,
    amount_cents: int | None = None,
    shop_id: int | None = None,
    description: str = "",
    reference_type: str | None = None,
    reference_id: str | None = None,
    reverses_id: int | None = None,
    carry_in_cents: int | None = None,
    carry_out_cents: int | None = None,
) -> LoyaltyTransaction:
    """Add points to a locked member: one ledger row, one lot, the cached balance."""
    if points < 0:
        raise ValueError("credit takes a non-negative number of points")
    if type in LIFETIME_TYPES:
        member.lifetime_points += points
    transaction = _append(
        session,
        member=member,
        type=type,
        points=points,
        now=now,
        idempotency_key=idempotency_key,
        actor=actor,
        amount_cents=amount_cents,
        shop_id=shop_id,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        reverses_id=reverses_id,
        carry_in_cents=carry_in_cents,
        carry_out_cents=carry_out_cents,
    )
    if points:
        session.add(
            PointLot(
                merchant_id=member.merchant_id,
                member_id=member.id,
                transaction_id=transaction.id,
                points=points,
                remaining=points,
                expires_at=expires_at,
                created_at=now,
            )
        )
        session.flush()
    return transaction


def consume_lots(
    session: Session, *, member_id: int, points: int, prefer_lot_of: int | None = None
) -> None:
    """Take `points` from the member's open lots: a preferred lot first, then soonest to expire."""
    lots = list(
        session.scalars(
            select(PointLot)
            .where(PointLot.member_id == member_id, PointLot.remaining > 0)
            .order_by(PointLot.expires_at.asc().nulls_last(), PointLot.id)
            .with_for_update()
        )
    )
    if prefer_lot_of is not None:
        lots.sort(key=lambda lot: lot.transaction_id != prefer_lot_of)
    left = points
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        lot.remaining -= take
        left -= take
    if left:  # the cached balance said yes but the lots disagree: never paper over that
        raise RuntimeError(f"ledger out of step for member {member_id}: {left} points missing")
    session.flush()


def debit(
    session: Session,
    *,
    member: LoyaltyMember,
    type: TransactionType,
    points: int,
    now: datetime,
    idempotency_key: str,
    actor: Actor,
    shop_id: int | None = None,
    amount_cents: int | None = None,
    description: str = "",
    reference_type: str | None = None,
    reference_id: str | None = None,
    reverses_id: int | None = None,
    prefer_lot_of: int | None = None,
    lifetime_points: int = 0,
) -> LoyaltyTransaction:
    """Take points from a locked member; refuses rather than let the balance go below zero."""
    if points <= 0:
        raise ValueError("debit takes a positive number of points")
    if member.points_balance < points:
        raise InsufficientPoints(
            f"This needs {points} points and the card has {member.points_balance}."
        )
    consume_lots(session, member_id=member.id, points=points, prefer_lot_of=prefer_lot_of)
    member.lifetime_points = max(0, member.lifetime_points - lifetime_points)
    transaction = _append(
        session,
        member=member,
        type=type,
        points=-points,
        now=now,
        idempotency_key=idempotency_key,
        actor=actor,
        amount_cents=amount_cents,
        shop_id=shop_id,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        reverses_id=reverses_id,
    )
    return transaction
