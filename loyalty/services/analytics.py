"""Figures for the back-office dashboard: set-based aggregates over the ledger and the members.

Every figure is a GROUP BY over `loyalty_transactions`, `loyalty_members`, `vouchers` or
`loyalty_tiers`, a few statements per page whatever the number of members. Days and months
are the merchant's local ones: PostgreSQL converts with `timezone(zone, ts)`; SQLite has no
time zones, so its timestamps are shifted by the zone's UTC offset, which changes only at the
few daylight-saving transitions inside the span asked for (a CASE over those instants).

What each figure means is written down in docs/decisions.md ("Dashboard figures"). The
offering decides what may be asked: Basic gets the 30-day totals, Plus (advanced analytics)
the time series, shop comparison, tier distribution and reward popularity, Enterprise (full
analytics) also cohort retention and the CSV export. The gate is here, not only in the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, case, distinct, func, literal, select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import UTCDateTime, utcnow
from loyalty.errors import InvalidInput
from loyalty.models import (
    DashboardSnapshot,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberStatus,
    Merchant,
    Reward,
    RewardType,
    Shop,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.offerings import Feature
from loyalty.services.ledger import ACTIVITY_TYPES

T = LoyaltyTransaction

BASIC_PERIOD_DAYS = 30
PERIOD_CHOICES = (7, 30, 90, 365)
# Above this many days a chart shows weeks: 365 daily bars would be thinner than a pixel on a phone.
DAILY_UP_TO = 90
COHORT_MONTHS = 6
TOP_REWARDS = 10

# Credits that are points handed out: purchases, bonuses and a manager's upward correction.
# Reversals are corrections of other rows and are left out of both "issued" and "redeemed".
ISSUING_TYPES = (TransactionType.EARN, TransactionType.BONUS, TransactionType.ADJUST)


# --- the period and the merchant's calendar --------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The last `days` local days of the merchant, today included: [start, end) in UTC."""

    days: int
    timezone: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def period_for(
    merchant: Merchant, *, days: int = BASIC_PERIOD_DAYS, now: datetime | None = None
) -> Period:
    """The period to show. Only advanced analytics may look at anything but the last 30 days."""
    offerings.require(merchant, Feature.BASIC_ANALYTICS)
    if days not in PERIOD_CHOICES:
        choices = ", ".join(str(choice) for choice in PERIOD_CHOICES)
        raise InvalidInput(f"Choose a period of {choices} days.", field="days")
    if days != BASIC_PERIOD_DAYS:
        offerings.require(merchant, Feature.ADVANCED_ANALYTICS)
    now = now or utcnow()
    zone = _zone(merchant.timezone)
    last_day = now.astimezone(zone).date()
    first_day = last_day - timedelta(days=days - 1)
    return Period(
        days=days,
        timezone=zone.key,
        first_day=first_day,
        last_day=last_day,
        start=_local_midnight(first_day, zone),
        end=now,
    )


