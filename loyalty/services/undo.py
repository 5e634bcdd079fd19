"""Undo at the till: the cashier's own last earn or redemption, within 10 minutes, once.

An undo is a new ledger row, never an edit. An earn is reversed in full (as a refund of the
whole purchase); a redemption gets its points back, its voucher voided and its stock returned.
Only the latest earn or redemption the cashier made at this shop can be undone: after an undo,
the one before it stays as it is (a manager corrects older mistakes in the back-office).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import IdempotencyConflict, NothingToReverse
from loyalty.models import (
    LoyaltyTransaction,
    Merchant,
    Shop,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services import corrections, ledger, rewards, stamps
from loyalty.services.actors import Actor
from loyalty.services.vouchers import format_code

UNDO_WINDOW = timedelta(minutes=10)
UNDOABLE_TYPES = (TransactionType.EARN, TransactionType.REDEEM)


@dataclass(frozen=True)
class UndoResult:
    reversal: LoyaltyTransaction  # the new ledger row
    undone: LoyaltyTransaction  # the earn or redemption it cancels
    replayed: bool = False


def last_transaction(
    session: Session, *, merchant: Merchant, actor: Actor, shop: Shop | None
) -> LoyaltyTransaction | None:
    """The latest earn or redemption this cashier made at this shop, undone or not."""
    if actor.user_id is None:
        return None
    query = select(LoyaltyTransaction).where(
        LoyaltyTransaction.merchant_id == merchant.id,
        LoyaltyTransaction.created_by == actor.user_id,
        LoyaltyTransaction.type.in_(UNDOABLE_TYPES),
        # A full stamp card is part of the purchase that filled it: undo reverses that purchase.
        LoyaltyTransaction.reference_type.is_distinct_from(stamps.CARD_REFERENCE),
    )
    if shop is not None:
        query = query.where(LoyaltyTransaction.shop_id == shop.id)
    return session.scalars(
        query.order_by(LoyaltyTransaction.created_at.desc(), LoyaltyTransaction.id.desc()).limit(1)
    ).first()


def _reversal_of(session: Session, transaction: LoyaltyTransaction) -> LoyaltyTransaction | None:
    return session.scalars(
        select(LoyaltyTransaction)
        .where(
            LoyaltyTransaction.reverses_id == transaction.id,
            LoyaltyTransaction.type == TransactionType.REVERSE,
        )
        .limit(1)
    ).first()


def undoable(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    shop: Shop | None,
    now: datetime | None = None,
) -> LoyaltyTransaction | None:
    """What the Undo button would cancel right now, or None (nothing, too old, already undone)."""
    now = now or utcnow()
    last = last_transaction(session, merchant=merchant, actor=actor, shop=shop)
    if last is None or now - last.created_at > UNDO_WINDOW or _reversal_of(session, last):
        return None
    return last


def undo_last(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    shop: Shop | None,
    idempotency_key: str,
    transaction_id: int | None = None,
    now: datetime | None = None,
) -> UndoResult:
    """Cancel the cashier's last earn or redemption. A replayed key returns the first undo.

    `transaction_id` is what the cashier saw on screen: if another operation of theirs landed
    since (a second till tab), the undo is refused rather than cancelling the wrong one.
    """
    key = ledger.check_key(idempotency_key)
    now = now or utcnow()
    last = last_transaction(session, merchant=merchant, actor=actor, shop=shop)
    if last is None:
        raise NothingToReverse(
            "There is nothing to undo: you have made no purchase or redemption here."
        )
    replay = ledger.find_replay(session, program_id=last.program_id, idempotency_key=key)
    if replay is not None:
        if replay.type != TransactionType.REVERSE or replay.reverses_id != last.id:
            raise IdempotencyConflict(
                "This idempotency key was already used for a different operation. "
                "Use a new key for a new operation."
            )
        return UndoResult(reversal=replay, undone=last, replayed=True)
    if transaction_id is not None and transaction_id != last.id:
        raise NothingToReverse(
            "Only your last transaction can be undone, and this is no longer it. "
            "Ask a manager to correct older ones."
        )
    if _reversal_of(session, last) is not None:
        raise NothingToReverse("Your last transaction has already been undone.")
    if now - last.created_at > UNDO_WINDOW:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise NothingToReverse(
            f"Your last transaction is more than {minutes} minutes old and can no longer be "
            "undone at the till. Ask a manager to correct it."
        )
    if last.type == TransactionType.EARN:
        reversal = corrections.reverse(
            session,
            purchase=last,
            idempotency_key=key,
            actor=actor,
            shop=shop,
            reason="Undone at the till",
            now=now,
        )
        _restore_carry(session, last)
    else:
        reversal = _undo_redemption(session, last, key=key, actor=actor, shop=shop, now=now)
    return UndoResult(reversal=reversal, undone=last)


def _restore_carry(session: Session, purchase: LoyaltyTransaction) -> None:
    """An undone purchase never happened: the spend it carried over goes back to what it was,
    unless a later purchase has moved the carry on (then the carry stays as it is)."""
    if purchase.carry_out_cents is None:
        return
    member = ledger.lock_member(session, purchase.member_id)
    if member.spend_carry_cents == purchase.carry_out_cents:
        member.spend_carry_cents = purchase.carry_in_cents or 0
        session.flush()


def _undo_redemption(
    session: Session,
    redemption: LoyaltyTransaction,
    *,
    key: str,
    actor: Actor,
    shop: Shop | None,
    now: datetime,
) -> LoyaltyTransaction:
    """Points back, voucher void, stock back. The voucher may be used already: at the till
    a reward is issued and used in one step, and undoing it means it was never handed over."""
    member = ledger.lock_member(session, redemption.member_id)
    voucher = session.scalars(
        select(Voucher).where(Voucher.transaction_id == redemption.id).with_for_update()
    ).one_or_none()
    if voucher is not None:
        session.refresh(voucher)
        if voucher.status not in (VoucherStatus.ISSUED, VoucherStatus.USED):
            raise NothingToReverse(
                f"Voucher {format_code(voucher.code)} is {voucher.status.value}: "
                "its redemption cannot be undone."
            )
        voucher.status = VoucherStatus.VOID
        voucher.voided_at = now
        voucher.void_reason = "Undone at the till"
    reversal = ledger.credit(
        session,
        member=member,
        type=TransactionType.REVERSE,
        points=-redemption.points,
        now=now,
        idempotency_key=key,
        actor=actor,
        expires_at=ledger.lot_expiry(member.program, now),
        shop_id=shop.id if shop else redemption.shop_id,
        description=f"Undone at the till: {redemption.description}"[:300],
        reference_type="undo",
        reference_id=str(redemption.id),
        reverses_id=redemption.id,
    )
    if voucher is not None and voucher.reward_id is not None:
        rewards.return_to_stock(session, voucher.reward_id)
    session.flush()
    return reversal
