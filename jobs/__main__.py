"""`python -m jobs`: the worker. APScheduler with its job store in the application database.

Every copy registers the same schedule (replace_existing) in the shared store and may run any of
its jobs: daily jobs hold a (job, programme + local day) row in job_runs, so several copies never
do the same work twice. Outbox delivery and the heartbeat are each copy's own (a memory store):
every copy sends, sharing the outbox with SKIP LOCKED, which is what adding workers is for.
Without provider credentials the worker still runs and delivers to the local log;
its first lines say which channels wait for what.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine, delete, text

from jobs import tasks
from jobs.senders import Senders, WorkerConfig
from loyalty import process
from loyalty.db import session_factory
from loyalty.notify.delivery import DeliveryPolicy
from loyalty.notify.rules import QuietHours

log = logging.getLogger("jobs")

HEARTBEAT_MINUTES = 10

# id, function, trigger arguments. Daily jobs tick every 15 minutes and act once per
# programme and merchant-local day, so each merchant's "night" follows its own time zone.
SCHEDULE = (
    ("campaigns_due", tasks.campaigns_due, {"minutes": 1}),
    ("wallet_pass_refresh", tasks.refresh_wallet_passes, {"minutes": 1}),
    ("voucher_expiry", tasks.expire_vouchers, {"minutes": 5}),
    ("pending_release", tasks.release_pending_points, {"minutes": 5}),
    ("points_expiry", tasks.points_expiry, {"minutes": 15}),
    ("expiry_reminder", tasks.expiry_reminders, {"minutes": 15}),
    ("birthday_bonus", tasks.birthday_bonuses, {"minutes": 15}),
    ("welcome_series", tasks.welcome_series, {"minutes": 15}),
    ("win_back", tasks.win_back, {"minutes": 15}),
    ("tier_evaluation", tasks.tier_evaluation, {"minutes": 15}),
    ("membership_lapse", tasks.membership_lapses, {"minutes": 15}),
    ("data_retention", tasks.data_retention, {"hours": 6}),
    ("dashboard_snapshots", tasks.dashboard_snapshots, {"hours": 1}),  # analytics.SNAPSHOT_EVERY
)


# Jobs every worker copy runs for itself: in a shared store only one copy would pick each run.
OWN_JOBS = (("outbox_delivery", tasks.deliver_outbox, {"seconds": 3}),)


def heartbeat() -> None:
    log.info("worker alive; %s", tasks.context().senders.describe())


def shared_store(database_url: str) -> SQLAlchemyJobStore:
    return SQLAlchemyJobStore(url=database_url, tablename="apscheduler_jobs")


def build_scheduler(store: SQLAlchemyJobStore) -> BlockingScheduler:
    scheduler = BlockingScheduler(
        timezone=UTC,
        jobstores={"default": store, "own": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    start = datetime.now(UTC)
    for job_id, func, interval in SCHEDULE:
        scheduler.add_job(
            func, "interval", id=job_id, replace_existing=True, next_run_time=start, **interval
        )
    for job_id, func, interval in OWN_JOBS:
        scheduler.add_job(
            func, "interval", id=job_id, jobstore="own", next_run_time=start, **interval
        )
    scheduler.add_job(
        heartbeat,
        "interval",
        jobstore="own",
        minutes=HEARTBEAT_MINUTES,
        id="heartbeat",
        replace_existing=True,
        next_run_time=start,  # once at start, so a fresh worker says what it does
    )
    return scheduler


def prepare_shared_store(engine: Engine, store: SQLAlchemyJobStore) -> None:
    """Create the shared job table once, whichever copies start together (APScheduler's own
    check-then-create races: the loser crashed at start), and drop the rows of per-copy jobs
    that workers of earlier versions kept there, or one copy at a time would run them too."""
    own = [job_id for job_id, *_ in OWN_JOBS] + ["heartbeat"]
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('apscheduler_jobs'))"))
        store.jobs_t.create(connection, checkfirst=True)
        connection.execute(delete(store.jobs_t).where(store.jobs_t.c.id.in_(own)))


def delivery_policy(env: WorkerConfig) -> DeliveryPolicy:
    defaults = DeliveryPolicy()
    return DeliveryPolicy(
        max_attempts=int(env.get("OUTBOX_MAX_ATTEMPTS", str(defaults.max_attempts))),
        lease=timedelta(
            seconds=float(env.get("OUTBOX_LEASE_SECONDS", str(defaults.lease.total_seconds())))
        ),
        batch=int(env.get("OUTBOX_BATCH", str(defaults.batch))),
        concurrency=int(env.get("OUTBOX_CONCURRENCY", str(defaults.concurrency))),
        quiet_hours=QuietHours.parse(env.get("QUIET_HOURS", "21:00-08:00")),
    )


def main() -> int:
    # No line per job run, nor twilio's dozen lines per request.
    process.configure(quiet=["apscheduler", "twilio.http_client"])
    # A send thread woken for its rate-limit slot should not wait 5 ms (the default) for the
    # interpreter while another thread renders a chunk: late sends bunch at the provider.
    sys.setswitchinterval(0.001)
    from web.config import database_url

    url = database_url(os.environ.get("DATABASE_URL"))
    config = WorkerConfig(dict(os.environ))
    stopping = threading.Event()
    sessions = session_factory(url)
    senders = Senders(config, engine=sessions.kw["bind"])
    tasks.configure(
        tasks.Context(
            sessions=sessions,
            senders=senders,
            policy=delivery_policy(config),
            stopping=stopping.is_set,
        )
    )
    store = shared_store(url)
    prepare_shared_store(sessions.kw["bind"], store)
    scheduler = build_scheduler(store)

    def stop(signum: int, _frame: object) -> None:
        log.info("%s received: stopping the worker", signal.Signals(signum).name)
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "worker started (pid %d): %s",
        os.getpid(),
        ", ".join(job_id for job_id, *_ in (*OWN_JOBS, *SCHEDULE)),
    )
    log.info("senders: %s", senders.describe())
    scheduler.start()  # blocks until stop() shuts the scheduler down
    senders.close()
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
