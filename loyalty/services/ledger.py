"""The one place that moves points: lock the member, write ledger row and lots, update the balance.

Every balance change in every service goes through `credit` or `debit` (or, for the hot earn
path and set-based expiry, a single SQL statement that keeps the same three things in step).
Invariant: points_balance + pending_points == Σ ledger points == Σ lots.remaining, none below
zero, and pending_points == Σ remaining of the lots still pending (services/pending.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
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
from loyalty.services import pending
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


def lot_inactivity_months(program: LoyaltyProgram) -> int | None:
    if program.expiry_policy == ExpiryPolicy.INACTIVITY and program.expiry_inactivity_months:
        return program.expiry_inactivity_months
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
    pending: int = 0,
    **details: object,
) -> LoyaltyTransaction:
    """Move the locked member's cached figures by signed `points` and write its ledger row.

    `pending` is the part of `points` that moves pending points rather than the spendable
    balance (a pending purchase, or a refund that takes back points still pending).
    """
    member.points_balance += points - pending
    member.pending_points += pending
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
    available_at: datetime | None = None,
) -> LoyaltyTransaction:
    """Add points to a locked member: one ledger row, one lot, the cached balance.

    With `available_at` the points are pending until then: counted, shown, not spendable.
    """
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
        available_at=available_at,
        pending=points if available_at is not None else 0,
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
                available_at=available_at,
                inactivity_months=lot_inactivity_months(member.program),
                created_at=now,
            )
        )
        session.flush()
    return transaction


def pending_in_lot(session: Session, transaction_id: int) -> int:
    """Points of this earn still pending (a refund inside the return window takes them back)."""
    return (
        session.scalar(
            select(func.sum(PointLot.remaining)).where(
                PointLot.transaction_id == transaction_id, PointLot.available_at.is_not(None)
            )
        )
        or 0
    )


def spendable(
    session: Session, member: LoyaltyMember, now: datetime, *, own_lot_of: int | None = None
) -> int:
    """What a debit may take from the locked member: the balance, after releasing pending
    points whose window has closed, plus, for a refund, its own sale's points still pending."""
    if member.pending_points:
        # A release expires the session's objects: the member reloads with its new figures.
        pending.release_due(session, now=now, member_id=member.id)
    own = pending_in_lot(session, own_lot_of) if own_lot_of is not None else 0
    return member.points_balance + own


def consume_lots(
    session: Session, *, member_id: int, points: int, prefer_lot_of: int | None = None
) -> int:
    """Take `points` from the member's open lots: a preferred lot first, then soonest to expire.

    Pending lots are not spendable, except the preferred one (a refund of that very sale).
    Returns how many of the points came from pending lots.
    """
    spendable_lot = PointLot.available_at.is_(None)
    if prefer_lot_of is not None:
        spendable_lot = spendable_lot | (PointLot.transaction_id == prefer_lot_of)
    lots = list(
        session.scalars(
            select(PointLot)
            .where(PointLot.member_id == member_id, PointLot.remaining > 0, spendable_lot)
            .order_by(PointLot.expires_at.asc().nulls_last(), PointLot.id)
            .with_for_update()
        )
    )
    if prefer_lot_of is not None:
        lots.sort(key=lambda lot: lot.transaction_id != prefer_lot_of)
    left = points
    from_pending = 0
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        lot.remaining -= take
        left -= take
        if lot.available_at is not None:
            from_pending += take
    if left:  # the cached balance said yes but the lots disagree: never paper over that
        raise RuntimeError(f"ledger out of step for member {member_id}: {left} points missing")
    session.flush()
    return from_pending


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
    if spendable(session, member, now, own_lot_of=prefer_lot_of) < points:
        held = f" ({member.pending_points} more are pending)" if member.pending_points else ""
        raise InsufficientPoints(
            f"This needs {points} points and the card has {member.points_balance}{held}."
        )
    from_pending = consume_lots(
        session, member_id=member.id, points=points, prefer_lot_of=prefer_lot_of
    )
    member.lifetime_points = max(0, member.lifetime_points - lifetime_points)
    transaction = _append(
        session,
        member=member,
        type=type,
        points=-points,
        pending=-from_pending,
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