def _offset_segments(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(from_utc, offset_seconds)] covering [start, end]: one entry per UTC offset in force."""

    def offset(moment: datetime) -> int:
        delta = moment.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [(start, offset(start))]
    day = start
    while day < end:
        following = min(day + timedelta(days=1), end)
        if offset(following) != segments[-1][1]:
            low, high = day, following  # the transition is in (low, high]: find it to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            segments.append((high.replace(microsecond=0), offset(high)))
        day = following
    return segments


def local_date(
    session: Session, column: Any, period_zone: str, start: datetime, end: datetime
) -> ColumnElement[str]:
    """`column` (a UTC timestamp) as the merchant's local date, 'YYYY-MM-DD', in SQL.

    `start`/`end` bound the rows the query reads; on SQLite they decide which daylight-saving
    transitions the offset CASE needs.
    """
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(period_zone, column), "YYYY-MM-DD")
    segments = _offset_segments(_zone(period_zone), start, end)
    modifiers = [f"{seconds:+d} seconds" for _, seconds in segments]
    if len(segments) == 1:
        modifier: Any = literal(modifiers[0])
    else:
        modifier = case(
            *[
                (column < literal(segments[i + 1][0], UTCDateTime()), modifiers[i])
                for i in range(len(segments) - 1)
            ],
            else_=modifiers[-1],
        )
    return func.strftime("%Y-%m-%d", column, modifier)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _in_period(period: Period) -> ColumnElement[bool]:
    return and_(T.created_at >= period.start, T.created_at < period.end)


# The ledger figures every report sums the same way, so that they agree with each other.
def _visits() -> ColumnElement[int]:
    """Purchases: one earn row each."""
    return func.count(case((T.type == TransactionType.EARN, 1)))


def _spend_cents() -> ColumnElement[int]:
    return func.coalesce(
        func.sum(case((T.type == TransactionType.EARN, T.amount_cents), else_=0)), 0
    )


def _points_issued() -> ColumnElement[int]:
    """Points given: earned, bonus and positive adjustments."""
    return func.coalesce(
        func.sum(case((and_(T.type.in_(ISSUING_TYPES), T.points > 0), T.points), else_=0)), 0
    )


def _points_redeemed() -> ColumnElement[int]:
    return func.coalesce(func.sum(case((T.type == TransactionType.REDEEM, -T.points), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- the programme's value per point ----------------------------------------------------------


@dataclass(frozen=True)
class PointValue:
    """What one point is worth in cents, and where that figure comes from."""

    cents: Decimal | None
    source: str  # "setting", "catalogue" or "unknown"


def point_value(session: Session, *, program: LoyaltyProgram) -> PointValue:
    """The programme's setting `point_value_cents` if given, else the catalogue's best rate.

    The best rate is the highest cents-per-point among active fixed-discount rewards: a
    member can always choose that reward, so it is what the outstanding points may cost.
    """
    configured = (program.settings or {}).get("point_value_cents")
    if configured not in (None, ""):
        try:
            cents = Decimal(str(configured))
        except ArithmeticError:
            cents = None
        if cents is not None and cents.is_finite() and cents >= 0:
            return PointValue(cents, "setting")
    rows = session.execute(
        select(Reward.value, Reward.points_cost).where(
            Reward.program_id == program.id,
            Reward.active.is_(True),
            Reward.type == RewardType.DISCOUNT_FIXED,
            Reward.value.is_not(None),
            Reward.value > 0,
        )
    ).all()
    rates = [Decimal(value) / Decimal(cost) for value, cost in rows if cost]
    if not rates:
        return PointValue(None, "unknown")
    return PointValue(max(rates), "catalogue")


# --- the totals every offering gets -----------------------------------------------------------


@dataclass(frozen=True)
class Kpis:
    period: Period
    members: int
    new_members: int
    active_30: int
    active_90: int
    points_issued: int
    points_redeemed: int
    points_expired: int
    outstanding_points: int
    point_value: PointValue
    visits: int
    visitors: int
    repeat_visitors: int
    spend_cents: int
    priced_visits: int

    @property
    def liability_cents(self) -> int | None:
        if self.point_value.cents is None:
            return None
        exact = self.outstanding_points * self.point_value.cents
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def redemption_rate(self) -> float | None:
        return _rate(self.points_redeemed, self.points_issued)

    @property
    def repeat_visit_rate(self) -> float | None:
        return _rate(self.repeat_visitors, self.visitors)

    @property
    def average_spend_cents(self) -> int | None:
        if not self.priced_visits:
            return None
        return int(
            (Decimal(self.spend_cents) / self.priced_visits).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
        )


def summary(session: Session, *, merchant: Merchant, period: Period) -> Kpis:
    """The headline figures: four statements, each one aggregate."""
    offerings.require(merchant, Feature.BASIC_ANALYTICS)
    program = session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.merchant_id == merchant.id)
    ).one()

    # Members and the outstanding balance are today's; "new" counts enrolments in the period.
    enrolled_in_period = and_(
        LoyaltyMember.enrolled_at >= period.start, LoyaltyMember.enrolled_at < period.end
    )
    members, new_members, outstanding = session.execute(
        select(
            func.count(case((LoyaltyMember.status != MemberStatus.CLOSED, 1))),
            func.count(case((enrolled_in_period, 1))),
            func.coalesce(func.sum(LoyaltyMember.points_balance), 0),
        ).where(LoyaltyMember.merchant_id == merchant.id)
    ).one()

    issued, redeemed, expired, visits, spend, priced = session.execute(
        select(
            _points_issued(),
            _points_redeemed(),
            func.coalesce(
                func.sum(case((T.type == TransactionType.EXPIRE, -T.points), else_=0)), 0
            ),
            _visits(),
            _spend_cents(),
            func.count(
                case((and_(T.type == TransactionType.EARN, T.amount_cents.is_not(None)), 1))
            ),
        ).where(T.merchant_id == merchant.id, _in_period(period))
    ).one()

    # "Active" is rolling from now, whatever the period: activity is an earn or a redeem.
    since_30, since_90 = period.end - timedelta(days=30), period.end - timedelta(days=90)
    active_30, active_90 = session.execute(
        select(
            func.count(distinct(case((T.created_at >= since_30, T.member_id)))),
            func.count(distinct(T.member_id)),
        ).where(
            T.merchant_id == merchant.id,
            T.type.in_(ACTIVITY_TYPES),
            T.created_at >= since_90,
            T.created_at < period.end,
        )
    ).one()

    per_member = (
        select(T.member_id, func.count().label("visits"))
        .where(T.merchant_id == merchant.id, T.type == TransactionType.EARN, _in_period(period))
        .group_by(T.member_id)
        .subquery()
    )
    visitors, repeat_visitors = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((per_member.c.visits >= 2, 1), else_=0)), 0),
        ).select_from(per_member)
    ).one()

    return Kpis(
        period=period,
        members=int(members),
        new_members=int(new_members),
        active_30=int(active_30),
        active_90=int(active_90),
        points_issued=int(issued),
        points_redeemed=int(redeemed),
        points_expired=int(expired),
        outstanding_points=int(outstanding),
        point_value=point_value(session, program=program),
        visits=int(visits),
        visitors=int(visitors),
        repeat_visitors=int(repeat_visitors),
        spend_cents=int(spend),
        priced_visits=int(priced),
    )


# --- advanced analytics (Plus and Enterprise) -------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """One point of a time series: a local day, or a week starting on Monday."""

    first_day: date
    new_members: int = 0
    visits: int = 0
    spend_cents: int = 0
    points_issued: int = 0
    points_redeemed: int = 0


@dataclass(frozen=True)
class Series:
    period: Period
    unit: str  # "day" or "week"
    buckets: list[Bucket]


def time_series(session: Session, *, merchant: Merchant, period: Period) -> Series:
    """Figures per local day (per week beyond 90 days): two GROUP BY statements."""
    offerings.require(merchant, Feature.ADVANCED_ANALYTICS)
    day = local_date(session, T.created_at, period.timezone, period.start, period.end)
    ledger_rows = session.execute(
        select(
            day,
            _visits(),
            _spend_cents(),
            _points_issued(),
            _points_redeemed(),
        )
        .where(T.merchant_id == merchant.id, _in_period(period))
        .group_by(day)
    ).all()
    enrolled = local_date(
        session, LoyaltyMember.enrolled_at, period.timezone, period.start, period.end
    )
    member_rows = session.execute(
        select(enrolled, func.count())
        .where(
            LoyaltyMember.merchant_id == merchant.id,
            LoyaltyMember.enrolled_at >= period.start,
            LoyaltyMember.enrolled_at < period.end,
        )
        .group_by(enrolled)
    ).all()

    totals: dict[date, dict[str, int]] = {}
    for value, visits, spend, issued, redeemed in ledger_rows:
        totals.setdefault(_as_date(value), {}).update(
            visits=int(visits),
            spend_cents=int(spend),
            points_issued=int(issued),
            points_redeemed=int(redeemed),
        )
    for value, count in member_rows:
        totals.setdefault(_as_date(value), {})["new_members"] = int(count)

    unit = "day" if period.days <= DAILY_UP_TO else "week"
    buckets: dict[date, dict[str, int]] = {}
    current = period.first_day
    while current <= period.last_day:
        key = current if unit == "day" else current - timedelta(days=current.weekday())
        into = buckets.setdefault(key, {})
        for name, amount in totals.get(current, {}).items():
            into[name] = into.get(name, 0) + amount
        current += timedelta(days=1)
    return Series(
        period=period,
        unit=unit,
        buckets=[Bucket(first_day=key, **figures) for key, figures in sorted(buckets.items())],
    )


@dataclass(frozen=True)
class ShopFigures:
    shop_id: int | None
    name: str
    visits: int = 0
    visitors: int = 0
    spend_cents: int = 0
    points_issued: int = 0
    points_redeemed: int = 0

    @property
    def average_spend_cents(self) -> int | None:
        return round(self.spend_cents / self.visits) if self.visits else None


def shop_comparison(session: Session, *, merchant: Merchant, period: Period) -> list[ShopFigures]:
    """Every shop's figures side by side, plus a row for points moved outside any shop."""
    offerings.require(merchant, Feature.ADVANCED_ANALYTICS)
    shops = session.execute(
        select(Shop.id, Shop.name)
        .where(Shop.merchant_id == merchant.id)
        .order_by(Shop.name, Shop.id)
    ).all()
    rows = session.execute(
        select(
            T.shop_id,
            _visits(),
            func.count(distinct(case((T.type == TransactionType.EARN, T.member_id)))),
            _spend_cents(),
            _points_issued(),
            _points_redeemed(),
        )
        .where(T.merchant_id == merchant.id, _in_period(period))
        .group_by(T.shop_id)
    ).all()
    figures = {
        shop_id: dict(
            visits=int(visits),
            visitors=int(visitors),
            spend_cents=int(spend),
            points_issued=int(issued),
            points_redeemed=int(redeemed),
        )
        for shop_id, visits, visitors, spend, issued, redeemed in rows
    }
    result = [ShopFigures(shop_id, name, **figures.get(shop_id, {})) for shop_id, name in shops]
    if None in figures:
        result.append(ShopFigures(None, "Outside a shop (bot, web, back-office)", **figures[None]))
    return result


