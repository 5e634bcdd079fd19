"""A new business from sign-up to a live programme: sign-up, offering, checklist, go live.

Each step's "done" is read from the data itself (a shop exists, a promotion exists) rather
than from a wizard's memory, so the checklist stays true however the owner got there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import InvalidInput, LimitReached, PermissionDenied
from loyalty.models import (
    Membership,
    Merchant,
    Offering,
    Promotion,
    Role,
    StaffInvitation,
    User,
)
from loyalty.services import audit, merchants
from loyalty.services.actors import Actor
from loyalty.services.shops import open_shop_count


@dataclass(frozen=True)
class SignedUp:
    merchant: Merchant
    user: User


def sign_up(
    session: Session, *, business_name: str, email: str, password: str, name: str = ""
) -> SignedUp:
    """A new business on the Basic offering, its programme, and its first owner."""
    merchant = merchants.create_merchant(session, name=business_name, offering=Offering.BASIC)
    user = merchants.create_user(session, email=email, password=password, name=name)
    membership = merchants.add_membership(session, user=user, merchant=merchant, role=Role.OWNER)
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=Actor(user_id=user.id, role=Role.OWNER),
        action="merchant.signed_up",
        target_type="merchant",
        target_id=merchant.id,
        membership_id=membership.id,
    )
    return SignedUp(merchant, user)


def _progress(merchant: Merchant, session: Session) -> dict[str, str]:
    program = merchants.program_of(session, merchant)
    return dict((program.settings or {}).get("onboarding") or {})


def _mark(session: Session, merchant: Merchant, step: str, now: datetime) -> None:
    program = merchants.program_of(session, merchant)
    progress = dict((program.settings or {}).get("onboarding") or {})
    progress.setdefault(step, now.isoformat())
    # A new dict: the JSON column does not see changes made inside the old one.
    program.settings = {**(program.settings or {}), "onboarding": progress}


def choose_offering(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    offering: Offering | str,
    now: datetime | None = None,
) -> Merchant:
    """The owner picks Basic, Plus or Enterprise while setting up; after go-live only the
    platform changes it (web/admin), since a downgrade then switches features off for members.
    """
    actor.require_role(Role.OWNER, "choose the offering")
    try:
        chosen = Offering(offering)
    except ValueError:
        raise InvalidInput("Choose Basic, Plus or Enterprise.", field="offering") from None
    program = merchants.program_of(session, merchant)
    if program.launched_at is not None:
        raise PermissionDenied(
            "Your programme is live: to change the offering now, contact the platform team."
        )
    plan = offerings.PLANS[chosen]
    shops = open_shop_count(session, merchant)
    if plan.max_shops is not None and shops > plan.max_shops:
        raise LimitReached(
            f"{merchant.name} has {shops} open shops and {plan.label} includes "
            f"{plan.max_shops}. Close shops first, or choose a larger offering.",
            limit=plan.max_shops,
        )
    previous = Offering(merchant.offering)
    merchant.offering = chosen
    _mark(session, merchant, "offering_chosen_at", now or utcnow())
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="merchant.offering_chosen",
        target_type="merchant",
        target_id=merchant.id,
        previous=previous.value,
        offering=chosen.value,
    )
    return merchant


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    done: bool
    required: bool
    detail: str


def _rate(points_per_euro: Decimal) -> str:
    rate = format(points_per_euro.normalize(), "f")
    return f"{rate} point" if points_per_euro == 1 else f"{rate} points"


def checklist(session: Session, merchant: Merchant) -> list[Step]:
    progress = _progress(merchant, session)
    program = merchants.program_of(session, merchant)
    shops = open_shop_count(session, merchant)
    team = (
        session.scalar(
            select(func.count(Membership.id)).where(Membership.merchant_id == merchant.id)
        )
        or 0
    )
    invited = (
        session.scalar(
            select(func.count(StaffInvitation.id)).where(StaffInvitation.merchant_id == merchant.id)
        )
        or 0
    )
    promotions = (
        session.scalar(select(func.count(Promotion.id)).where(Promotion.program_id == program.id))
        or 0
    )
    plan = offerings.plan_of(merchant)
    return [
        Step(
            "offering",
            "Choose your offering",
            "offering_chosen_at" in progress,
            True,
            f"{plan.label}" if "offering_chosen_at" in progress else "Basic until you choose.",
        ),
        Step(
            "programme",
            "Set up the programme",
            "programme_configured_at" in progress,
            True,
            f"{program.name}: {_rate(program.points_per_euro)} per {program.currency} spent"
            if "programme_configured_at" in progress
            else "Points per euro, bonuses, expiry, colours.",
        ),
        Step(
            "shop",
            "Add your first shop",
            shops > 0,
            True,
            f"{shops} open shop{'s' if shops != 1 else ''}" if shops else "Where customers earn.",
        ),
        Step(
            "staff",
            "Invite your team",
            team > 1 or invited > 0,
            False,
            "Invited" if team > 1 or invited > 0 else "Managers and till staff sign in themselves.",
        ),
        Step(
            "promotion",
            "Create a first promotion",
            promotions > 0,
            False,
            f"{promotions} promotion{'s' if promotions != 1 else ''}"
            if promotions
            else "A welcome offer gives people a reason to join.",
        ),
    ]


def is_live(session: Session, merchant: Merchant) -> bool:
    return merchants.program_of(session, merchant).launched_at is not None


def go_live(
    session: Session, *, merchant: Merchant, actor: Actor, now: datetime | None = None
) -> datetime:
    """Record the launch once every required step is done; pressing it again changes nothing."""
    actor.require_role(Role.OWNER, "launch the programme")
    program = merchants.program_of(session, merchant)
    if program.launched_at is not None:
        return program.launched_at
    missing = [
        step.label for step in checklist(session, merchant) if step.required and not step.done
    ]
    if missing:
        raise InvalidInput(
            "Before going live: " + "; ".join(missing) + ". Each step is linked on this page."
        )
    program.launched_at = now or utcnow()
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="programme.launched",
        target_type="programme",
        target_id=program.id,
    )
    return program.launched_at
