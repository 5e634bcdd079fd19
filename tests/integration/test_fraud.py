"""Fraud controls: velocity rules flag or block earns, alerts are reviewed, settings are checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db import is_postgres, utcnow
from loyalty.errors import InvalidInput, NotFound, PermissionDenied, VelocityLimitReached
from loyalty.models import (
    AlertStatus,
    AuditLog,
    FraudAction,
    FraudAlert,
    FraudRule,
    LoyaltyMember,
    LoyaltyTransaction,
    Role,
)
from loyalty.services import earn as earning
from loyalty.services import fraud
from loyalty.services.actors import Actor
from loyalty.services.earn import earn
from tests import factories
from tests.integration.test_concurrency import committed, in_parallel  # noqa: F401
from tests.invariants import assert_ledger_consistent


def _rules(program, **overrides) -> None:
    """Every rule off, then the ones a test is about."""
    program.fraud_member_daily_earns = None
    program.fraud_max_earn_cents = None
    program.fraud_staff_hourly_earns = None
    for key, value in overrides.items():
        setattr(program, f"fraud_{key}", value)


def _alerts(session: Session) -> list[FraudAlert]:
    return list(session.scalars(select(FraudAlert).order_by(FraudAlert.id)))


def _rows(session: Session, member: LoyaltyMember) -> int:
    return session.scalar(
        select(func.count())
        .select_from(LoyaltyTransaction)
        .where(LoyaltyTransaction.member_id == member.id)
    )


@pytest.fixture
def cashier(session, tenant):
    user = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    return factories.actor_for(user, Role.STAFF, tenant.shop)


@pytest.fixture
def steps(monkeypatch):
    """Counts the earns that took the step-by-step path (on SQLite: all of them)."""
    calls = []
    original = earning._earn_step_by_step

    def spy(*args, **kwargs):
        calls.append(args[2])  # the amount
        return original(*args, **kwargs)

    monkeypatch.setattr(earning, "_earn_step_by_step", spy)
    return calls


# --- a single purchase above an amount -----------------------------------------------------


def test_a_purchase_above_the_amount_is_flagged_and_goes_through(session, tenant, member, cashier):
    _rules(tenant.program, max_earn_cents=50_000, max_earn_action=FraudAction.FLAG)
    session.flush()
    result = earn(
        session,
        member=member,
        amount_cents=50_001,
        idempotency_key="big",
        actor=cashier,
        shop=tenant.shop,
    )
    assert result.points == 500
    [alert] = _alerts(session)
    assert (alert.rule, alert.observed, alert.threshold) == (FraudRule.EARN_AMOUNT, 50_001, 50_000)
    assert (alert.member_id, alert.transaction_id) == (member.id, result.transaction_id)
    assert (alert.staff_user_id, alert.shop_id) == (cashier.user_id, tenant.shop.id)
    assert (alert.amount_cents, alert.status) == (50_001, AlertStatus.OPEN)
    assert_ledger_consistent(session, member.id)


def test_a_purchase_of_exactly_the_amount_is_not_flagged(session, tenant, member, steps):
    _rules(tenant.program, max_earn_cents=50_000)
    session.flush()
    earn(session, member=member, amount_cents=50_000, idempotency_key="edge")
    assert _alerts(session) == []
    if is_postgres(session):
        assert steps == []  # below the limit: the one-statement earn still runs


def test_a_blocked_purchase_is_refused_and_writes_nothing(session, tenant, member, cashier):
    _rules(tenant.program, max_earn_cents=50_000, max_earn_action=FraudAction.BLOCK)
    session.flush()
    with pytest.raises(VelocityLimitReached, match=r"above €500\.00"):
        earn(session, member=member, amount_cents=60_000, idempotency_key="b", actor=cashier)
    assert (_rows(session, member), _alerts(session)) == (0, [])
    session.refresh(member)
    assert member.points_balance == 0


# --- earns per card in 24 hours -------------------------------------------------------------


def test_the_earn_after_the_daily_limit_is_flagged(session, tenant, member, steps):
    _rules(tenant.program, member_daily_earns=3)
    session.flush()
    for i in range(3):
        earn(session, member=member, amount_cents=1000, idempotency_key=f"d{i}")
    assert _alerts(session) == []
    if is_postgres(session):
        assert steps == []  # nothing could trigger: the one statement did each earn
    fourth = earn(session, member=member, amount_cents=1000, idempotency_key="d3")
    [alert] = _alerts(session)
    assert (alert.rule, alert.observed, alert.threshold) == (FraudRule.MEMBER_DAILY_EARNS, 4, 3)
    assert alert.transaction_id == fourth.transaction_id
    assert steps[-1] == 1000  # the limit would be crossed: the general path decided
    assert_ledger_consistent(session, member.id)


def test_the_earn_after_the_daily_limit_is_blocked_and_replays_still_answer(
    session, tenant, member
):
    _rules(tenant.program, member_daily_earns=2, member_daily_action=FraudAction.BLOCK)
    session.flush()
    first = earn(session, member=member, amount_cents=1000, idempotency_key="a")
    earn(session, member=member, amount_cents=1000, idempotency_key="b")
    with pytest.raises(VelocityLimitReached, match="2 times in the last 24 hours"):
        earn(session, member=member, amount_cents=1000, idempotency_key="c")
    assert _rows(session, member) == 2
    assert _alerts(session) == []
    again = earn(session, member=member, amount_cents=1000, idempotency_key="a")
    assert again.replayed
    assert again.transaction_id == first.transaction_id


def test_earns_older_than_24_hours_do_not_count(session, tenant, member):
    _rules(tenant.program, member_daily_earns=1, member_daily_action=FraudAction.BLOCK)
    session.flush()
    now = utcnow()
    earn(
        session,
        member=member,
        amount_cents=1000,
        idempotency_key="old",
        at=now - timedelta(hours=24),
    )
    earn(session, member=member, amount_cents=1000, idempotency_key="new", at=now)
    with pytest.raises(VelocityLimitReached):
        earn(
            session,
            member=member,
            amount_cents=1000,
            idempotency_key="too many",
            at=now + timedelta(hours=23, minutes=59),
        )


def test_other_ledger_rows_do_not_count_as_earns(session, tenant, member):
    from loyalty.services.corrections import adjust

    _rules(tenant.program, member_daily_earns=1, member_daily_action=FraudAction.BLOCK)
    session.flush()
    manager = factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)
    adjust(session, member=member, points=50, reason="Gift", idempotency_key="adj", actor=manager)
    earn(session, member=member, amount_cents=1000, idempotency_key="one")
    assert _rows(session, member) == 2


def test_another_card_has_its_own_count(session, tenant, member):
    _rules(tenant.program, member_daily_earns=1, member_daily_action=FraudAction.BLOCK)
    session.flush()
    other = factories.make_member(session, tenant)
    earn(session, member=member, amount_cents=1000, idempotency_key="m1")
    earn(session, member=other, amount_cents=1000, idempotency_key="m2")
    assert _alerts(session) == []


# --- earns per staff user in an hour --------------------------------------------------------


def test_the_staff_users_earn_after_the_hourly_limit_is_flagged(session, tenant, cashier):
    _rules(tenant.program, staff_hourly_earns=2)
    session.flush()
    members = [factories.make_member(session, tenant) for _ in range(3)]
    for i, m in enumerate(members):
        earn(session, member=m, amount_cents=700, idempotency_key=f"s{i}", actor=cashier)
    [alert] = _alerts(session)
    assert (alert.rule, alert.observed, alert.threshold) == (FraudRule.STAFF_HOURLY_EARNS, 3, 2)
    assert (alert.member_id, alert.staff_user_id) == (members[2].id, cashier.user_id)


def test_the_hourly_limit_counts_each_staff_user_and_the_last_hour_only(session, tenant, cashier):
    _rules(tenant.program, staff_hourly_earns=1, staff_hourly_action=FraudAction.BLOCK)
    session.flush()
    colleague = factories.actor_for(
        factories.make_user(session, tenant, role=Role.STAFF), Role.STAFF
    )
    now = utcnow()
    a, b, c = (factories.make_member(session, tenant) for _ in range(3))
    earn(
        session,
        member=a,
        amount_cents=700,
        idempotency_key="1",
        actor=cashier,
        at=now - timedelta(hours=1),
    )
    earn(session, member=b, amount_cents=700, idempotency_key="2", actor=cashier, at=now)
    earn(session, member=c, amount_cents=700, idempotency_key="3", actor=colleague, at=now)
    with pytest.raises(VelocityLimitReached, match="1 purchases in the last hour"):
        earn(session, member=c, amount_cents=700, idempotency_key="4", actor=cashier, at=now)


def test_earns_without_a_staff_user_never_count_against_one(session, tenant):
    _rules(tenant.program, staff_hourly_earns=1, staff_hourly_action=FraudAction.BLOCK)
    session.flush()
    for i in range(3):  # the API, imports, jobs: no person at a till
        earn(
            session,
            member=factories.make_member(session, tenant),
            amount_cents=700,
            idempotency_key=f"n{i}",
        )
    assert _alerts(session) == []


def test_two_rules_crossed_at_once_leave_two_alerts(session, tenant, member, cashier):
    _rules(tenant.program, max_earn_cents=1_000, member_daily_earns=1)
    session.flush()
    earn(session, member=member, amount_cents=500, idempotency_key="x1", actor=cashier)
    earn(session, member=member, amount_cents=5_000, idempotency_key="x2", actor=cashier)
    assert {a.rule for a in _alerts(session)} == {
        FraudRule.EARN_AMOUNT,
        FraudRule.MEMBER_DAILY_EARNS,
    }


def test_a_flag_and_a_block_crossed_together_block(session, tenant, member):
    _rules(
        tenant.program,
        max_earn_cents=1_000,
        member_daily_earns=1,
        member_daily_action=FraudAction.BLOCK,
    )
    session.flush()
    earn(session, member=member, amount_cents=500, idempotency_key="y1")
    with pytest.raises(VelocityLimitReached):
        earn(session, member=member, amount_cents=5_000, idempotency_key="y2")
    assert (_rows(session, member), _alerts(session)) == (1, [])


def test_a_programme_with_every_rule_off_never_flags(session, tenant, member, steps):
    _rules(tenant.program)
    session.flush()
    for i in range(30):
        earn(session, member=member, amount_cents=9_000_000, idempotency_key=f"o{i}")
    assert _alerts(session) == []
    if is_postgres(session):
        assert steps == []


def test_new_programmes_start_with_the_default_rules_flagging(session, tenant):
    program = tenant.program
    assert (program.fraud_member_daily_earns, program.fraud_max_earn_cents) == (10, 100_000)
    assert program.fraud_staff_hourly_earns == 120
    assert program.qr_max_age_days == 365
    assert {
        program.fraud_member_daily_action,
        program.fraud_max_earn_action,
        program.fraud_staff_hourly_action,
    } == {FraudAction.FLAG}


# --- settings -------------------------------------------------------------------------------


def _settings(**overrides) -> fraud.FraudRules:
    values = {
        "member_daily_earns": 5,
        "member_daily_action": "block",
        "max_earn_cents": 20_000,
        "max_earn_action": "flag",
        "staff_hourly_earns": None,
        "staff_hourly_action": "flag",
        "qr_max_age_days": 90,
    }
    return fraud.FraudRules(**{**values, **overrides})


def test_the_owner_sets_the_rules_and_the_change_is_audited(session, tenant):
    owner = factories.actor_for(factories.make_user(session, tenant))
    fraud.update_rules(session, program=tenant.program, actor=owner, rules=_settings())
    program = tenant.program
    assert program.fraud_member_daily_earns == 5
    assert program.fraud_member_daily_action == FraudAction.BLOCK
    assert program.fraud_staff_hourly_earns is None
    assert program.qr_max_age_days == 90
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == "programme.fraud_controls_changed")
    ).one()
    assert "fraud_member_daily_earns" in entry.details["changed"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("member_daily_earns", 0),
        ("member_daily_earns", -3),
        ("max_earn_cents", 10_000_001),
        ("staff_hourly_earns", 10_001),
        ("qr_max_age_days", 0),
        ("member_daily_action", "shout"),
        ("member_daily_earns", True),
    ],
)
def test_bad_rule_settings_are_refused_and_change_nothing(session, tenant, field, value):
    owner = factories.actor_for(factories.make_user(session, tenant))
    before = tenant.program.fraud_member_daily_earns
    with pytest.raises(InvalidInput):
        fraud.update_rules(
            session, program=tenant.program, actor=owner, rules=_settings(**{field: value})
        )
    assert tenant.program.fraud_member_daily_earns == before


def test_a_bad_largest_purchase_is_explained_in_money_as_the_form_asks_for_it(session, tenant):
    owner = factories.actor_for(factories.make_user(session, tenant))
    with pytest.raises(InvalidInput) as refused:
        fraud.update_rules(
            session, program=tenant.program, actor=owner, rules=_settings(max_earn_cents=0)
        )
    assert refused.value.message == (
        "The largest purchase must be between €0.01 and €100,000.00 (or empty: off)."
    )


def test_only_the_owner_changes_the_rules(session, tenant):
    manager = factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)
    with pytest.raises(PermissionDenied):
        fraud.update_rules(session, program=tenant.program, actor=manager, rules=_settings())


# --- review ---------------------------------------------------------------------------------


def _flagged(session, tenant, member) -> FraudAlert:
    _rules(tenant.program, max_earn_cents=1_000)
    session.flush()
    earn(session, member=member, amount_cents=2_000, idempotency_key=f"f{member.id}")
    return _alerts(session)[-1]


def test_a_manager_acknowledges_an_alert_with_a_note(session, tenant, member):
    alert = _flagged(session, tenant, member)
    manager = factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)
    fraud.resolve(session, alert=alert, actor=manager, status="acknowledged", note="Spoke to Tom")
    assert (alert.status, alert.note, alert.resolved_by) == (
        AlertStatus.ACKNOWLEDGED,
        "Spoke to Tom",
        manager.user_id,
    )
    assert alert.resolved_at is not None
    assert fraud.open_count(session, tenant.merchant) == 0
    with pytest.raises(InvalidInput, match="already acknowledged"):
        fraud.resolve(session, alert=alert, actor=manager, status="dismissed", note="x")


def test_dismissing_needs_a_reason(session, tenant, member):
    alert = _flagged(session, tenant, member)
    manager = factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)
    with pytest.raises(InvalidInput, match="why"):
        fraud.resolve(session, alert=alert, actor=manager, status="dismissed", note="  ")
    with pytest.raises(InvalidInput):
        fraud.resolve(session, alert=alert, actor=manager, status="open", note="x")
    assert alert.status == AlertStatus.OPEN


def test_staff_cannot_review_alerts(session, tenant, member, cashier):
    alert = _flagged(session, tenant, member)
    with pytest.raises(PermissionDenied):
        fraud.resolve(session, alert=alert, actor=cashier, status="acknowledged", note="")


def test_another_merchants_alert_is_not_found(session, tenant, member):
    alert = _flagged(session, tenant, member)
    other = factories.make_tenant(session)
    with pytest.raises(NotFound):
        fraud.get_alert(session, merchant=other.merchant, alert_id=alert.id)
    assert session.scalars(fraud.alerts(other.merchant)).all() == []
    assert session.scalars(fraud.alerts(tenant.merchant)).all() == [alert]


# --- many tills at once (PostgreSQL) --------------------------------------------------------


@pytest.mark.postgres_only
def test_concurrent_earns_on_one_card_never_pass_a_blocking_limit(
    committed: sessionmaker[Session],  # noqa: F811
) -> None:
    with committed.begin() as session:
        tenant = factories.make_tenant(session)
        _rules(tenant.program, member_daily_earns=3, member_daily_action=FraudAction.BLOCK)
        member_id = factories.make_member(session, tenant).id

    def till(i: int) -> object:
        with committed.begin() as session:
            member = session.get(LoyaltyMember, member_id)
            return earn(
                session,
                member=member,
                amount_cents=1000,
                idempotency_key=f"c{i}",
                actor=Actor(user_id=None),
            )

    results = in_parallel(10, till)
    refused = [r for r in results if isinstance(r, VelocityLimitReached)]
    assert (len(results) - len(refused), len(refused)) == (3, 7)
    with committed() as session:
        assert _rows(session, session.get(LoyaltyMember, member_id)) == 3
        assert_ledger_consistent(session, member_id)