@dataclass(frozen=True)
class TierShare:
    tier_id: int | None
    name: str
    members: int


def tier_distribution(session: Session, *, merchant: Merchant) -> list[TierShare]:
    """Members per tier today, lowest tier first, then those in no tier."""
    offerings.require(merchant, Feature.ADVANCED_ANALYTICS)
    counts = dict(
        session.execute(
            select(LoyaltyMember.tier_id, func.count())
            .where(
                LoyaltyMember.merchant_id == merchant.id,
                LoyaltyMember.status != MemberStatus.CLOSED,
            )
            .group_by(LoyaltyMember.tier_id)
        ).all()
    )
    tiers = session.execute(
        select(LoyaltyTier.id, LoyaltyTier.name)
        .where(LoyaltyTier.merchant_id == merchant.id)
        .order_by(LoyaltyTier.min_points, LoyaltyTier.sort_order, LoyaltyTier.id)
    ).all()
    shares = [TierShare(tier_id, name, int(counts.get(tier_id, 0))) for tier_id, name in tiers]
    if not tiers and not counts:
        return []
    shares.append(TierShare(None, "No tier", int(counts.get(None, 0))))
    return shares


@dataclass(frozen=True)
class RewardPopularity:
    reward_id: int
    name: str
    vouchers: int
    used: int
    points_spent: int


