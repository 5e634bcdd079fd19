"""Changing the expiry policy never shortens points already earned: each lot keeps its rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty.models import ExpiryPolicy, LoyaltyProgram, PointLot, Role
from loyalty.services import member_access, programme_settings
from loyalty.services.earn import earn
from loyalty.services.expiry import expire_points, months_before
from tests import factories
from tests.invariants import assert_ledger_consistent

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def set_policy(session, tenant, policy: ExpiryPolicy, *, days=None, months=None) -> None:
    """Through the owner's settings service, as the back-office does."""
    program: LoyaltyProgram = tenant.program
    owner = factories.actor_for(factories.make_user(session, tenant), Role.OWNER)
    programme_settings.update(
        session,
        program=program,
        actor=owner,
        settings=programme_settings.ProgrammeSettings(
            name=program.name,
            points_per_euro=program.points_per_euro,
            rounding=program.rounding,
            expiry_policy=policy,
            expiry_days=days,
            expiry_inactivity_months=months,
            signup_bonus=program.signup_bonus,
            birthday_bonus=program.birthday_bonus,
            currency=program.currency,
            primary_color=program.primary_color,
            secondary_color=program.secondary_color,
        ),
    )
    session.flush()


def lot_rules(session) -> list[tuple[int, datetime | None, int | None]]:
    rows = session.execute(
        select(PointLot.id, PointLot.expires_at, PointLot.inactivity_months).order_by(PointLot.id)
    )
    return [tuple(row) for row in rows]


def _buy(session, member, key, at, cents=1000):
    return earn(session, member=member, amount_cents=cents, idempotency_key=key, at=at)


def test_changing_the_policy_leaves_every_existing_lots_expiry_unchanged(session, tenant):
    members = [factories.make_member(session, tenant) for _ in range(3)]
    set_policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=365)
    for n, member in enumerate(members):
        _buy(session, member, f"dated-{n}", START)
    set_policy(session, tenant, ExpiryPolicy.INACTIVITY, months=12)
    for n, member in enumerate(members):
        _buy(session, member, f"inactive-{n}", START + timedelta(days=1))
    before = lot_rules(session)
    assert {rule[1:] for rule in before} == {(START + timedelta(days=365), None), (None, 12)}
    for policy, days, months in (
        (ExpiryPolicy.AFTER_DAYS, 30, None),
        (ExpiryPolicy.NONE, None, None),
        (ExpiryPolicy.INACTIVITY, None, 3),
    ):
        set_policy(session, tenant, policy, days=days, months=months)
        assert lot_rules(session) == before


def test_points_earned_under_a_longer_date_keep_it(session, tenant, member):
    set_policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=365)
    _buy(session, member, "old", START)
    set_policy(session, tenant, ExpiryPolicy.AFTER_DAYS, days=30)
    _buy(session, member, "new", START, cents=500)
    run = expire_points(session, program=tenant.program, now=START + timedelta(days=40))
    assert run.points == 5  # only the points earned under the 30-day rule
    assert assert_ledger_consistent(session, member.id) == 10


def test_an_inactivity_rule_switched_on_later_spares_older_points(session, tenant, member):
    _buy(session, member, "before", START)  # no expiry when earned
    set_policy(session, tenant, ExpiryPolicy.INACTIVITY, months=6)
    _buy(session, member, "after", START, cents=500)
    run = expire_points(session, program=tenant.program, now=months_before(START, -7))
    assert run.points == 5
    assert assert_ledger_consistent(session, member.id) == 10


def test_a_shorter_inactivity_rule_applies_only_to_new_points(session, tenant, member):
    set_policy(session, tenant, ExpiryPolicy.INACTIVITY, months=12)
    _buy(session, member, "under-12", START)
    set_policy(session, tenant, ExpiryPolicy.INACTIVITY, months=6)
    _buy(session, member, "under-6", START, cents=500)
    assert expire_points(session, program=tenant.program, now=months_before(START, -7)).points == 5
    assert (
        expire_points(session, program=tenant.program, now=months_before(START, -13)).points == 10
    )
    assert assert_ledger_consistent(session, member.id) == 0


def test_the_card_shows_each_rules_next_expiry(session, tenant, member):
    set_policy(session, tenant, ExpiryPolicy.INACTIVITY, months=12)
    _buy(session, member, "under-12", START)
    set_policy(session, tenant, ExpiryPolicy.INACTIVITY, months=6)
    _buy(session, member, "under-6", START, cents=500)
    upcoming = member_access.expiring_points(
        session, member=member, now=START, within=timedelta(days=400)
    )
    assert [(e.expires_at, e.points) for e in upcoming] == [
        (months_before(START, -6), 5),
        (months_before(START, -12), 10),
    ]
    assert member_access.next_expiry(session, member=member, now=START).points == 5
