"""Fraud controls: velocity limits on earning, the alerts a flagged earn leaves, and their review.

Three rules, each set per programme to "flag" (the earn goes through, a manager sees an alert)
or "block" (the till is refused and nothing is written), or switched off:

- more than N earns on one card in 24 hours,
- one purchase above an amount,
- more than M earns by one staff user in an hour.

The check runs inside the earn, after the member row is locked: one indexed count query
(the member's earns since a day ago, the staff user's since an hour ago). The one-statement
earn on PostgreSQL (services/earn.py) asks the same questions inside its statement and
takes itself out of play when a limit would be crossed, so the step-by-step path decides.
Windows are rolling (the last 24 hours, the last 60 minutes), not calendar days: no time
zone to get wrong, and no midnight reset to wait for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, NotFound, VelocityLimitReached
from loyalty.models import (
    AlertStatus,
    FraudAction,
    FraudAlert,
    FraudRule,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    Merchant,
    Role,
    TransactionType,
)
from loyalty.money import euros
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.points import MAX_AMOUNT_CENTS

MEMBER_WINDOW = timedelta(hours=24)
STAFF_WINDOW = timedelta(hours=1)
MAX_COUNT_LIMIT = 10_000
MAX_NOTE = 500
RULE_LABELS = {
    FraudRule.MEMBER_DAILY_EARNS: "Earns per card in 24 hours",
    FraudRule.EARN_AMOUNT: "Single purchase amount",
    FraudRule.STAFF_HOURLY_EARNS: "Earns per staff user in an hour",
}


@dataclass(frozen=True)
class Crossing:
    """A rule this earn crosses: what was seen against which limit, and what the rule does."""

    rule: FraudRule
    observed: int  # earns in the window including this one, or the amount in cents
    threshold: int
    action: FraudAction


@dataclass(frozen=True)
class FraudRules:
    """The programme's settings, as the back-office form sends them (None: rule off)."""

    member_daily_earns: int | None
    member_daily_action: FraudAction | str
    max_earn_cents: int | None
    max_earn_action: FraudAction | str
    staff_hourly_earns: int | None
    staff_hourly_action: FraudAction | str
    qr_max_age_days: int | None


def counts_needed(program: LoyaltyProgram, staff_user_id: int | None) -> bool:
    return program.fraud_member_daily_earns is not None or (
        program.fraud_staff_hourly_earns is not None and staff_user_id is not None
    )


def recent_earns(
    session: Session,
    *,
    program: LoyaltyProgram,
    member_id: int,
    staff_user_id: int | None,
    now: datetime,
) -> tuple[int, int]:
    """(the card's earns in the last 24 hours, the staff user's in the last hour): one query,
    both counts served by indexes (member, created_at) and (created_by, created_at)."""
    # No upper bound: an earn committed by another till while this one waited for the lock
    # carries a time a little after this earn's `now`, and must count.
    earns = (LoyaltyTransaction.type == TransactionType.EARN,)
    by_member = (
        select(func.count())
        .where(
            LoyaltyTransaction.member_id == member_id,
            LoyaltyTransaction.created_at > now - MEMBER_WINDOW,
            *earns,
        )
        .scalar_subquery()
    )
    by_staff = (
        select(func.count())
        .where(
            LoyaltyTransaction.created_by == staff_user_id,
            LoyaltyTransaction.merchant_id == program.merchant_id,
            LoyaltyTransaction.created_at > now - STAFF_WINDOW,
            *earns,
        )
        .scalar_subquery()
    )
    member_count = by_member if program.fraud_member_daily_earns is not None else 0
    staff_count = (
        by_staff
        if program.fraud_staff_hourly_earns is not None and staff_user_id is not None
        else 0
    )
    row = session.execute(select(member_count, staff_count)).one()
    return int(row[0]), int(row[1])