def reward_popularity(
    session: Session, *, merchant: Merchant, period: Period, limit: int = TOP_REWARDS
) -> list[RewardPopularity]:
    """Rewards by vouchers issued in the period, most popular first."""
    offerings.require(merchant, Feature.ADVANCED_ANALYTICS)
    vouchers = func.count(Voucher.id)
    rows = session.execute(
        select(
            Reward.id,
            Reward.name,
            vouchers,
            func.count(case((Voucher.status == VoucherStatus.USED, 1))),
            func.coalesce(func.sum(Voucher.points_spent), 0),
        )
        .join(Reward, Reward.id == Voucher.reward_id)
        .where(
            Voucher.merchant_id == merchant.id,
            Voucher.created_at >= period.start,
            Voucher.created_at < period.end,
        )
        .group_by(Reward.id, Reward.name)
        .order_by(vouchers.desc(), Reward.name)
        .limit(limit)
    ).all()
    return [
        RewardPopularity(reward_id, name, int(count), int(used), int(points))
        for reward_id, name, count, used, points in rows
    ]


# --- full analytics (Enterprise) --------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """Members who joined in one local month, and the share active in each month since."""

    month: date  # first day of the month
    size: int
    active: list[int] = field(default_factory=list)  # index k: active k months after joining

    @property
    def retention(self) -> list[float | None]:
        return [_rate(count, self.size) for count in self.active]


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _months_between(first: date, second: date) -> int:
    return (second.year - first.year) * 12 + second.month - first.month


