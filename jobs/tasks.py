"""The worker's jobs. Each is a module-level function (the job store keeps its name) that runs
its work through `run_job`, so it is recorded and a failure never stops the scheduler.

`configure()` gives them the database and the senders at start; tests call it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from jobs.runs import run_job
from jobs.senders import Senders
from loyalty.db import utcnow
from loyalty.models import (
    AutomationKey,
    JobRun,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    MemberAccessToken,
    Merchant,
    MerchantStatus,
    Voucher,
    VoucherStatus,
)
from loyalty.notify import outbox, rules
from loyalty.notify.delivery import Deliverer, DeliveryPolicy
from loyalty.services import analytics, automations, idempotency, membership, pending, webhooks
from loyalty.services.bonuses import grant_birthday_bonuses
from loyalty.services.campaigns import run_due
from loyalty.services.expiry import expire_points
from loyalty.services.expiry_reminders import queue_expiry_reminders
from loyalty.services.receipts import preferred_destination
from loyalty.services.tiers import TierChange, recompute_tiers

JOB_HISTORY_DAYS = 90
ACCESS_TOKEN_DAYS = 30


@dataclass
class Context:
    sessions: sessionmaker[Session]
    senders: Senders
    policy: DeliveryPolicy
    stopping: Any = lambda: False


_context: Context | None = None


def configure(context: Context) -> None:
    global _context
    _context = context


def context() -> Context:
    if _context is None:
        raise RuntimeError(
            "jobs.tasks.configure() was not called: start the worker with `python -m jobs`."
        )
    return _context


# --- continuous -------------------------------------------------------------------------------


def deliver_outbox() -> None:
    ctx = context()

    def work(session: Session) -> dict[str, Any]:
        deliverer = Deliverer(
            ctx.senders.for_session(session),
            limits=ctx.senders.limits,
            policy=ctx.policy,
            stopping=ctx.stopping,
        )
        return {str(status): n for status, n in deliverer.run(session).items()}

    run_job(ctx.sessions, "outbox_delivery", work, record_empty=False)


def campaigns_due_work(session: Session, now: datetime | None = None) -> dict[str, Any]:
    return run_due(session, now=now)


def campaigns_due() -> None:
    """Every minute: start scheduled campaigns, re-arm recurring ones, close finished runs."""
    ctx = context()
    run_job(ctx.sessions, "campaigns_due", campaigns_due_work, record_empty=False)


def refresh_wallet_passes() -> None:
    from wallet.push import queue_pass_updates

    ctx = context()
    run_job(ctx.sessions, "wallet_pass_refresh", queue_pass_updates, record_empty=False)


def expire_vouchers_work(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Vouchers past valid_until become 'expired' in one statement."""
    now = now or utcnow()
    expired = session.execute(
        update(Voucher)
        .where(Voucher.status == VoucherStatus.ISSUED, Voucher.valid_until < now)
        .values(status=VoucherStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    ).rowcount
    return {"vouchers": expired}


def expire_vouchers() -> None:
    ctx = context()
    run_job(ctx.sessions, "voucher_expiry", expire_vouchers_work, record_empty=False)


def release_pending_work(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Points whose return window has closed become spendable, for every programme at once."""
    run = pending.release_due(session, now=now or utcnow())
    return {"members": run.members, "points": run.points}


def release_pending_points() -> None:
    ctx = context()
    run_job(ctx.sessions, "pending_release", release_pending_work, record_empty=False)


def dashboard_snapshots_work(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """The dashboards of large programmes, computed ahead (loyalty.services.analytics)."""
    return {"snapshots": analytics.refresh_snapshots(session, now=now or utcnow())}


def dashboard_snapshots() -> None:
    ctx = context()
    run_job(ctx.sessions, "dashboard_snapshots", dashboard_snapshots_work, record_empty=False)


# --- once a day per programme, on the merchant's local date ---------------------------------


def local_today(merchant: Merchant, now: datetime):
    try:
        zone = ZoneInfo(merchant.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def _programs(sessions: sessionmaker[Session]) -> list[tuple[int, int, str]]:
    with sessions() as session:
        return [
            (row.id, row.merchant_id, row.timezone)
            for row in session.execute(
                select(LoyaltyProgram.id, LoyaltyProgram.merchant_id, Merchant.timezone)
                .join(Merchant, Merchant.id == LoyaltyProgram.merchant_id)
                .where(Merchant.status == MerchantStatus.ACTIVE)
                .order_by(LoyaltyProgram.id)
            )
        ]


def daily(job: str, work, now: datetime | None = None) -> list[JobRun | None]:
    """Run `work(session, program, today, now)` once per programme and merchant-local day."""
    ctx = context()
    now = now or utcnow()
    runs = []
    for program_id, _merchant_id, tz in _programs(ctx.sessions):
        merchant_stub = Merchant(timezone=tz)
        today = local_today(merchant_stub, now)

        def one(session: Session, program_id: int = program_id, today=today) -> dict[str, Any]:
            program = session.get(LoyaltyProgram, program_id)
            assert program is not None
            return work(session, program, today, now)

        runs.append(run_job(ctx.sessions, job, one, run_key=f"program {program_id} {today}"))
    return runs


def expiry_work(session: Session, program: LoyaltyProgram, today, now) -> dict[str, Any]:
    result = expire_points(session, program=program, now=now)
    return {"members": result.members, "points": result.points}


def expiry_reminder_work(session: Session, program: LoyaltyProgram, today, now) -> dict[str, Any]:
    """The 14-day reminder, unless the merchant switched it off (automations)."""
    switch = automations.state(session, program.merchant_id, AutomationKey.EXPIRY_REMINDER)
    if not switch.enabled:
        return {"reminders": 0}
    custom = switch.text if switch.text != switch.default_text else None
    zone = rules.merchant_zone(session, program.merchant_id)
    queued = queue_expiry_reminders(
        session, program=program, today=today, zone=zone, now=now, text=custom
    )
    return {"reminders": queued}


def birthday_work(session: Session, program: LoyaltyProgram, today, now) -> dict[str, Any]:
    return {"members": grant_birthday_bonuses(session, program=program, today=today, now=now)}


def tiers_work(session: Session, program: LoyaltyProgram, today, now) -> dict[str, Any]:
    changes = recompute_tiers(session, program=program, now=now)
    for change in changes:
        if not change.upgrade:
            queue_tier_message(session, change, today)
    return {
        "upgrades": sum(1 for c in changes if c.upgrade),
        "downgrades": sum(1 for c in changes if not c.upgrade),
    }


def queue_tier_message(session: Session, change: TierChange, today) -> None:
    member = session.get(LoyaltyMember, change.member_id)
    if member is None:
        return
    destination = preferred_destination(session, member)
    if destination is None:
        return
    tier = session.get(LoyaltyTier, change.new_tier_id) if change.new_tier_id else None
    outbox.enqueue(
        session,
        merchant_id=member.merchant_id,
        member_id=member.id,
        channel=destination.channel,
        template="tier_changed",
        address=destination.address,
        payload={
            "name": member.customer.name,
            "program": member.program.name,
            "tier": tier.name if tier else "none",
            "upgrade": change.upgrade,
            "language": member.customer.language,
        },
        dedupe_key=f"tier_changed:{member.id}:{today}",
    )


def welcome_series_work(session: Session, program: LoyaltyProgram, today, now) -> dict[str, Any]:
    return {"messages": automations.queue_welcome_series(session, program=program, now=now)}


def win_back_work(session: Session, program: LoyaltyProgram, today, now) -> dict[str, Any]:
    return {"messages": automations.queue_win_back(session, program=program, now=now)}


def membership_lapse_work(session: Session, program: LoyaltyProgram, today, now) -> dict[str, Any]:
    """Cards whose paid period ended: touched once, so the pass refresh shows them expired."""
    return {"members": membership.mark_lapsed(session, program=program, now=now)}


def membership_lapses() -> None:
    daily("membership_lapse", membership_lapse_work)


def welcome_series() -> None:
    daily("welcome_series", welcome_series_work)


def win_back() -> None:
    daily("win_back", win_back_work)


def points_expiry() -> None:
    daily("points_expiry", expiry_work)


def expiry_reminders() -> None:
    daily("expiry_reminder", expiry_reminder_work)


def birthday_bonuses() -> None:
    daily("birthday_bonus", birthday_work)


def tier_evaluation() -> None:
    daily("tier_evaluation", tiers_work)


# --- retention ------------------------------------------------------------------------------


def retention_work(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """GDPR erasure is immediate (loyalty.services.gdpr); this purges what outlives its use."""
    now = now or utcnow()
    runs = session.execute(
        delete(JobRun).where(JobRun.started_at < now - timedelta(days=JOB_HISTORY_DAYS))
    ).rowcount
    tokens = session.execute(
        delete(MemberAccessToken).where(
            MemberAccessToken.expires_at < now - timedelta(days=ACCESS_TOKEN_DAYS)
        )
    ).rowcount
    # The public API's Idempotency-Key answers are kept 24 h (loyalty/services/idempotency.py).
    keys = idempotency.purge(session, now=now)
    deliveries = webhooks.purge_delivery_log(session, now=now)
    return {
        "job_runs": runs,
        "access_tokens": tokens,
        "idempotency_keys": keys,
        "webhook_deliveries": deliveries,
    }


def data_retention() -> None:
    ctx = context()
    today = utcnow().date()
    run_job(ctx.sessions, "data_retention", retention_work, run_key=str(today))
