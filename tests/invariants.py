"""The ledger's invariant, checked with SQL against what is really stored."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.models import LoyaltyMember, LoyaltyTransaction, PointLot


def ledger_figures(session: Session, member_id: int) -> tuple[int, int, int]:
    """(spendable + pending, Σ ledger, Σ lots.remaining): the three must agree."""
    session.flush()
    balance = session.scalar(
        select(LoyaltyMember.points_balance + LoyaltyMember.pending_points).where(
            LoyaltyMember.id == member_id
        )
    )
    ledger = session.scalar(
        select(func.coalesce(func.sum(LoyaltyTransaction.points), 0)).where(
            LoyaltyTransaction.member_id == member_id
        )
    )
    lots = session.scalar(
        select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
            PointLot.member_id == member_id
        )
    )
    return balance, ledger, lots


def assert_ledger_consistent(session: Session, member_id: int) -> int:
    """Check the invariants and return the spendable balance."""
    total, ledger, lots = ledger_figures(session, member_id)
    assert total == ledger == lots, f"balance + pending {total}, ledger {ledger}, lots {lots}"
    balance, pending = session.execute(
        select(LoyaltyMember.points_balance, LoyaltyMember.pending_points).where(
            LoyaltyMember.id == member_id
        )
    ).one()
    assert balance >= 0
    assert pending >= 0
    pending_lots = session.scalar(
        select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
            PointLot.member_id == member_id, PointLot.available_at.is_not(None)
        )
    )
    assert pending == pending_lots, f"pending {pending}, pending lots {pending_lots}"
    last = session.scalars(
        select(LoyaltyTransaction.balance_after)
        .where(LoyaltyTransaction.member_id == member_id)
        .order_by(LoyaltyTransaction.id.desc())
        .limit(1)
    ).first()
    assert last is None or last == balance
    return balance