def cohort_retention(
    session: Session,
    *,
    merchant: Merchant,
    now: datetime | None = None,
    months: int = COHORT_MONTHS,
) -> list[Cohort]:
    """Monthly enrolment cohorts of the last `months` local months: two GROUP BY statements."""
    offerings.require(merchant, Feature.FULL_ANALYTICS)
    now = now or utcnow()
    zone = _zone(merchant.timezone)
    this_month = _month_start(now.astimezone(zone).date())
    first_month = _month_start(this_month, back=months - 1)
    start = _local_midnight(first_month, zone)

    joined = func.substr(local_date(session, LoyaltyMember.enrolled_at, zone.key, start, now), 1, 7)
    sizes = dict(
        session.execute(
            select(joined, func.count())
            .where(
                LoyaltyMember.merchant_id == merchant.id,
                LoyaltyMember.enrolled_at >= start,
                LoyaltyMember.enrolled_at < now,
            )
            .group_by(joined)
        ).all()
    )
    acted = func.substr(local_date(session, T.created_at, zone.key, start, now), 1, 7)
    activity = session.execute(
        select(joined, acted, func.count(distinct(T.member_id)))
        .join(LoyaltyMember, LoyaltyMember.id == T.member_id)
        .where(
            LoyaltyMember.merchant_id == merchant.id,
            LoyaltyMember.enrolled_at >= start,
            LoyaltyMember.enrolled_at < now,
            T.merchant_id == merchant.id,
            T.type.in_(ACTIVITY_TYPES),
            T.created_at >= start,
            T.created_at < now,
        )
        .group_by(joined, acted)
    ).all()

    active: dict[str, dict[int, int]] = {}
    for cohort_key, month_key, count in activity:
        offset = _months_between(_as_date(f"{cohort_key}-01"), _as_date(f"{month_key}-01"))
        if offset >= 0:
            active.setdefault(cohort_key, {})[offset] = int(count)

    cohorts = []
    for back in range(months - 1, -1, -1):
        month = _month_start(this_month, back=back)
        key = month.isoformat()[:7]
        span = _months_between(month, this_month) + 1
        counts = active.get(key, {})
        cohorts.append(
            Cohort(
                month=month,
                size=int(sizes.get(key, 0)),
                active=[counts.get(k, 0) for k in range(span)],
            )
        )
    return cohorts


EXPORT_HEADER = ["section", "bucket", "subject", "metric", "value"]


def export_rows(
    session: Session, *, merchant: Merchant, period: Period, now: datetime | None = None
) -> Iterator[list[str]]:
    """Every figure of the dashboard as long-format CSV rows, produced section by section.

    A generator: each section's query runs when the previous section has been written, so
    the response streams and holds one section's aggregate rows at most.
    """
    offerings.require(merchant, Feature.FULL_ANALYTICS)
    rows = _export(session, merchant=merchant, period=period, now=now or period.end)
    return ([_cell(value) for value in row] for row in rows)


