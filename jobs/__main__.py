"""`python -m jobs`: the worker. For now a scheduler with a heartbeat; real jobs come with their issues."""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from dotenv import load_dotenv

log = logging.getLogger("jobs")

HEARTBEAT_MINUTES = 10
# The worker's duties in DESIGN.md; each issue that implements one removes it from this list.
NOT_IMPLEMENTED = (
    "campaigns",
    "outbox delivery",
    "points expiry",
    "birthday bonuses",
    "wallet pass pushes",
)


def heartbeat() -> None:
    log.info("worker alive; jobs not implemented yet: %s", ", ".join(NOT_IMPLEMENTED))


def build_scheduler() -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_job(
        heartbeat,
        "interval",
        minutes=HEARTBEAT_MINUTES,
        id="heartbeat",
        next_run_time=datetime.now(UTC),  # once at start, so a fresh worker says what it does
        coalesce=True,
        max_instances=1,
    )
    return scheduler


def configure_logging() -> None:
    load_dotenv(Path(__file__).resolve().parent.parent / ".env", override=False)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # no line per job run


def main() -> int:
    configure_logging()
    scheduler = build_scheduler()

    def stop(signum: int, _frame: object) -> None:
        log.info("%s received: stopping the worker", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker started (pid %d): heartbeat every %d minutes", os.getpid(), HEARTBEAT_MINUTES)
    scheduler.start()  # blocks until stop() shuts the scheduler down
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
