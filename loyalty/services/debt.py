"""Points of refunded purchases that were already spent: written off, or recovered later.

A refund takes back what the card still holds. The rest is either absorbed by the merchant or,
when the programme claws back, recorded on the member as `points_debt` and taken from their
next purchases' points: a `reverse` row (reference "debt") right after the earn, consuming the
lot that earn created. The balance never goes below zero on the way.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import LoyaltyMember, LoyaltyTransaction, RefundShortfall, TransactionType
from loyalty.services import ledger
from loyalty.services.actors import Actor

DEBT_REFERENCE = "debt"


def claws_back(member: LoyaltyMember) -> bool:
    return member.program.refund_shortfall == RefundShortfall.CLAW_BACK


def _recovery_key(earn_key: str) -> str:
    key = f"debt:{earn_key}"
    if len(key) <= ledger.MAX_KEY_LENGTH:
        return key
    return "debt:" + hashlib.sha256(earn_key.encode()).hexdigest()


def recover(
    session: Session,
    *,
    member: LoyaltyMember,
    earned: LoyaltyTransaction,
    now: datetime,
    actor: Actor,
) -> LoyaltyTransaction | None:
    """Take what the locked member owes from the points this earn just credited."""
    amount = min(member.points_debt, earned.points)
    if amount <= 0:
        return None
    member.points_debt -= amount
    return ledger.debit(
        session,
        member=member,
        type=TransactionType.REVERSE,
        points=amount,
        now=now,
        idempotency_key=_recovery_key(earned.idempotency_key),
        actor=actor,
        shop_id=earned.shop_id,
        description=f"{amount} points recovered for a refunded purchase already spent",
        reference_type=DEBT_REFERENCE,
        reference_id=str(earned.id),
        prefer_lot_of=earned.id,
    )


def recovery_of(session: Session, earned: LoyaltyTransaction) -> LoyaltyTransaction | None:
    """The row that took points from this earn to pay an earlier refund's debt, if any."""
    return session.scalars(
        select(LoyaltyTransaction).where(
            LoyaltyTransaction.merchant_id == earned.merchant_id,
            LoyaltyTransaction.reference_type == DEBT_REFERENCE,
            LoyaltyTransaction.reference_id == str(earned.id),
        )
    ).first()