def _export(
    session: Session, *, merchant: Merchant, period: Period, now: datetime
) -> Iterator[list[object]]:
    yield list(EXPORT_HEADER)
    window = f"{period.first_day.isoformat()}/{period.last_day.isoformat()}"
    kpis = summary(session, merchant=merchant, period=period)
    figures: list[tuple[str, object]] = [
        ("members", kpis.members),
        ("new_members", kpis.new_members),
        ("active_members_30_days", kpis.active_30),
        ("active_members_90_days", kpis.active_90),
        ("points_issued", kpis.points_issued),
        ("points_redeemed", kpis.points_redeemed),
        ("points_expired", kpis.points_expired),
        ("outstanding_points", kpis.outstanding_points),
        ("point_value_cents", kpis.point_value.cents),
        ("liability_cents", kpis.liability_cents),
        ("redemption_rate", kpis.redemption_rate),
        ("visits", kpis.visits),
        ("visitors", kpis.visitors),
        ("repeat_visit_rate", kpis.repeat_visit_rate),
        ("spend_cents", kpis.spend_cents),
        ("average_spend_cents", kpis.average_spend_cents),
    ]
    for metric, value in figures:
        yield ["summary", window, merchant.name, metric, value]

    series = time_series(session, merchant=merchant, period=period)
    for bucket in series.buckets:
        for metric in ("new_members", "visits", "spend_cents", "points_issued", "points_redeemed"):
            yield [
                series.unit,
                bucket.first_day.isoformat(),
                "",
                metric,
                getattr(bucket, metric),
            ]

    for shop in shop_comparison(session, merchant=merchant, period=period):
        for metric in ("visits", "visitors", "spend_cents", "points_issued", "points_redeemed"):
            yield ["shop", window, shop.name, metric, getattr(shop, metric)]
        yield ["shop", window, shop.name, "average_spend_cents", shop.average_spend_cents]

    for tier in tier_distribution(session, merchant=merchant):
        yield ["tier", period.last_day.isoformat(), tier.name, "members", tier.members]

    for reward in reward_popularity(session, merchant=merchant, period=period, limit=1000):
        yield ["reward", window, reward.name, "vouchers", reward.vouchers]
        yield ["reward", window, reward.name, "used", reward.used]
        yield ["reward", window, reward.name, "points_spent", reward.points_spent]

    for cohort in cohort_retention(session, merchant=merchant, now=now):
        month = cohort.month.isoformat()[:7]
        yield ["cohort", month, "", "size", cohort.size]
        for offset, rate in enumerate(cohort.retention):
            yield ["cohort", month, f"month {offset}", "retention", rate]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        return f"{value:.4f}"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a shop named "=HYPERLINK(...)" must not become a spreadsheet formula
    return str(value)


# --- the whole dashboard: live, or the worker's snapshot for large programmes ------------------

# From this many members a programme's dashboard is read from the snapshot the worker refreshes
# every SNAPSHOT_EVERY: its figures scan months of ledger (about a second at 20,000 members
# under load, minutes at a million); smaller programmes are computed for each request.
SNAPSHOT_FROM_MEMBERS = 5_000
SNAPSHOT_EVERY = timedelta(hours=1)
# A snapshot older than this (the worker stopped) is not shown: the figures are computed live.
SNAPSHOT_MAX_AGE = timedelta(days=1)


@dataclass(frozen=True)
class Dashboard:
    """Every figure the dashboard shows for one period; the parts the offering includes."""

    kpis: Kpis
    series: Series | None = None
    shops: list[ShopFigures] | None = None
    tiers: list[TierShare] | None = None
    rewards: list[RewardPopularity] | None = None
    cohorts: list[Cohort] | None = None
    as_of: datetime | None = None  # when the worker computed it; None: for this request

    @property
    def period(self) -> Period:
        return self.kpis.period


def compute_dashboard(session: Session, *, merchant: Merchant, period: Period) -> Dashboard:
    """The figures, computed now: a few aggregate statements per part."""
    advanced = offerings.has(merchant, Feature.ADVANCED_ANALYTICS)
    return Dashboard(
        kpis=summary(session, merchant=merchant, period=period),
        series=time_series(session, merchant=merchant, period=period) if advanced else None,
        shops=shop_comparison(session, merchant=merchant, period=period) if advanced else None,
        tiers=tier_distribution(session, merchant=merchant) if advanced else None,
        rewards=reward_popularity(session, merchant=merchant, period=period) if advanced else None,
        cohorts=cohort_retention(session, merchant=merchant, now=period.end)
        if offerings.has(merchant, Feature.FULL_ANALYTICS)
        else None,
    )


