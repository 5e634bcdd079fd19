"""Birthday bonuses: once a year, on the member's birthday in the merchant's time zone."""

from __future__ import annotations

import calendar
from datetime import date, datetime

from sqlalchemy import and_, extract, or_, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import Customer, LoyaltyMember, LoyaltyProgram, MemberStatus, TransactionType
from loyalty.services import ledger
from loyalty.services.actors import Actor

BIRTHDAY_ACTOR = Actor.system("birthday bonus")


def _birthday_today(today: date):
    condition = and_(
        extract("month", Customer.birthday) == today.month,
        extract("day", Customer.birthday) == today.day,
    )
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        # Born on 29 February: celebrated on the 28th in common years.
        condition = or_(
            condition,
            and_(extract("month", Customer.birthday) == 2, extract("day", Customer.birthday) == 29),
        )
    return condition


def grant_birthday_bonuses(
    session: Session, *, program: LoyaltyProgram, today: date, now: datetime | None = None
) -> int:
    """Credit today's birthdays; the per-year idempotency key makes a second run a no-op."""
    if program.birthday_bonus <= 0:
        return 0
    now = now or utcnow()
    member_ids = session.scalars(
        select(LoyaltyMember.id)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(
            LoyaltyMember.program_id == program.id,
            LoyaltyMember.status == MemberStatus.ACTIVE,
            Customer.birthday.is_not(None),
            _birthday_today(today),
        )
        .order_by(LoyaltyMember.id)
    ).all()
    granted = 0
    for member_id in member_ids:
        key = f"birthday:{today.year}:{member_id}"
        if ledger.find_replay(session, program_id=program.id, idempotency_key=key):
            continue
        member = ledger.lock_member(session, member_id)
        ledger.credit(
            session,
            member=member,
            type=TransactionType.BONUS,
            points=program.birthday_bonus,
            now=now,
            idempotency_key=key,
            actor=BIRTHDAY_ACTOR,
            expires_at=ledger.lot_expiry(program, now),
            description="Happy birthday!",
            reference_type="birthday",
            reference_id=str(today.year),
        )
        granted += 1
    return granted
