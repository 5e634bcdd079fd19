"""Paid membership: valid until a date in the merchant's calendar, renewed at the till, no earning
once lapsed, points still redeemable, lapses pushed to the passes once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from jobs.tasks import membership_lapse_work
from loyalty.errors import (
    IdempotencyConflict,
    InvalidInput,
    MemberNotActive,
    MembershipLapsed,
    PermissionDenied,
)
from loyalty.models import (
    AppleRegistration,
    AuditLog,
    LoyaltyMember,
    LoyaltyTransaction,
    OutboxChannel,
    OutboxMessage,
    Role,
    TransactionType,
    WalletPass,
    WalletPlatform,
)
from loyalty.services import membership, programme_settings
from loyalty.services.earn import earn, preview_earn
from loyalty.services.member_status import block
from loyalty.services.rewards import redeem
from tests import factories
from tests.invariants import assert_ledger_consistent
from wallet import passes as wallet_passes
from wallet.push import queue_pass_updates

# 10:00 in Luxembourg (UTC+1 in winter).
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def paid(session, tenant):
    tenant.program.paid_membership = True
    tenant.program.membership_price_cents = 3000
    tenant.program.membership_months = 12
    session.flush()
    return tenant


@pytest.fixture
def cashier(session, paid):
    return factories.actor_for(factories.make_user(session, paid), Role.STAFF, paid.shop)


@pytest.fixture
def manager(session, paid):
    return factories.actor_for(factories.make_user(session, paid), Role.MANAGER)


def _renew(session, member, actor, key="renew-1", now=NOW, shop=None):
    return membership.renew(
        session, member=member, actor=actor, idempotency_key=key, now=now, shop=shop
    )


def test_a_first_payment_makes_the_card_valid_for_a_period_from_today(
    session, paid, member, cashier
):
    assert membership.state(member, NOW).lapsed  # never paid
    renewal = _renew(session, member, cashier, shop=paid.shop)
    assert renewal.valid_until == date(2027, 11, 24)
    # The end is the merchant's midnight after the last day: 23:00 UTC in winter.
    assert member.membership_expires_at == datetime(2027, 11, 24, 23, 0, tzinfo=UTC)
    current = membership.state(member, NOW)
    assert (current.lapsed, current.valid_until) == (False, date(2027, 11, 24))
    row = session.get(LoyaltyTransaction, renewal.transaction_id)
    assert (row.type, row.points, row.amount_cents) == (TransactionType.MEMBERSHIP, 0, 3000)
    assert (row.created_by, row.shop_id) == (cashier.user_id, paid.shop.id)
    assert "valid until 24 Nov 2027" in row.description
    assert assert_ledger_consistent(session, member.id) == 0


def test_renewing_early_extends_from_the_current_end_not_from_today(session, paid, member, cashier):
    _renew(session, member, cashier)
    later = _renew(session, member, cashier, key="renew-2", now=NOW + timedelta(days=300))
    assert later.valid_until == date(2028, 11, 24)  # no day of the first period is lost


def test_renewing_after_a_lapse_runs_from_today(session, paid, member, cashier):
    _renew(session, member, cashier)
    lapsed_on = NOW + timedelta(days=500)  # 8 Apr 2028: four months after the end
    assert membership.state(member, lapsed_on).lapsed
    renewal = _renew(session, member, cashier, key="renew-2", now=lapsed_on)
    assert renewal.valid_until == date(2029, 4, 7)
    assert not membership.state(member, lapsed_on).lapsed


def test_the_end_date_follows_the_merchants_calendar_not_utc(session, paid, member, cashier):
    # 23:30 UTC on 30 Nov is already 1 Dec in Luxembourg: the period starts on 1 Dec.
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert _renew(session, member, cashier, now=late).valid_until == date(2027, 11, 30)
    # In New York it is still 30 Nov (18:30).
    paid.merchant.timezone = "America/New_York"
    other = factories.make_member(session, paid)
    assert _renew(session, other, cashier, key="ny", now=late).valid_until == date(2027, 11, 29)
    assert other.membership_expires_at == datetime(2027, 11, 30, 5, 0, tzinfo=UTC)


def test_the_card_lapses_at_the_merchants_midnight_after_the_last_day(
    session, paid, member, cashier
):
    _renew(session, member, cashier)
    last_minute = datetime(2027, 11, 24, 22, 59, tzinfo=UTC)  # 23:59 on 24 Nov in Luxembourg
    assert not membership.state(member, last_minute).lapsed
    assert membership.state(member, last_minute + timedelta(minutes=1)).lapsed


def test_a_retry_with_the_same_key_extends_once(session, paid, member, cashier):
    first = _renew(session, member, cashier)
    again = _renew(session, member, cashier, now=NOW + timedelta(minutes=1))
    assert again.replayed
    assert again.transaction_id == first.transaction_id
    assert again.valid_until == first.valid_until == date(2027, 11, 24)
    rows = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.type == TransactionType.MEMBERSHIP)
    ).all()
    assert len(rows) == 1


def test_a_renewal_key_used_for_a_purchase_is_refused(session, paid, member, cashier):
    _renew(session, member, cashier, key="k")
    with pytest.raises(IdempotencyConflict):
        earn(session, member=member, amount_cents=1000, idempotency_key="k", at=NOW)


def test_a_lapsed_card_cannot_earn_and_is_told_to_renew(session, paid, member, cashier):
    with pytest.raises(
        MembershipLapsed, match=r"has not been paid yet.*Renew the membership \(€30.00\)"
    ):
        earn(session, member=member, amount_cents=1000, idempotency_key="e1", at=NOW)
    with pytest.raises(MembershipLapsed):
        preview_earn(session, member=member, amount_cents=1000, at=NOW)
    _renew(session, member, cashier)
    assert (
        earn(session, member=member, amount_cents=1000, idempotency_key="e1", at=NOW).points == 10
    )
    after = NOW + timedelta(days=366)
    with pytest.raises(MembershipLapsed, match="ran out on 24 Nov 2027"):
        earn(session, member=member, amount_cents=1000, idempotency_key="e2", at=after)
    assert member.points_balance == 10
    assert assert_ledger_consistent(session, member.id) == 10


def test_a_lapsed_card_can_still_redeem_its_points(session, paid, member, cashier):
    _renew(session, member, cashier)
    earn(session, member=member, amount_cents=5000, idempotency_key="e1", at=NOW)
    reward = factories.make_reward(session, paid, cost=30)
    voucher = redeem(
        session, member=member, reward=reward, idempotency_key="r1", now=NOW + timedelta(days=400)
    )
    assert voucher.code
    assert member.points_balance == 20


def test_a_free_programme_ignores_the_end_date(session, tenant, member):
    member.membership_expires_at = NOW - timedelta(days=1)
    assert not membership.state(member, NOW).lapsed
    assert earn(session, member=member, amount_cents=1000, idempotency_key="e", at=NOW).points == 10
    with pytest.raises(InvalidInput, match="no paid membership"):
        membership.renew(
            session,
            member=member,
            actor=factories.actor_for(factories.make_user(session, tenant), Role.STAFF),
            idempotency_key="r",
            now=NOW,
        )


def test_a_blocked_card_is_not_renewed(session, paid, member, cashier, manager):
    block(session, member=member, actor=manager)
    with pytest.raises(MemberNotActive):
        _renew(session, member, cashier)
    assert member.membership_expires_at is None


def test_a_manager_extends_free_of_charge_with_a_reason_in_the_audit_log(
    session, paid, member, cashier, manager
):
    _renew(session, member, cashier)
    renewal = membership.extend(
        session,
        member=member,
        actor=manager,
        idempotency_key="x1",
        months=2,
        reason="Shop closed for works",
        now=NOW,
    )
    assert (renewal.valid_until, renewal.amount_cents) == (date(2028, 1, 24), 0)
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == "member.membership_extended")
    ).one()
    assert entry.details["valid_until"] == "2028-01-24"
    assert entry.details["reason"] == "Shop closed for works"
    with pytest.raises(PermissionDenied):
        membership.extend(
            session, member=member, actor=cashier, idempotency_key="x2", months=1, reason="x"
        )
    with pytest.raises(InvalidInput, match="1 to 60 months"):
        membership.extend(
            session, member=member, actor=manager, idempotency_key="x3", months=0, reason="x"
        )
    with pytest.raises(InvalidInput, match="Say why"):
        membership.extend(
            session, member=member, actor=manager, idempotency_key="x4", months=1, reason=" "
        )
    assert membership.valid_until(member) == date(2028, 1, 24)


def test_another_businesss_shop_is_refused(session, paid, member, cashier):
    other = factories.make_tenant(session)
    with pytest.raises(InvalidInput, match="not one of this business's shops"):
        _renew(session, member, cashier, shop=other.shop)
    assert member.membership_expires_at is None


def test_lapses_touch_each_card_once_and_only_in_their_programme(session, paid, member, cashier):
    _renew(session, member, cashier)
    # The renewal's own write is "now" in real time; pretend the pass was built back then.
    member.updated_at = NOW
    other = factories.make_tenant(session)
    other.program.paid_membership = True
    other.program.membership_price_cents = 1000
    stranger = factories.make_member(session, other)
    stranger.membership_expires_at = member.membership_expires_at
    stranger.updated_at = NOW
    session.flush()
    after = NOW + timedelta(days=366)
    assert membership.mark_lapsed(session, program=paid.program, now=after - timedelta(days=2)) == 0
    assert membership.mark_lapsed(session, program=paid.program, now=after) == 1
    assert membership.mark_lapsed(session, program=paid.program, now=after) == 0  # once
    session.expire_all()
    assert session.get(LoyaltyMember, member.id).updated_at == after
    assert session.get(LoyaltyMember, stranger.id).updated_at == NOW  # other tenant untouched


def test_programme_settings_switch_paid_membership_on_with_a_price(session, paid):
    owner = factories.actor_for(factories.make_user(session, paid), Role.OWNER)
    program = paid.program
    base = programme_settings.ProgrammeSettings(
        name=program.name,
        points_per_euro="1",
        rounding="floor",
        expiry_policy="none",
        expiry_days=None,
        expiry_inactivity_months=None,
        signup_bonus=0,
        birthday_bonus=0,
        currency="EUR",
        primary_color="#7a4b2a",
        secondary_color="#f5efe6",
    )
    with pytest.raises(InvalidInput, match="price of a membership period"):
        programme_settings.update(
            session,
            program=program,
            actor=owner,
            settings=replace(base, paid_membership=True, membership_price_cents=0),
        )
    with pytest.raises(InvalidInput, match="1 to 60 months"):
        programme_settings.update(
            session,
            program=program,
            actor=owner,
            settings=replace(
                base, paid_membership=True, membership_price_cents=500, membership_months=61
            ),
        )
    programme_settings.update(
        session,
        program=program,
        actor=owner,
        settings=replace(
            base, paid_membership=True, membership_price_cents=2500, membership_months=6
        ),
    )
    assert (program.membership_price_cents, program.membership_months) == (2500, 6)


def test_the_daily_job_has_a_lapsed_cards_passes_pushed_once(session, paid, member, cashier):
    apple = wallet_passes.pass_for(session, member, WalletPlatform.APPLE)
    wallet_passes.pass_for(session, member, WalletPlatform.GOOGLE)
    session.add(
        AppleRegistration(device_library_identifier="dev", push_token="ab" * 32, pass_id=apple.id)
    )
    _renew(session, member, cashier)
    session.flush()
    queue_pass_updates(session, NOW)  # the renewal's own push
    session.execute(delete(OutboxMessage))
    # Pretend the passes were last built at the renewal (its write used the real clock).
    member.updated_at = NOW
    for wallet_pass in member_passes(session, member):
        wallet_pass.pushed_at = NOW
        wallet_pass.updated_at = NOW
    session.flush()
    lapsed = member.membership_expires_at + timedelta(minutes=5)
    assert membership_lapse_work(session, paid.program, None, lapsed) == {"members": 1}
    assert queue_pass_updates(session, lapsed) == {"passes": 2, "apple": 1, "google": 1}
    channels = session.scalars(select(OutboxMessage.channel)).all()
    assert sorted(channels) == sorted([OutboxChannel.APPLE, OutboxChannel.GOOGLE])
    # The next day's run finds nothing new: each lapse is pushed once.
    assert membership_lapse_work(session, paid.program, None, lapsed + timedelta(days=1)) == {
        "members": 0
    }
    assert queue_pass_updates(session, lapsed + timedelta(days=1))["passes"] == 0


def member_passes(session, member):
    return session.scalars(select(WalletPass).where(WalletPass.member_id == member.id)).all()