def dashboard(
    session: Session,
    *,
    merchant: Merchant,
    days: int = BASIC_PERIOD_DAYS,
    now: datetime | None = None,
) -> Dashboard:
    """The dashboard for the last `days` days: the worker's snapshot if there is a recent one
    computed under the merchant's current offering, else computed for this request."""
    now = now or utcnow()
    period = period_for(merchant, days=days, now=now)  # the offering's gate and the choices
    snapshot = session.scalars(
        select(DashboardSnapshot).where(
            DashboardSnapshot.merchant_id == merchant.id, DashboardSnapshot.days == days
        )
    ).first()
    if (
        snapshot is not None
        and snapshot.offering == merchant.offering
        and now - snapshot.computed_at <= SNAPSHOT_MAX_AGE
    ):
        found = _decode(Dashboard, snapshot.figures)
        return replace(found, as_of=snapshot.computed_at)
    return compute_dashboard(session, merchant=merchant, period=period)


def large_merchants(session: Session, *, at_least: int | None = None) -> list[int]:
    """Merchants with at least `at_least` (default SNAPSHOT_FROM_MEMBERS) members."""
    return list(
        session.scalars(
            select(LoyaltyMember.merchant_id)
            .group_by(LoyaltyMember.merchant_id)
            .having(func.count() >= (SNAPSHOT_FROM_MEMBERS if at_least is None else at_least))
            .order_by(LoyaltyMember.merchant_id)
        )
    )


def refresh_snapshot(session: Session, *, merchant: Merchant, now: datetime | None = None) -> int:
    """Compute and store the merchant's dashboard for every period its offering may show."""
    now = now or utcnow()
    choices = (
        PERIOD_CHOICES
        if offerings.has(merchant, Feature.ADVANCED_ANALYTICS)
        else (BASIC_PERIOD_DAYS,)
    )
    for days in choices:
        figures = _encode(
            compute_dashboard(
                session, merchant=merchant, period=period_for(merchant, days=days, now=now)
            )
        )
        snapshot = session.scalars(
            select(DashboardSnapshot).where(
                DashboardSnapshot.merchant_id == merchant.id, DashboardSnapshot.days == days
            )
        ).first()
        if snapshot is None:
            snapshot = DashboardSnapshot(merchant_id=merchant.id, days=days)
            session.add(snapshot)
        snapshot.offering = merchant.offering
        snapshot.computed_at = now
        snapshot.figures = figures
        session.flush()
    return len(choices)


def refresh_snapshots(session: Session, *, now: datetime | None = None) -> int:
    """The worker's job: fresh snapshots for every large programme; small ones stay live."""
    count = 0
    for merchant_id in large_merchants(session):
        merchant = session.get(Merchant, merchant_id)
        if merchant is not None and offerings.has(merchant, Feature.BASIC_ANALYTICS):
            count += refresh_snapshot(session, merchant=merchant, now=now)
    return count


def _encode(value: Any) -> Any:
    """Dataclasses, dates, times and Decimals as JSON, tagged so `_decode` gets them back."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    return value


def _decode(kind: Any, data: Any) -> Any:
    if data is None:
        return None
    if isinstance(kind, type) and is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: _decode(hints[f.name], data[f.name]) for f in fields(kind)})
    origin = get_origin(kind)
    if origin in (UnionType, Union):
        inner = [arg for arg in get_args(kind) if arg is not type(None)]
        return _decode(inner[0], data)
    if origin is list:
        (item,) = get_args(kind)
        return [_decode(item, value) for value in data]
    if isinstance(data, dict) and len(data) == 1:
        ((tag, text),) = data.items()
        if tag == "datetime":
            return datetime.fromisoformat(text)
        if tag == "date":
            return date.fromisoformat(text)
        if tag == "decimal":
            return Decimal(text)
    return data
