"""Birthday bonuses: on the day, once a year, 29 February on the 28th in common years."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from loyalty.models import LoyaltyTransaction, MemberStatus, Offering, TransactionType
from loyalty.services.bonuses import grant_birthday_bonuses
from tests import factories
from tests.invariants import assert_ledger_consistent


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS)
    tenant.program.birthday_bonus = 25
    session.flush()
    return tenant


def born(session, tenant, birthday: date | None):
    member = factories.make_member(session, tenant)
    member.customer.birthday = birthday
    session.flush()
    return member


def run(session, tenant, today: date) -> int:
    now = datetime(today.year, today.month, today.day, 6, 0, tzinfo=UTC)
    return grant_birthday_bonuses(session, program=tenant.program, today=today, now=now)


def bonuses(session, member) -> list[tuple[int, str | None]]:
    return [
        (row.points, row.reference_id)
        for row in session.scalars(
            select(LoyaltyTransaction)
            .where(
                LoyaltyTransaction.member_id == member.id,
                LoyaltyTransaction.type == TransactionType.BONUS,
            )
            .order_by(LoyaltyTransaction.id)
        )
    ]


def test_the_bonus_is_granted_on_the_birthday(session, tenant):
    member = born(session, tenant, date(1990, 7, 14))
    assert run(session, tenant, date(2024, 7, 14)) == 1
    assert bonuses(session, member) == [(25, "2024")]
    assert member.lifetime_points == 25
    assert assert_ledger_consistent(session, member.id) == 25


def test_no_bonus_on_other_days(session, tenant):
    member = born(session, tenant, date(1990, 7, 14))
    for today in (date(2024, 7, 13), date(2024, 7, 15), date(2024, 8, 14), date(2024, 6, 14)):
        assert run(session, tenant, today) == 0
    assert bonuses(session, member) == []


def test_a_second_run_the_same_year_grants_nothing(session, tenant):
    member = born(session, tenant, date(1990, 7, 14))
    run(session, tenant, date(2024, 7, 14))
    assert run(session, tenant, date(2024, 7, 14)) == 0
    assert bonuses(session, member) == [(25, "2024")]
    assert assert_ledger_consistent(session, member.id) == 25


def test_the_next_year_grants_again(session, tenant):
    member = born(session, tenant, date(1990, 7, 14))
    run(session, tenant, date(2024, 7, 14))
    assert run(session, tenant, date(2025, 7, 14)) == 1
    assert bonuses(session, member) == [(25, "2024"), (25, "2025")]
    assert assert_ledger_consistent(session, member.id) == 50


def test_29_february_birthdays_are_celebrated_on_28_february_in_common_years(session, tenant):
    leapling = born(session, tenant, date(2000, 2, 29))
    assert run(session, tenant, date(2023, 2, 28)) == 1
    assert run(session, tenant, date(2023, 3, 1)) == 0
    assert bonuses(session, leapling) == [(25, "2023")]


def test_29_february_birthdays_wait_for_the_29th_in_leap_years(session, tenant):
    leapling = born(session, tenant, date(2000, 2, 29))
    feb_28 = born(session, tenant, date(1985, 2, 28))
    assert run(session, tenant, date(2024, 2, 28)) == 1  # only the one born on the 28th
    assert bonuses(session, leapling) == []
    assert run(session, tenant, date(2024, 2, 29)) == 1
    assert bonuses(session, leapling) == [(25, "2024")]
    assert bonuses(session, feb_28) == [(25, "2024")]


def test_28_february_in_a_common_year_serves_both_birthdays(session, tenant):
    leapling = born(session, tenant, date(2000, 2, 29))
    feb_28 = born(session, tenant, date(1985, 2, 28))
    assert run(session, tenant, date(2025, 2, 28)) == 2
    assert bonuses(session, leapling) == bonuses(session, feb_28) == [(25, "2025")]


def test_a_programme_with_no_birthday_bonus_grants_nothing(session, tenant):
    tenant.program.birthday_bonus = 0
    session.flush()
    member = born(session, tenant, date(1990, 7, 14))
    assert run(session, tenant, date(2024, 7, 14)) == 0
    assert session.scalar(select(func.count(LoyaltyTransaction.id))) == 0
    assert assert_ledger_consistent(session, member.id) == 0


def test_members_without_a_birthday_or_not_active_get_nothing(session, tenant):
    born(session, tenant, None)
    closed = born(session, tenant, date(1990, 7, 14))
    closed.status = MemberStatus.CLOSED
    session.flush()
    assert run(session, tenant, date(2024, 7, 14)) == 0
    assert session.scalar(select(func.count(LoyaltyTransaction.id))) == 0


def test_only_the_programme_members_are_credited(session, tenant):
    other = factories.make_tenant(session)
    other.program.birthday_bonus = 10
    session.flush()
    ours = born(session, tenant, date(1990, 7, 14))
    theirs = born(session, other, date(1990, 7, 14))
    assert run(session, tenant, date(2024, 7, 14)) == 1
    assert bonuses(session, ours) == [(25, "2024")]
    assert bonuses(session, theirs) == []


def test_a_birthday_bonus_is_not_activity_that_keeps_points_from_expiring(session) -> None:
    from datetime import UTC, date, datetime

    from loyalty.services.bonuses import grant_birthday_bonuses

    tenant = factories.make_tenant(session)
    tenant.program.birthday_bonus = 50
    member = factories.make_member(session, tenant)
    member.customer.birthday = date(1990, 6, 1)
    session.flush()
    before = member.last_activity_at
    grant_birthday_bonuses(
        session,
        program=tenant.program,
        today=date(2026, 6, 1),
        now=datetime(2026, 6, 1, 8, tzinfo=UTC),
    )
    session.refresh(member)
    assert member.points_balance == 50
    assert member.last_activity_at == before