def check_earn(
    session: Session,
    *,
    member: LoyaltyMember,
    amount_cents: int,
    staff_user_id: int | None,
    now: datetime,
) -> list[Crossing]:
    """The rules this earn crosses, for a locked member. Raises when one of them blocks.

    Call after the member row is locked: the count then includes every earn committed before.
    """
    program = member.program
    crossings = []
    if program.fraud_max_earn_cents is not None and amount_cents > program.fraud_max_earn_cents:
        crossings.append(
            Crossing(
                FraudRule.EARN_AMOUNT,
                amount_cents,
                program.fraud_max_earn_cents,
                program.fraud_max_earn_action,
            )
        )
    if counts_needed(program, staff_user_id):
        by_member, by_staff = recent_earns(
            session, program=program, member_id=member.id, staff_user_id=staff_user_id, now=now
        )
        limit = program.fraud_member_daily_earns
        if limit is not None and by_member >= limit:
            crossings.append(
                Crossing(
                    FraudRule.MEMBER_DAILY_EARNS,
                    by_member + 1,
                    limit,
                    program.fraud_member_daily_action,
                )
            )
        limit = program.fraud_staff_hourly_earns
        if limit is not None and staff_user_id is not None and by_staff >= limit:
            crossings.append(
                Crossing(
                    FraudRule.STAFF_HOURLY_EARNS,
                    by_staff + 1,
                    limit,
                    program.fraud_staff_hourly_action,
                )
            )
    blocking = [c for c in crossings if c.action == FraudAction.BLOCK]
    if blocking:
        raise VelocityLimitReached(_refusal(blocking[0], member), rule=blocking[0].rule.value)
    return crossings


def _refusal(crossing: Crossing, member: LoyaltyMember) -> str:
    tail = " This business's fraud controls refuse it: ask a manager to check and add it by hand."
    if crossing.rule == FraudRule.EARN_AMOUNT:
        limit = euros(crossing.threshold, member.program.currency, grouping=True)
        return f"A purchase above {limit} cannot earn points at the till.{tail}"
    if crossing.rule == FraudRule.MEMBER_DAILY_EARNS:
        return (
            f"Card {member.card_number} has already earned points {crossing.threshold} times "
            f"in the last 24 hours, the most allowed.{tail}"
        )
    return (
        f"You have already recorded {crossing.threshold} purchases in the last hour, "
        f"the most allowed per person.{tail}"
    )


def record_alerts(
    session: Session,
    *,
    crossings: list[Crossing],
    member: LoyaltyMember,
    transaction_id: int,
    staff_user_id: int | None,
    shop_id: int | None,
    amount_cents: int,
    now: datetime,
) -> list[FraudAlert]:
    alerts = [
        FraudAlert(
            merchant_id=member.merchant_id,
            member_id=member.id,
            transaction_id=transaction_id,
            staff_user_id=staff_user_id,
            shop_id=shop_id,
            rule=crossing.rule,
            amount_cents=amount_cents,
            observed=crossing.observed,
            threshold=crossing.threshold,
            created_at=now,
        )
        for crossing in crossings
        if crossing.action == FraudAction.FLAG
    ]
    session.add_all(alerts)
    if alerts:
        session.flush()
    return alerts


# --- settings --------------------------------------------------------------------------------


