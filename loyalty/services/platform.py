"""The platform operator's figures: usage across every merchant, per-merchant activity, job health.

Deliberately cross-tenant: only the admin surface (platform admins) calls these. Each figure
is one GROUP BY, whatever the number of merchants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import (
    Campaign,
    CampaignStatus,
    JobOutcome,
    JobRun,
    LoyaltyMember,
    LoyaltyTransaction,
    Membership,
    Merchant,
    MerchantStatus,
    Offering,
    OutboxMessage,
    OutboxStatus,
    Shop,
)

RECENT_DAYS = 30


@dataclass(frozen=True)
class HeldWork:
    """What a suspended merchant has waiting: none of it is sent, none of it is failed."""

    messages: int  # queued outbox rows: campaign messages, receipts, webhook deliveries
    campaigns: int  # scheduled or running campaigns

    @property
    def anything(self) -> bool:
        return bool(self.messages or self.campaigns)


@dataclass(frozen=True)
class PlatformUsage:
    merchants_by_offering: dict[Offering, int]
    suspended: int
    members: int
    new_members: int  # last 30 days
    transactions: int  # last 30 days
    messages_sent: int  # last 30 days

    @property
    def merchants(self) -> int:
        return sum(self.merchants_by_offering.values())


def usage(session: Session, *, now: datetime | None = None) -> PlatformUsage:
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    by_offering = dict.fromkeys(Offering, 0)
    suspended = 0
    for offering, status, count in session.execute(
        select(Merchant.offering, Merchant.status, func.count()).group_by(
            Merchant.offering, Merchant.status
        )
    ):
        by_offering[Offering(offering)] += count
        if status == MerchantStatus.SUSPENDED:
            suspended += count
    members, new_members = session.execute(
        select(
            func.count(LoyaltyMember.id),
            func.count(case((LoyaltyMember.enrolled_at >= since, 1))),
        )
    ).one()
    transactions = session.scalar(
        select(func.count(LoyaltyTransaction.id)).where(LoyaltyTransaction.created_at >= since)
    )
    messages = session.scalar(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.sent_at >= since
        )
    )
    return PlatformUsage(
        merchants_by_offering=by_offering,
        suspended=suspended,
        members=int(members or 0),
        new_members=int(new_members or 0),
        transactions=int(transactions or 0),
        messages_sent=int(messages or 0),
    )


def merchant_search(query: str) -> Select[tuple[Merchant]]:
    """Merchants whose name or slug contains `query` (any case), by name."""
    statement = select(Merchant).order_by(Merchant.name, Merchant.id)
    text = (query or "").strip()[:120]
    if text:
        pattern = (
            "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        statement = statement.where(
            or_(
                func.lower(Merchant.name).like(pattern, escape="\\"),
                Merchant.slug.like(pattern, escape="\\"),
            )
        )
    return statement


@dataclass(frozen=True)
class MerchantFigures:
    shops: int = 0
    members: int = 0
    staff: int = 0
    last_activity: datetime | None = None
    transactions_30_days: int = 0


def merchant_figures(
    session: Session, merchant_ids: list[int], *, now: datetime | None = None
) -> dict[int, MerchantFigures]:
    """Counts and last ledger activity for a page of merchants: four GROUP BY statements."""
    if not merchant_ids:
        return {}
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)

    def counts(model: type) -> dict[int, int]:
        rows = session.execute(
            select(model.merchant_id, func.count(model.id))  # type: ignore[attr-defined]
            .where(model.merchant_id.in_(merchant_ids))  # type: ignore[attr-defined]
            .group_by(model.merchant_id)  # type: ignore[attr-defined]
        )
        return {merchant_id: int(total) for merchant_id, total in rows}

    shops, members, staff = counts(Shop), counts(LoyaltyMember), counts(Membership)
    T = LoyaltyTransaction
    activity = {
        merchant_id: (last, int(recent or 0))
        for merchant_id, last, recent in session.execute(
            select(
                T.merchant_id,
                func.max(T.created_at),
                func.count(case((T.created_at >= since, 1))),
            )
            .where(T.merchant_id.in_(merchant_ids))
            .group_by(T.merchant_id)
        )
    }
    result = {}
    for merchant_id in merchant_ids:
        last, recent = activity.get(merchant_id, (None, 0))
        result[merchant_id] = MerchantFigures(
            shops=shops.get(merchant_id, 0),
            members=members.get(merchant_id, 0),
            staff=staff.get(merchant_id, 0),
            last_activity=_aware(last),
            transactions_30_days=recent,
        )
    return result


# --- the worker's job history -------------------------------------------------------------------


@dataclass(frozen=True)
class JobHealth:
    job: str
    runs: int
    failures: int
    last_run: datetime | None
    last_success: datetime | None


def job_names(session: Session) -> list[str]:
    return list(session.scalars(select(JobRun.job).group_by(JobRun.job).order_by(JobRun.job)))


def job_health(session: Session) -> list[JobHealth]:
    """One row per job: runs recorded, failures, last run and last success (one GROUP BY)."""
    rows = session.execute(
        select(
            JobRun.job,
            func.count(),
            func.count(case((JobRun.outcome == JobOutcome.FAILED, 1))),
            func.max(JobRun.started_at),
            func.max(case((JobRun.outcome == JobOutcome.OK, JobRun.finished_at))),
        )
        .group_by(JobRun.job)
        .order_by(JobRun.job)
    )
    return [
        JobHealth(job, int(runs), int(failures), _aware(last_run), _aware(last_success))
        for job, runs, failures, last_run, last_success in rows
    ]


def job_runs(job: str | None = None, outcome: JobOutcome | None = None) -> Select[tuple[JobRun]]:
    """The job history, newest first, optionally for one job and one outcome."""
    statement = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc())
    if job:
        statement = statement.where(JobRun.job == job)
    if outcome is not None:
        statement = statement.where(JobRun.outcome == outcome)
    return statement


def _aware(value: datetime | str | None) -> datetime | None:
    """SQLite's max() of a timestamp comes back as its stored text, naive UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def held_work(session: Session, merchant: Merchant) -> HeldWork:
    """Work the delivery and campaign jobs leave alone while `merchant` is suspended."""
    messages = session.scalar(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.merchant_id == merchant.id, OutboxMessage.status == OutboxStatus.QUEUED
        )
    )
    campaigns = session.scalar(
        select(func.count(Campaign.id)).where(
            Campaign.merchant_id == merchant.id,
            Campaign.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.RUNNING]),
        )
    )
    return HeldWork(messages=int(messages or 0), campaigns=int(campaigns or 0))
