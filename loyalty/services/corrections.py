"""Corrections, always as new ledger rows: manual adjustments and refunds of purchases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, NotFound, NothingToReverse
from loyalty.models import LoyaltyMember, LoyaltyTransaction, Role, Shop, TransactionType
from loyalty.money import euros
from loyalty.services import audit, debt, ledger, stamps
from loyalty.services.actors import Actor

MAX_ADJUSTMENT = 1_000_000


def adjust(
    session: Session,
    *,
    member: LoyaltyMember,
    points: int,
    reason: str,
    idempotency_key: str,
    actor: Actor,
    now: datetime | None = None,
) -> LoyaltyTransaction:
    """A manager's correction, with the reason on the ledger and in the audit trail."""
    actor.require_role(Role.MANAGER, "adjust points")
    key = ledger.check_key(idempotency_key)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason for the adjustment.", field="reason")
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidInput("Enter a whole number of points, other than zero.", field="points")
    if abs(points) > MAX_ADJUSTMENT:
        raise InvalidInput(
            f"Adjustments are limited to {MAX_ADJUSTMENT:,} points at a time.", field="points"
        )
    now = now or utcnow()
    member = ledger.lock_member(session, member.id)
    replay = ledger.find_replay(session, program_id=member.program_id, idempotency_key=key)
    if replay is not None:
        return ledger.ensure_same_operation(
            replay, member_id=member.id, type=TransactionType.ADJUST, points=points
        )
    ledger.ensure_active(member)
    common = {
        "member": member,
        "type": TransactionType.ADJUST,
        "now": now,
        "idempotency_key": key,
        "actor": actor,
        "description": reason[:300],
    }
    if points > 0:
        transaction = ledger.credit(
            session, points=points, expires_at=ledger.lot_expiry(member.program, now), **common
        )
        if stamps.is_stamp_card(member.program):  # stamps given by hand can fill a card too
            stamps.complete_cards(session, member=member, earned=transaction, now=now, actor=actor)
    else:
        transaction = ledger.debit(session, points=-points, **common)
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action="points.adjusted",
        target_type="member",
        target_id=member.id,
        points=points,
        reason=reason,
    )
    return transaction


def _refunded_so_far(session: Session, purchase_id: int) -> int:
    return (
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyTransaction.amount_cents), 0)).where(
                LoyaltyTransaction.reverses_id == purchase_id,
                LoyaltyTransaction.type == TransactionType.REVERSE,
            )
        )
        or 0
    )


def reverse(
    session: Session,
    *,
    purchase: LoyaltyTransaction,
    idempotency_key: str,
    actor: Actor,
    amount_cents: int | None = None,
    shop: Shop | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> LoyaltyTransaction:
    """Refund all or part of a purchase: its points go back in proportion to the amount refunded.

    Points already spent cannot be taken back without a negative balance, so the refund takes
    what the card holds and records the rest as not recovered (the merchant absorbs it).
    On a stamp card, unused vouchers of cards the purchase filled are cancelled first when the
    current card holds too few stamps (services/stamps.py).
    """
    key = ledger.check_key(idempotency_key)
    if purchase.type != TransactionType.EARN or not purchase.amount_cents:
        raise InvalidInput("Only purchases can be refunded.", field="transaction")
    if shop is not None and shop.merchant_id != purchase.merchant_id:
        raise NotFound("That shop is not one of this business's shops.")
    now = now or utcnow()
    member = ledger.lock_member(session, purchase.member_id)
    replay = ledger.find_replay(session, program_id=member.program_id, idempotency_key=key)
    if replay is not None:
        return ledger.ensure_same_operation(
            replay, member_id=member.id, type=TransactionType.REVERSE, reverses_id=purchase.id
        )
    refunded = _refunded_so_far(session, purchase.id)
    left = purchase.amount_cents - refunded
    if left <= 0:
        raise NothingToReverse("This purchase has already been refunded in full.")
    amount = left if amount_cents is None else amount_cents
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= left:
        raise InvalidInput(
            f"Enter a refund between {euros(1)} and {euros(left)} (what is left of this purchase).",
            field="amount",
        )

    # Cumulative rounding: partial refunds add up to exactly the purchase's points.
    def due(cents: int) -> int:
        return purchase.points * cents // purchase.amount_cents

    points_due = due(refunded + amount) - due(refunded)
    if stamps.is_stamp_card(member.program):
        stamps.return_unused_cards(
            session,
            member=member,
            purchase=purchase,
            stamps_due=points_due,
            idempotency_key=key,
            actor=actor,
            now=now,
        )
    # Inside the return window the sale's own pending points go first: they vanish from the
    # pending figure and the spendable balance never shows them.
    taken = min(points_due, ledger.spendable(session, member, now, own_lot_of=purchase.id))
    description = reason.strip() or f"Refund of {euros(amount)}"
    shortfall = points_due - taken
    if shortfall and debt.claws_back(member):
        member.points_debt += shortfall
        description += f" ({shortfall} points already spent, recovered from future purchases)"
    elif shortfall:
        description += f" ({shortfall} points already spent, not recovered)"
    common = {
        "member": member,
        "type": TransactionType.REVERSE,
        "now": now,
        "idempotency_key": key,
        "actor": actor,
        "shop_id": shop.id if shop else purchase.shop_id,
        "amount_cents": amount,
        "description": description[:300],
        "reference_type": "refund",
        "reference_id": str(purchase.id),
        "reverses_id": purchase.id,
    }
    if taken > 0:
        return ledger.debit(
            session, points=taken, prefer_lot_of=purchase.id, lifetime_points=points_due, **common
        )
    member.lifetime_points = max(0, member.lifetime_points - points_due)
    return ledger.credit(session, points=0, **common)
