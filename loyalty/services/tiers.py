"""Tier qualification: lifetime points or points within a rolling window, upgrades and downgrades.

One statement finds every member whose tier should change; only those rows are updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberStatus,
    TransactionType,
)
from loyalty.offerings import Feature
from loyalty.services import automations, events

# What counts towards a windowed tier: points earned, bonuses, minus refunds of purchases.
# Not every REVERSE row is a refund: a voided voucher's points come back as one, and counting
# those would let redeem-and-cancel climb tiers without buying anything.
QUALIFYING_TYPES = (TransactionType.EARN, TransactionType.BONUS)
REFUND_REFERENCE = "refund"  # the reference_type corrections.reverse gives purchase refunds


@dataclass(frozen=True)
class TierChange:
    member_id: int
    old_tier_id: int | None
    new_tier_id: int | None
    upgrade: bool


def _qualifying_points(tier: LoyaltyTier, now: datetime) -> ColumnElement[int]:
    if tier.qualification_window_days is None:
        return LoyaltyMember.lifetime_points
    since = now - timedelta(days=tier.qualification_window_days)
    return (
        select(func.coalesce(func.sum(LoyaltyTransaction.points), 0))
        .where(
            LoyaltyTransaction.member_id == LoyaltyMember.id,
            or_(
                LoyaltyTransaction.type.in_(QUALIFYING_TYPES),
                (LoyaltyTransaction.type == TransactionType.REVERSE)
                & (LoyaltyTransaction.reference_type == REFUND_REFERENCE),
            ),
            LoyaltyTransaction.created_at >= since,
        )
        .scalar_subquery()
    )


def _rank(tiers: list[LoyaltyTier]) -> dict[int | None, int]:
    ranks: dict[int | None, int] = {None: -1}
    ranks.update({tier.id: position for position, tier in enumerate(tiers)})
    return ranks


def entry_tier_id(session: Session, program: LoyaltyProgram) -> int | None:
    """The tier a new member starts in: the lowest, when it asks for no points. Queried, so
    that `program.tiers` is not loaded (and cached) in the middle of someone's unit of work."""
    if not offerings.has(program.merchant, Feature.TIERS):
        return None
    return session.scalar(
        select(LoyaltyTier.id)
        .where(LoyaltyTier.program_id == program.id, LoyaltyTier.min_points <= 0)
        .order_by(LoyaltyTier.min_points, LoyaltyTier.sort_order, LoyaltyTier.id)
        .limit(1)
    )


def recompute_tiers(
    session: Session,
    *,
    program: LoyaltyProgram,
    now: datetime,
    member_ids: list[int] | None = None,
    allow_downgrade: bool = True,
) -> list[TierChange]:
    """Move members to the highest tier they qualify for; returns who moved, for messages."""
    if not offerings.has(program.merchant, Feature.TIERS):
        return []  # a downgraded merchant keeps its tiers' data, but they stop moving
    tiers = sorted(program.tiers, key=lambda t: (t.min_points, t.sort_order, t.id))
    if not tiers:
        return []
    target = case(
        *[(_qualifying_points(t, now) >= t.min_points, t.id) for t in reversed(tiers)],
        else_=None,
    )
    query = select(LoyaltyMember.id, LoyaltyMember.tier_id, target.label("target")).where(
        LoyaltyMember.program_id == program.id,
        LoyaltyMember.status == MemberStatus.ACTIVE,
    )
    if member_ids is not None:
        query = query.where(LoyaltyMember.id.in_(member_ids))
    rank = _rank(tiers)
    changes = [
        TierChange(member_id, old, new, upgrade=rank.get(new, -1) > rank.get(old, -1))
        for member_id, old, new in session.execute(
            query.where(target.is_distinct_from(LoyaltyMember.tier_id))
        )
    ]
    if not allow_downgrade:
        changes = [change for change in changes if change.upgrade]
    if changes:
        session.execute(
            update(LoyaltyMember),
            [{"id": c.member_id, "tier_id": c.new_tier_id} for c in changes],
        )
        for change in changes:  # keep loaded objects truthful without reloading them
            key = session.identity_key(LoyaltyMember, change.member_id)
            member = session.identity_map.get(key)
            if member is not None:
                session.expire(member, ["tier_id", "tier"])
        events.tiers_changed(session, program=program, changes=changes)
        upgrades = {c.member_id: c.new_tier_id for c in changes if c.upgrade and c.new_tier_id}
        automations.congratulate_tier_ups(session, program=program, upgrades=upgrades, now=now)
    return changes


def upgrade_if_qualified(
    session: Session, *, member: LoyaltyMember, now: datetime
) -> LoyaltyTier | None:
    """Called after points arrive: upgrades are immediate, downgrades wait for the nightly run."""
    changes = recompute_tiers(
        session, program=member.program, now=now, member_ids=[member.id], allow_downgrade=False
    )
    if not changes:
        return None
    return session.get(LoyaltyTier, changes[0].new_tier_id)
