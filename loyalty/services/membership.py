"""Paid membership: a card valid until a date, renewed at the till, earning nothing once lapsed.

A programme may charge for its card (`paid_membership`, a price and a period in months). A
member's paid period ends at `membership_expires_at`: the merchant's local midnight after the
last valid day, so "valid until 24 Nov 2027" means the whole of that day in the merchant's time
zone. A renewal runs from the later of today and the current end, is written to the ledger as
a `membership` row of 0 points carrying the amount paid, and replays by its idempotency key.

Lapsed (or never paid) cards cannot earn; redeeming points already earned stays allowed (the
points are the member's, the fee buys the right to collect more: docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, MembershipLapsed
from loyalty.models import LoyaltyMember, LoyaltyProgram, Role, Shop, TransactionType
from loyalty.money import euros
from loyalty.services import audit, ledger
from loyalty.services.actors import Actor
from loyalty.services.calendar import local_day, local_midnight
from loyalty.services.expiry import months_before

REFERENCE_TYPE = "membership"
MAX_MONTHS = 60


@dataclass(frozen=True)
class MembershipState:
    """What the card, the till, the pass and the bot say about a member's paid period."""

    required: bool  # the programme charges for its card
    valid_until: date | None  # the last valid day, in the merchant's calendar
    expires_at: datetime | None  # the instant it ends (UTC)
    lapsed: bool  # required and not paid up now
    price_cents: int
    months: int


@dataclass(frozen=True)
class Renewal:
    transaction_id: int
    valid_until: date
    amount_cents: int
    replayed: bool = False


def day_text(day: date) -> str:
    return day.strftime("%d %b %Y")


def valid_until(member: LoyaltyMember) -> date | None:
    """The last day the paid period covers, in the merchant's calendar."""
    if member.membership_expires_at is None:
        return None
    return local_day(member.membership_expires_at, member.program.merchant) - timedelta(days=1)


def state(member: LoyaltyMember, now: datetime | None = None) -> MembershipState:
    program = member.program
    now = now or utcnow()
    ends = member.membership_expires_at
    return MembershipState(
        required=program.paid_membership,
        valid_until=valid_until(member),
        expires_at=ends,
        lapsed=program.paid_membership and (ends is None or ends <= now),
        price_cents=program.membership_price_cents,
        months=program.membership_months,
    )


def ensure_can_earn(member: LoyaltyMember, now: datetime) -> None:
    """Refuse a purchase on a lapsed card, saying what to do about it."""
    current = state(member, now)
    if not current.lapsed:
        return
    when = (
        f"ran out on {day_text(current.valid_until)}"
        if current.valid_until is not None
        else "has not been paid yet"
    )
    raise MembershipLapsed(
        f"The membership of card {member.card_number} {when}: it cannot earn points. "
        f"Renew the membership ({euros(current.price_cents)}) first; its points can still "
        "be redeemed."
    )


def _new_end(member: LoyaltyMember, months: int, now: datetime) -> datetime:
    """From the later of today and the current end, `months` on, at local midnight."""
    merchant = member.program.merchant
    start = local_day(now, merchant)
    if member.membership_expires_at is not None:
        start = max(start, local_day(member.membership_expires_at, merchant))
    end = months_before(datetime.combine(start, datetime.min.time()), -months).date()
    return local_midnight(end, merchant)


def _replayed(session: Session, member: LoyaltyMember, key: str) -> Renewal | None:
    replay = ledger.find_replay(session, program_id=member.program_id, idempotency_key=key)
    if replay is None:
        return None
    ledger.ensure_same_operation(replay, member_id=member.id, type=TransactionType.MEMBERSHIP)
    return Renewal(
        transaction_id=replay.id,
        valid_until=date.fromisoformat(replay.reference_id or ""),
        amount_cents=replay.amount_cents or 0,
        replayed=True,
    )