def _limit(
    value: int | None, *, field: str, what: str, most: int, currency: str | None = None
) -> int | None:
    """A limit from 1 to `most`, or None (off); with `currency`, an amount in cents, and the
    error speaks of money as the form does (€0.01 to €100,000.00), not of cents."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        low, high = (
            (euros(1, currency), euros(most, currency, grouping=True))
            if currency
            else ("1", f"{most:,}")
        )
        raise InvalidInput(f"{what} must be between {low} and {high} (or empty: off).", field=field)
    return value


def _action(value: object, field: str) -> FraudAction:
    try:
        return FraudAction(value)
    except ValueError:
        raise InvalidInput("Choose “flag for a manager” or “block”.", field=field) from None


def update_rules(
    session: Session, *, program: LoyaltyProgram, actor: Actor, rules: FraudRules
) -> LoyaltyProgram:
    """Check every field, then apply them together: bad input changes nothing."""
    actor.require_role(Role.OWNER, "change the fraud controls")
    values = {
        "fraud_member_daily_earns": _limit(
            rules.member_daily_earns,
            field="member_daily_earns",
            what="Earns per card in 24 hours",
            most=MAX_COUNT_LIMIT,
        ),
        "fraud_member_daily_action": _action(rules.member_daily_action, "member_daily_action"),
        "fraud_max_earn_cents": _limit(
            rules.max_earn_cents,
            field="max_earn",
            what="The largest purchase",
            most=MAX_AMOUNT_CENTS,
            currency=program.currency,
        ),
        "fraud_max_earn_action": _action(rules.max_earn_action, "max_earn_action"),
        "fraud_staff_hourly_earns": _limit(
            rules.staff_hourly_earns,
            field="staff_hourly_earns",
            what="Earns per staff user in an hour",
            most=MAX_COUNT_LIMIT,
        ),
        "fraud_staff_hourly_action": _action(rules.staff_hourly_action, "staff_hourly_action"),
        "qr_max_age_days": _limit(
            rules.qr_max_age_days, field="qr_max_age_days", what="The QR code age", most=3650
        ),
    }
    changed = {
        key: str(value) for key, value in values.items() if str(getattr(program, key)) != str(value)
    }
    for key, value in values.items():
        setattr(program, key, value)
    session.flush()
    if changed:
        audit.record(
            session,
            merchant_id=program.merchant_id,
            actor=actor,
            action="programme.fraud_controls_changed",
            target_type="programme",
            target_id=program.id,
            changed=changed,
        )
    return program


# --- the alert list --------------------------------------------------------------------------


def alerts(merchant: Merchant, *, status: AlertStatus | None = AlertStatus.OPEN) -> Select:
    """Newest first, for the back-office list (paged by the caller)."""
    query = (
        select(FraudAlert)
        .where(FraudAlert.merchant_id == merchant.id)
        .options(selectinload(FraudAlert.member).selectinload(LoyaltyMember.customer))
    )
    if status is not None:
        query = query.where(FraudAlert.status == status)
    return query.order_by(FraudAlert.created_at.desc(), FraudAlert.id.desc())


def open_count(session: Session, merchant: Merchant) -> int:
    return session.scalar(
        select(func.count())
        .select_from(FraudAlert)
        .where(FraudAlert.merchant_id == merchant.id, FraudAlert.status == AlertStatus.OPEN)
    )


def get_alert(session: Session, *, merchant: Merchant, alert_id: int) -> FraudAlert:
    alert = session.scalars(
        select(FraudAlert).where(FraudAlert.id == alert_id, FraudAlert.merchant_id == merchant.id)
    ).one_or_none()
    if alert is None:
        raise NotFound("That alert does not exist.")
    return alert


def resolve(
    session: Session,
    *,
    alert: FraudAlert,
    actor: Actor,
    status: AlertStatus | str,
    note: str,
    now: datetime | None = None,
) -> FraudAlert:
    """A manager acknowledges (it was real, dealt with) or dismisses (nothing wrong) an alert."""
    actor.require_role(Role.MANAGER, "review fraud alerts")
    try:
        status = AlertStatus(status)
    except ValueError:
        status = AlertStatus.OPEN
    if status == AlertStatus.OPEN:
        raise InvalidInput("Choose acknowledge or dismiss.", field="status")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"Keep the note under {MAX_NOTE} characters.", field="note")
    if status == AlertStatus.DISMISSED and not note:
        raise InvalidInput("Say why the alert is dismissed.", field="note")
    if alert.status != AlertStatus.OPEN:
        raise InvalidInput(f"This alert was already {alert.status.value}.", field="status")
    alert.status = status
    alert.note = note
    alert.resolved_by = actor.user_id
    alert.resolved_at = now or utcnow()
    session.flush()
    audit.record(
        session,
        merchant_id=alert.merchant_id,
        actor=actor,
        action=f"fraud_alert.{status.value}",
        target_type="fraud_alert",
        target_id=alert.id,
        note=note,
    )
    return alert
