"""Dashboard figures against hand-computed fixtures, local-day bucketing across DST, offering gates.

The merchant is in Europe/Luxembourg: UTC+1 until 2026-03-29 01:00 UTC, UTC+2 after. Rows are
written straight into the ledger at chosen instants (the earn service stamps "now").
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty.errors import FeatureNotInOffering, InvalidInput
from loyalty.models import (
    LoyaltyTransaction,
    MemberStatus,
    Offering,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services import analytics, merchants
from tests import factories

NOW = datetime(2026, 4, 5, 10, 0, tzinfo=UTC)
EARN, BONUS, REDEEM = TransactionType.EARN, TransactionType.BONUS, TransactionType.REDEEM
EXPIRE, ADJUST = TransactionType.EXPIRE, TransactionType.ADJUST


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ledger_row(session, tenant, member, type_, points, when, *, cents=None, shop=None):
    row = LoyaltyTransaction(
        merchant_id=tenant.merchant.id,
        program_id=tenant.program.id,
        member_id=member.id,
        type=type_,
        points=points,
        balance_after=max(points, 0),
        amount_cents=cents,
        shop_id=shop.id if shop else None,
        idempotency_key=uuid.uuid4().hex,
        created_at=when,
    )
    session.add(row)
    session.flush()
    return row


def member_at(session, tenant, enrolled: datetime, balance: int = 0, tier=None):
    member = factories.make_member(session, tenant)
    member.enrolled_at = enrolled
    member.points_balance = balance
    member.tier_id = tier.id if tier else None
    session.flush()
    return member


@pytest.fixture
def shop_b(session, tenant):
    return merchants.create_shop(session, merchant=tenant.merchant, name="Station")


@pytest.fixture
def world(session, tenant, shop_b):
    """Three members, ten ledger rows, three vouchers: the figures below are counted by hand."""
    shop_a = tenant.shop
    bronze = factories.make_tier(session, tenant, name="Bronze", min_points=0)
    gold = factories.make_tier(session, tenant, name="Gold", min_points=500)
    m1 = member_at(session, tenant, at("2026-01-10 09:00"), balance=300, tier=gold)
    # 23:30 UTC on 28 March is 00:30 on the 29th in Luxembourg: a new member of the 29th.
    m2 = member_at(session, tenant, at("2026-03-28 23:30"), balance=150, tier=bronze)
    # 22:30 UTC on 6 March is 23:30 local on the 6th: one hour before the 30-day period starts.
    m3 = member_at(session, tenant, at("2026-03-06 22:30"), balance=50)
    closed = member_at(session, tenant, at("2026-01-01 09:00"))
    closed.status = MemberStatus.CLOSED

    ledger_row(session, tenant, m1, EARN, 100, at("2026-03-28 23:30"), cents=1000, shop=shop_a)
    # After the DST switch (UTC+2): 21:30 UTC is 23:30 on the 29th, 22:30 UTC is 00:30 on the 30th.
    ledger_row(session, tenant, m1, EARN, 200, at("2026-03-29 21:30"), cents=2000, shop=shop_b)
    ledger_row(session, tenant, m1, EARN, 50, at("2026-03-29 22:30"), cents=500, shop=shop_a)
    ledger_row(session, tenant, m2, EARN, 150, at("2026-04-01 10:00"), cents=1500, shop=shop_a)
    ledger_row(session, tenant, m2, BONUS, 20, at("2026-04-01 10:00"))
    ledger_row(session, tenant, m2, ADJUST, 5, at("2026-04-01 11:00"))
    ledger_row(session, tenant, m1, REDEEM, -100, at("2026-04-02 12:00"), shop=shop_a)
    ledger_row(session, tenant, m3, EARN, 80, at("2026-03-01 12:00"), cents=800, shop=shop_a)
    ledger_row(session, tenant, m3, EXPIRE, -30, at("2026-04-03 02:00"))
    ledger_row(session, tenant, m1, ADJUST, -10, at("2026-04-03 09:00"))
    # Outside the period entirely: a visit 40 days ago counts for nothing but "active in 90 days".

    coffee = factories.make_reward(session, tenant, cost=100, value=500, name="€5 off")
    cake = factories.make_reward(session, tenant, cost=50, value=200, name="€2 off")
    for reward, status in (
        (coffee, VoucherStatus.USED),
        (coffee, VoucherStatus.ISSUED),
        (cake, VoucherStatus.ISSUED),
    ):
        session.add(
            Voucher(
                merchant_id=tenant.merchant.id,
                member_id=m1.id,
                reward_id=reward.id,
                code=uuid.uuid4().hex[:10].upper(),
                status=status,
                points_spent=reward.points_cost,
                valid_until=NOW + timedelta(days=30),
                created_at=at("2026-04-02 12:00"),
            )
        )
    session.flush()
    return {"m1": m1, "m2": m2, "m3": m3, "shop_a": shop_a, "shop_b": shop_b}


def test_period_is_the_last_30_local_days_today_included(tenant):
    period = analytics.period_for(tenant.merchant, now=NOW)
    assert (period.first_day, period.last_day) == (date(2026, 3, 7), date(2026, 4, 5))
    assert period.start == at("2026-03-06 23:00")  # local midnight, UTC+1
    assert period.end == NOW


def test_summary_matches_the_hand_counted_figures(session, tenant, world):
    kpis = analytics.summary(
        session, merchant=tenant.merchant, period=analytics.period_for(tenant.merchant, now=NOW)
    )
    assert kpis.members == 3  # the closed card is not a member any more
    assert kpis.new_members == 1  # m2; m3 joined an hour before the period
    assert kpis.points_issued == 100 + 200 + 50 + 150 + 20 + 5
    assert kpis.points_redeemed == 100
    assert kpis.points_expired == 30
    assert kpis.redemption_rate == pytest.approx(100 / 525)
    assert (kpis.visits, kpis.spend_cents, kpis.average_spend_cents) == (4, 5000, 1250)
    assert (kpis.visitors, kpis.repeat_visitors, kpis.repeat_visit_rate) == (2, 1, 0.5)
    assert (kpis.active_30, kpis.active_90) == (2, 3)
    assert kpis.outstanding_points == 500
    # The catalogue's best rate: €5 for 100 points (5 c/point) beats €2 for 50 (4 c/point).
    assert kpis.point_value == analytics.PointValue(Decimal(5), "catalogue")
    assert kpis.liability_cents == 2500


def test_a_programme_setting_overrides_the_catalogue_point_value(session, tenant, world):
    tenant.program.settings = {"point_value_cents": "0.5"}
    session.flush()
    kpis = analytics.summary(
        session, merchant=tenant.merchant, period=analytics.period_for(tenant.merchant, now=NOW)
    )
    assert kpis.point_value.source == "setting"
    assert kpis.liability_cents == 250


def test_without_a_euro_reward_the_liability_is_unknown_not_zero(session, tenant):
    factories.make_member(session, tenant).points_balance = 40
    session.flush()
    kpis = analytics.summary(
        session, merchant=tenant.merchant, period=analytics.period_for(tenant.merchant, now=NOW)
    )
    assert kpis.outstanding_points == 40
    assert kpis.liability_cents is None
    assert kpis.redemption_rate is None
    assert kpis.average_spend_cents is None


def test_time_series_buckets_by_local_day_across_the_dst_switch(session, tenant, world):
    series = analytics.time_series(
        session, merchant=tenant.merchant, period=analytics.period_for(tenant.merchant, now=NOW)
    )
    assert series.unit == "day"
    assert len(series.buckets) == 30
    by_day = {bucket.first_day: bucket for bucket in series.buckets}
    assert by_day[date(2026, 3, 29)] == analytics.Bucket(
        date(2026, 3, 29), new_members=1, visits=2, spend_cents=3000, points_issued=300
    )
    assert by_day[date(2026, 3, 30)] == analytics.Bucket(
        date(2026, 3, 30), visits=1, spend_cents=500, points_issued=50
    )
    assert by_day[date(2026, 4, 1)] == analytics.Bucket(
        date(2026, 4, 1), visits=1, spend_cents=1500, points_issued=175
    )
    assert by_day[date(2026, 4, 2)].points_redeemed == 100
    assert sum(bucket.points_issued for bucket in series.buckets) == 525
    assert by_day[date(2026, 3, 28)] == analytics.Bucket(date(2026, 3, 28))


def test_a_year_is_shown_in_weeks_starting_on_monday(session, tenant, world):
    period = analytics.period_for(tenant.merchant, days=365, now=NOW)
    series = analytics.time_series(session, merchant=tenant.merchant, period=period)
    assert series.unit == "week"
    assert all(bucket.first_day.weekday() == 0 for bucket in series.buckets[1:])
    week = {bucket.first_day: bucket for bucket in series.buckets}
    # Monday 23 March – Sunday 29 March holds the 29th; the 30th opens the next week.
    assert week[date(2026, 3, 23)].visits == 2
    assert week[date(2026, 3, 30)].visits == 2
    assert sum(bucket.visits for bucket in series.buckets) == 5  # m3's visit on 1 March too


def test_shops_are_compared_side_by_side(session, tenant, world):
    rows = analytics.shop_comparison(
        session, merchant=tenant.merchant, period=analytics.period_for(tenant.merchant, now=NOW)
    )
    by_name = {row.name: row for row in rows}
    main = by_name["Main street"]
    assert (main.visits, main.visitors, main.spend_cents) == (3, 2, 3000)
    assert (main.points_issued, main.points_redeemed, main.average_spend_cents) == (300, 100, 1000)
    station = by_name["Station"]
    assert (station.visits, station.spend_cents, station.points_issued) == (1, 2000, 200)
    outside = rows[-1]
    assert outside.shop_id is None
    assert outside.points_issued == 25
    assert outside.visits == 0


def test_tier_distribution_and_reward_popularity(session, tenant, world):
    period = analytics.period_for(tenant.merchant, now=NOW)
    tiers = analytics.tier_distribution(session, merchant=tenant.merchant)
    assert [(tier.name, tier.members) for tier in tiers] == [
        ("Bronze", 1),
        ("Gold", 1),
        ("No tier", 1),
    ]
    rewards = analytics.reward_popularity(session, merchant=tenant.merchant, period=period)
    assert [(r.name, r.vouchers, r.used, r.points_spent) for r in rewards] == [
        ("€5 off", 2, 1, 200),
        ("€2 off", 1, 0, 50),
    ]


def test_cohort_retention_by_local_joining_month(session):
    tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    # 23:30 UTC on 28 February is 1 March in Luxembourg: a March member.
    a = member_at(session, tenant, at("2026-02-28 23:30"))
    b = member_at(session, tenant, at("2026-02-10 12:00"))
    c = member_at(session, tenant, at("2026-03-15 12:00"))
    ledger_row(session, tenant, b, EARN, 10, at("2026-02-11 12:00"), cents=100)
    ledger_row(session, tenant, b, EARN, 10, at("2026-03-31 22:30"), cents=100)  # 1 April, local
    ledger_row(session, tenant, a, EARN, 10, at("2026-03-02 12:00"), cents=100)
    ledger_row(session, tenant, a, REDEEM, -10, at("2026-04-02 12:00"))
    ledger_row(session, tenant, c, EARN, 10, at("2026-03-15 12:00"), cents=100)
    ledger_row(session, tenant, c, BONUS, 10, at("2026-04-02 12:00"))  # a bonus is not activity

    cohorts = analytics.cohort_retention(session, merchant=tenant.merchant, now=NOW, months=3)
    assert [(c.month, c.size, c.active) for c in cohorts] == [
        (date(2026, 2, 1), 1, [1, 0, 1]),
        (date(2026, 3, 1), 2, [2, 1]),
        (date(2026, 4, 1), 0, [0]),
    ]
    assert cohorts[1].retention == [1.0, 0.5]
    assert cohorts[2].retention == [None]


def test_basic_gets_totals_but_no_time_series_or_export(session):
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    merchant = tenant.merchant
    period = analytics.period_for(merchant, now=NOW)
    assert analytics.summary(session, merchant=merchant, period=period).members == 0
    for call in (
        lambda: analytics.time_series(session, merchant=merchant, period=period),
        lambda: analytics.shop_comparison(session, merchant=merchant, period=period),
        lambda: analytics.tier_distribution(session, merchant=merchant),
        lambda: analytics.reward_popularity(session, merchant=merchant, period=period),
        lambda: analytics.cohort_retention(session, merchant=merchant, now=NOW),
        lambda: analytics.export_rows(session, merchant=merchant, period=period),
        lambda: analytics.period_for(merchant, days=90, now=NOW),
    ):
        with pytest.raises(FeatureNotInOffering):
            call()


def test_plus_gets_advanced_analytics_but_not_cohorts_or_export(session, tenant):
    period = analytics.period_for(tenant.merchant, days=90, now=NOW)
    analytics.time_series(session, merchant=tenant.merchant, period=period)
    with pytest.raises(FeatureNotInOffering, match="Enterprise"):
        analytics.export_rows(session, merchant=tenant.merchant, period=period)
    with pytest.raises(FeatureNotInOffering):
        analytics.cohort_retention(session, merchant=tenant.merchant, now=NOW)


def test_a_period_outside_the_choices_is_refused_clearly(tenant):
    with pytest.raises(InvalidInput, match="7, 30, 90, 365"):
        analytics.period_for(tenant.merchant, days=13, now=NOW)


def test_export_rows_hold_every_figure_and_defuse_formulas(session, tenant, world):
    tenant.merchant.offering = Offering.ENTERPRISE
    world["shop_b"].name = "=HYPERLINK(1)"
    session.flush()
    period = analytics.period_for(tenant.merchant, now=NOW)
    rows = list(analytics.export_rows(session, merchant=tenant.merchant, period=period, now=NOW))
    assert rows[0] == analytics.EXPORT_HEADER
    window = "2026-03-07/2026-04-05"
    assert ["summary", window, tenant.merchant.name, "points_issued", "525"] in rows
    assert ["summary", window, tenant.merchant.name, "liability_cents", "2500"] in rows
    assert ["day", "2026-03-29", "", "visits", "2"] in rows
    assert ["shop", window, "'=HYPERLINK(1)", "spend_cents", "2000"] in rows
    assert ["tier", "2026-04-05", "Gold", "members", "1"] in rows
    assert ["reward", window, "€5 off", "vouchers", "2"] in rows
    assert {row[0] for row in rows[1:]} == {"summary", "day", "shop", "tier", "reward", "cohort"}


# --- snapshots: the worker computes large programmes' dashboards ahead ------------------------


def test_a_snapshot_gives_back_exactly_the_live_figures(session, tenant, world):
    tenant.merchant.offering = Offering.ENTERPRISE
    live = analytics.dashboard(session, merchant=tenant.merchant, now=NOW)
    assert live.as_of is None
    assert analytics.refresh_snapshot(session, merchant=tenant.merchant, now=NOW) == 4

    later = NOW + timedelta(minutes=20)
    snapshot = analytics.dashboard(session, merchant=tenant.merchant, now=later)
    assert snapshot.as_of == NOW
    assert replace(snapshot, as_of=None) == live
    assert snapshot.kpis.liability_cents == live.kpis.liability_cents
    assert analytics.dashboard(session, merchant=tenant.merchant, days=365, now=later).as_of == NOW


def test_the_worker_snapshots_only_large_programmes(session, tenant, world, monkeypatch):
    small = factories.make_tenant(session)
    factories.make_member(session, small)
    monkeypatch.setattr(analytics, "SNAPSHOT_FROM_MEMBERS", 3)  # tenant has 4 members, small 1
    assert tenant.merchant.id in analytics.large_merchants(session)
    assert small.merchant.id not in analytics.large_merchants(session)
    analytics.refresh_snapshots(session, now=NOW)
    assert analytics.dashboard(session, merchant=tenant.merchant, now=NOW).as_of == NOW
    assert analytics.dashboard(session, merchant=small.merchant, now=NOW).as_of is None


def test_an_old_snapshot_or_one_of_another_offering_is_not_shown(session, tenant, world):
    analytics.refresh_snapshot(session, merchant=tenant.merchant, now=NOW)
    stale = NOW + analytics.SNAPSHOT_MAX_AGE + timedelta(minutes=1)
    assert analytics.dashboard(session, merchant=tenant.merchant, now=stale).as_of is None

    tenant.merchant.offering = Offering.BASIC  # downgraded since: the Plus figures must go
    figures = analytics.dashboard(session, merchant=tenant.merchant, now=NOW)
    assert figures.as_of is None
    assert figures.series is None
