"""Blocking a card: a blocked member cannot earn or redeem until a manager unblocks it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from loyalty.errors import MemberNotActive
from loyalty.models import LoyaltyMember, MemberStatus, Role
from loyalty.services import audit
from loyalty.services.actors import Actor

# How a card's status reads everywhere: the status "suspended" is what staff call blocked.
LABELS = {
    MemberStatus.ACTIVE: "Active",
    MemberStatus.SUSPENDED: "Blocked",
    MemberStatus.CLOSED: "Closed",
}


def label(status: MemberStatus) -> str:
    return LABELS[MemberStatus(status)]


def block(session: Session, *, member: LoyaltyMember, actor: Actor, reason: str = "") -> None:
    """Suspend the card (lost, misuse, a dispute); the ledger service refuses it from now on."""
    actor.require_role(Role.MANAGER, "block a card")
    if member.status == MemberStatus.CLOSED:
        raise MemberNotActive("This card is closed; there is nothing to block.")
    if member.status == MemberStatus.SUSPENDED:
        return
    member.status = MemberStatus.SUSPENDED
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action="member.blocked",
        target_type="member",
        target_id=member.id,
        reason=reason.strip()[:300],
    )
    session.flush()


def unblock(session: Session, *, member: LoyaltyMember, actor: Actor) -> None:
    actor.require_role(Role.MANAGER, "unblock a card")
    if member.status == MemberStatus.CLOSED:
        raise MemberNotActive("This card is closed (its holder was erased) and cannot reopen.")
    if member.status == MemberStatus.ACTIVE:
        return
    member.status = MemberStatus.ACTIVE
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action="member.unblocked",
        target_type="member",
        target_id=member.id,
    )
    session.flush()
