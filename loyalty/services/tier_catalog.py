"""Setting up membership tiers (Plus and above): thresholds, window, multiplier, benefits.

Tiers are always shown and evaluated in threshold order, so `sort_order` is derived from the
thresholds after every change rather than typed: two orders that could disagree would only
confuse. Upgrades that a change makes possible apply at once (as after a purchase); downgrades
wait for the nightly tier evaluation, which also tells the members.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.models import LoyaltyMember, LoyaltyTier, Merchant, Role
from loyalty.offerings import Feature
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.merchants import program_of
from loyalty.services.tiers import recompute_tiers

MAX_THRESHOLD = 100_000_000
MAX_WINDOW_DAYS = 3 * 366
MIN_MULTIPLIER = Decimal(1)
MAX_MULTIPLIER = Decimal(10)
MAX_BENEFITS = 10
MAX_BENEFIT_LENGTH = 120


@dataclass(frozen=True)
class TierDraft:
    name: str
    min_points: int
    earn_multiplier: Decimal = Decimal(1)
    qualification_window_days: int | None = None  # None: lifetime points
    benefits: tuple[str, ...] = ()  # one line each, as members read them


def benefits_of(tier: LoyaltyTier) -> list[str]:
    perks = (tier.benefits or {}).get("perks") or []
    return [str(perk) for perk in perks]


def draft_of(tier: LoyaltyTier) -> TierDraft:
    return TierDraft(
        name=tier.name,
        min_points=tier.min_points,
        earn_multiplier=Decimal(tier.earn_multiplier),
        qualification_window_days=tier.qualification_window_days,
        benefits=tuple(benefits_of(tier)),
    )


def _check(actor: Actor, merchant: Merchant) -> None:
    actor.require_role(Role.MANAGER, "change tiers")
    offerings.require(merchant, Feature.TIERS)


def _validated(draft: TierDraft) -> TierDraft:
    name = (draft.name or "").strip()
    if not name:
        raise InvalidInput("Give the tier a name, like Silver or Gold.", field="name")
    if len(name) > 60:
        raise InvalidInput("A tier name has at most 60 characters.", field="name")
    if not 0 <= draft.min_points <= MAX_THRESHOLD:
        raise InvalidInput(
            f"The threshold is a whole number of points from 0 to {MAX_THRESHOLD:,}.",
            field="min_points",
        )
    window = draft.qualification_window_days
    if window is not None and not 1 <= window <= MAX_WINDOW_DAYS:
        raise InvalidInput(
            f"The qualification window is from 1 to {MAX_WINDOW_DAYS} days; leave it empty to "
            "count all points ever earned.",
            field="qualification_window_days",
        )
    try:
        multiplier = Decimal(draft.earn_multiplier)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(
            "The multiplier is a number like 1.5.", field="earn_multiplier"
        ) from None
    exponent = multiplier.normalize().as_tuple().exponent if multiplier.is_finite() else None
    if (
        exponent is None
        or not MIN_MULTIPLIER <= multiplier <= MAX_MULTIPLIER
        or (isinstance(exponent, int) and exponent < -3)
    ):
        raise InvalidInput(
            "The earn multiplier is from 1 (normal points) to 10, with up to 3 decimals, "
            "like 1.25.",
            field="earn_multiplier",
        )
    benefits = tuple(line.strip() for line in draft.benefits if line and line.strip())
    if len(benefits) > MAX_BENEFITS:
        raise InvalidInput(f"List at most {MAX_BENEFITS} benefits.", field="benefits")
    if any(len(line) > MAX_BENEFIT_LENGTH for line in benefits):
        raise InvalidInput(
            f"Each benefit has at most {MAX_BENEFIT_LENGTH} characters.", field="benefits"
        )
    return TierDraft(name, draft.min_points, multiplier, window, benefits)


def _fits_ladder(session: Session, program_id: int, draft: TierDraft, tier_id: int | None) -> None:
    """Thresholds unique; a higher tier never earns at a lower multiplier than the one below."""
    others = [
        t
        for t in session.scalars(select(LoyaltyTier).where(LoyaltyTier.program_id == program_id))
        if t.id != tier_id
    ]
    for other in others:
        if other.name.casefold() == draft.name.casefold():
            raise InvalidInput(f"There is already a tier called {other.name}.", field="name")
        if other.min_points == draft.min_points:
            raise InvalidInput(
                f"{other.name} already starts at {other.min_points:,} points. Each tier needs "
                "its own threshold.",
                field="min_points",
            )
    below = [t for t in others if t.min_points < draft.min_points]
    above = [t for t in others if t.min_points > draft.min_points]
    if below:
        lower = max(below, key=lambda t: t.min_points)
        if Decimal(lower.earn_multiplier) > draft.earn_multiplier:
            raise InvalidInput(
                f"{lower.name} (from {lower.min_points:,} points) earns ×"
                f"{Decimal(lower.earn_multiplier).normalize():f}; a higher tier cannot earn less.",
                field="earn_multiplier",
            )
    if above:
        higher = min(above, key=lambda t: t.min_points)
        if Decimal(higher.earn_multiplier) < draft.earn_multiplier:
            raise InvalidInput(
                f"{higher.name} (from {higher.min_points:,} points) earns ×"
                f"{Decimal(higher.earn_multiplier).normalize():f}; a lower tier cannot earn more.",
                field="earn_multiplier",
            )


def _renumber(session: Session, program_id: int) -> None:
    tiers = session.scalars(
        select(LoyaltyTier)
        .where(LoyaltyTier.program_id == program_id)
        .order_by(LoyaltyTier.min_points, LoyaltyTier.id)
    )
    for position, tier in enumerate(tiers):
        tier.sort_order = position
    session.flush()


def _apply_upgrades(session: Session, merchant: Merchant, now: datetime) -> None:
    program = program_of(session, merchant)
    session.expire(program, ["tiers"])
    recompute_tiers(session, program=program, now=now, allow_downgrade=False)


def create_tier(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    draft: TierDraft,
    now: datetime | None = None,
) -> LoyaltyTier:
    _check(actor, merchant)
    draft = _validated(draft)
    program = program_of(session, merchant)
    _fits_ladder(session, program.id, draft, None)
    tier = LoyaltyTier(
        merchant_id=merchant.id,
        program_id=program.id,
        name=draft.name,
        min_points=draft.min_points,
        earn_multiplier=draft.earn_multiplier,
        qualification_window_days=draft.qualification_window_days,
        benefits={"perks": list(draft.benefits)},
    )
    session.add(tier)
    session.flush()
    _renumber(session, program.id)
    _apply_upgrades(session, merchant, now or utcnow())
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="tier.created",
        target_type="tier",
        target_id=tier.id,
        name=tier.name,
        min_points=tier.min_points,
    )
    return tier


def update_tier(
    session: Session,
    *,
    tier: LoyaltyTier,
    merchant: Merchant,
    actor: Actor,
    draft: TierDraft,
    now: datetime | None = None,
) -> LoyaltyTier:
    if tier.merchant_id != merchant.id:
        raise InvalidInput("That tier belongs to another business.")
    _check(actor, merchant)
    draft = _validated(draft)
    _fits_ladder(session, tier.program_id, draft, tier.id)
    tier.name = draft.name
    tier.min_points = draft.min_points
    tier.earn_multiplier = draft.earn_multiplier
    tier.qualification_window_days = draft.qualification_window_days
    # Keys other than the perks (set by other tools) are kept.
    tier.benefits = {**(tier.benefits or {}), "perks": list(draft.benefits)}
    session.flush()
    _renumber(session, tier.program_id)
    _apply_upgrades(session, merchant, now or utcnow())
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="tier.updated",
        target_type="tier",
        target_id=tier.id,
        name=tier.name,
        min_points=tier.min_points,
    )
    return tier


def members_in(session: Session, tier: LoyaltyTier) -> int:
    return (
        session.scalar(select(func.count(LoyaltyMember.id)).where(LoyaltyMember.tier_id == tier.id))
        or 0
    )


def delete_tier(
    session: Session,
    *,
    tier: LoyaltyTier,
    merchant: Merchant,
    actor: Actor,
    now: datetime | None = None,
) -> int:
    """Remove a tier; its members move to the highest remaining tier they qualify for.

    Returns how many members were in it. A promotion limited to it keeps the condition, which
    now matches nobody: it must not silently start applying to everyone.
    """
    if tier.merchant_id != merchant.id:
        raise InvalidInput("That tier belongs to another business.")
    _check(actor, merchant)
    moved = members_in(session, tier)
    session.execute(
        update(LoyaltyMember)
        .where(LoyaltyMember.tier_id == tier.id)
        .values(tier_id=None)
        .execution_options(synchronize_session=False)
    )
    name, tier_id, program_id = tier.name, tier.id, tier.program_id
    session.delete(tier)
    session.flush()
    # Members loaded in this session must not keep pointing at the deleted tier.
    for member in [o for o in session.identity_map.values() if isinstance(o, LoyaltyMember)]:
        if member.tier_id == tier_id:
            session.expire(member, ["tier_id", "tier"])
    _renumber(session, program_id)
    _apply_upgrades(session, merchant, now or utcnow())
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="tier.deleted",
        target_type="tier",
        target_id=tier_id,
        name=name,
        members=moved,
    )
    return moved
