"""Referral programme (Plus and Enterprise): a member's invite code, and both sides' reward.

A friend who joins with a member's code is recorded as a pending referral. Their first purchase
of at least the programme's minimum spend rewards both: a bonus for the friend and one for the
member who invited them, each once (idempotency keys per referral and side). A member cannot
use their own code, be referred twice, or refer someone up their own chain (loops).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.errors import InvalidInput, NotFound
from loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    MemberStatus,
    Referral,
    ReferralStatus,
    TransactionType,
)
from loyalty.offerings import Feature
from loyalty.services import ledger
from loyalty.services.actors import SYSTEM

# No 0/O, 1/I/L: codes are read aloud and typed from a screen.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def enabled(program: LoyaltyProgram) -> bool:
    """The offering includes referrals and the merchant has put a reward on them."""
    return offerings.has(program.merchant, Feature.REFERRALS) and bool(
        program.referrer_bonus or program.referee_bonus
    )


def code_for(session: Session, member: LoyaltyMember) -> str:
    """The member's invite code, given on first request."""
    if member.referral_code:
        return member.referral_code
    while True:
        code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
        taken = session.scalar(
            select(LoyaltyMember.id).where(
                LoyaltyMember.program_id == member.program_id, LoyaltyMember.referral_code == code
            )
        )
        if taken is None:
            member.referral_code = code
            session.flush()
            return code


def normalize_code(raw: str) -> str:
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def find_referrer(session: Session, program: LoyaltyProgram, code: str) -> LoyaltyMember | None:
    code = normalize_code(code)
    if not code:
        return None
    return session.scalars(
        select(LoyaltyMember).where(
            LoyaltyMember.program_id == program.id,
            LoyaltyMember.referral_code == code,
            LoyaltyMember.status == MemberStatus.ACTIVE,
        )
    ).one_or_none()


def _chain_above(session: Session, member_id: int) -> set[int]:
    """Everyone who referred this member, their referrer, and so on."""
    seen: set[int] = set()
    current = member_id
    while True:
        referrer = session.scalar(
            select(Referral.referrer_id).where(Referral.referee_id == current)
        )
        if referrer is None or referrer in seen:
            return seen
        seen.add(referrer)
        current = referrer


def attach(
    session: Session, *, member: LoyaltyMember, code: str, now: datetime | None = None
) -> Referral:
    """Record that `member` was invited by the owner of `code`, before their first purchase."""
    program = member.program
    offerings.require(program.merchant, Feature.REFERRALS)
    referrer = find_referrer(session, program, code)
    if referrer is None:
        raise NotFound(
            f"No member of {program.name} has the invite code {normalize_code(code) or code!r}. "
            "Check the code with the friend who sent it."
        )
    if referrer.id == member.id:
        raise InvalidInput("That is your own invite code: share it with a friend.", field="code")
    if session.scalar(select(Referral.id).where(Referral.referee_id == member.id)) is not None:
        raise InvalidInput("This card was already invited by someone.", field="code")
    if member.id in _chain_above(session, referrer.id):
        raise InvalidInput(
            "That member joined on this card's invitation: two members cannot invite each other.",
            field="code",
        )
    purchased = session.scalar(
        select(LoyaltyTransaction.id).where(
            LoyaltyTransaction.member_id == member.id,
            LoyaltyTransaction.type == TransactionType.EARN,
        )
    )
    if purchased is not None:
        raise InvalidInput(
            "An invite code counts only before the first purchase on the card.", field="code"
        )
    referral = Referral(
        merchant_id=member.merchant_id,
        program_id=member.program_id,
        referrer_id=referrer.id,
        referee_id=member.id,
        **({"created_at": now} if now else {}),
    )
    session.add(referral)
    session.flush()
    return referral


def reward_first_purchase(
    session: Session, *, member: LoyaltyMember, earned: LoyaltyTransaction, now: datetime
) -> Referral | None:
    """On the locked member's purchase: if it is the qualifying one, reward both sides once."""
    referral = session.scalars(
        select(Referral).where(
            Referral.referee_id == member.id, Referral.status == ReferralStatus.PENDING
        )
    ).one_or_none()
    program = member.program
    if referral is None or not enabled(program):
        return None
    if (earned.amount_cents or 0) < program.referral_min_spend_cents:
        return None
    referral.status = ReferralStatus.REWARDED
    referral.rewarded_at = now
    referral.qualifying_transaction_id = earned.id
    common = {
        "type": TransactionType.BONUS,
        "now": now,
        "actor": SYSTEM,
        "expires_at": ledger.lot_expiry(program, now),
        "reference_type": "referral",
        "reference_id": str(referral.id),
    }
    if program.referee_bonus:
        ledger.credit(
            session,
            member=member,
            points=program.referee_bonus,
            idempotency_key=f"referral:{referral.id}:referee",
            description="Welcome gift: you joined on a friend's invitation",
            **common,
        )
    if program.referrer_bonus:
        # Locks the inviting member after the friend: the referral graph has no cycles, so two
        # purchases never wait for each other.
        referrer = ledger.lock_member(session, referral.referrer_id)
        if referrer.status == MemberStatus.ACTIVE:
            ledger.credit(
                session,
                member=referrer,
                points=program.referrer_bonus,
                idempotency_key=f"referral:{referral.id}:referrer",
                description="Thank you: a friend you invited made their first purchase",
                **common,
            )
    session.flush()
    return referral