def _extend(
    session: Session,
    *,
    member: LoyaltyMember,
    months: int,
    amount_cents: int,
    key: str,
    actor: Actor,
    now: datetime,
    shop: Shop | None,
    description: str,
) -> Renewal:
    locked = ledger.lock_member(session, member.id)
    replay = _replayed(session, locked, key)
    if replay is not None:
        return replay
    ledger.ensure_active(locked)
    locked.membership_expires_at = _new_end(locked, months, now)
    until = valid_until(locked)
    assert until is not None
    transaction = ledger.credit(
        session,
        member=locked,
        type=TransactionType.MEMBERSHIP,
        points=0,
        now=now,
        idempotency_key=key,
        actor=actor,
        amount_cents=amount_cents,
        shop_id=shop.id if shop else None,
        description=f"{description}: valid until {day_text(until)}"[:300],
        reference_type=REFERENCE_TYPE,
        reference_id=until.isoformat(),
    )
    return Renewal(transaction_id=transaction.id, valid_until=until, amount_cents=amount_cents)


def _require_paid_programme(program: LoyaltyProgram) -> None:
    if not program.paid_membership:
        raise InvalidInput(
            f"{program.name} has no paid membership: switch it on in the programme settings."
        )


def renew(
    session: Session,
    *,
    member: LoyaltyMember,
    actor: Actor,
    idempotency_key: str,
    shop: Shop | None = None,
    now: datetime | None = None,
) -> Renewal:
    """One period paid at the till (or the back-office desk) for the programme's price.

    Runs from the later of today and the current end, so renewing early loses no day. A retry
    with the same key returns the first renewal and extends nothing twice. Money changes
    hands: the ledger row names the cashier and the audit log keeps it too.
    """
    actor.require_role(Role.STAFF, "renew a membership")
    key = ledger.check_key(idempotency_key)
    _require_paid_programme(member.program)
    if shop is not None and shop.merchant_id != member.merchant_id:
        raise InvalidInput("That shop is not one of this business's shops.", field="shop")
    now = now or utcnow()
    program = member.program
    renewal = _extend(
        session,
        member=member,
        months=program.membership_months,
        amount_cents=program.membership_price_cents,
        key=key,
        actor=actor,
        now=now,
        shop=shop,
        description=f"Membership paid ({euros(program.membership_price_cents)})",
    )
    if not renewal.replayed:
        member.last_activity_at = now  # a visit to pay is a visit
        _audit(session, member, actor, "member.membership_renewed", renewal)
    return renewal


def _audit(
    session: Session,
    member: LoyaltyMember,
    actor: Actor,
    action: str,
    renewal: Renewal,
    **details: object,
) -> None:
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action=action,
        target_type="member",
        target_id=member.id,
        valid_until=renewal.valid_until.isoformat(),
        amount_cents=renewal.amount_cents,
        **details,
    )
    session.flush()


def extend(
    session: Session,
    *,
    member: LoyaltyMember,
    actor: Actor,
    idempotency_key: str,
    months: int,
    reason: str,
    now: datetime | None = None,
) -> Renewal:
    """A manager extends the paid period free of charge (goodwill, a correction); audited."""
    actor.require_role(Role.MANAGER, "extend a membership free of charge")
    key = ledger.check_key(idempotency_key)
    _require_paid_programme(member.program)
    if not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(f"Extend by 1 to {MAX_MONTHS} months.", field="months")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "Say why the membership is extended: it goes in the audit log.", field="reason"
        )
    renewal = _extend(
        session,
        member=member,
        months=months,
        amount_cents=0,
        key=key,
        actor=actor,
        now=now or utcnow(),
        shop=None,
        description=f"Extended by {months} month{'s' if months != 1 else ''}, free ({reason})",
    )
    if not renewal.replayed:
        _audit(
            session,
            member,
            actor,
            "member.membership_extended",
            renewal,
            months=months,
            reason=reason[:300],
        )
    return renewal


def mark_lapsed(session: Session, *, program: LoyaltyProgram, now: datetime | None = None) -> int:
    """Touch members whose paid period ended since their pass was last built, in one statement.

    `updated_at` is what the wallet refresh looks at (wallet/push.py), so each lapsed card's
    passes are rebuilt and pushed once, showing it expired. A member touched after the end
    already shows it: the condition keeps re-runs from pushing again.
    """
    if not program.paid_membership:
        return 0
    now = now or utcnow()
    return session.execute(
        update(LoyaltyMember)
        .where(
            LoyaltyMember.program_id == program.id,
            LoyaltyMember.membership_expires_at <= now,
            LoyaltyMember.updated_at < LoyaltyMember.membership_expires_at,
        )
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
