"""Running a job once and writing it down: the job history and the once-per-slot lock.

A run with a `run_key` first commits its `job_runs` row; the unique (job, run_key) means a
second worker copy doing the same nightly slot fails that insert and skips. A failed run
renames its key (`…#failed-<id>`) so the next tick may try again. Errors are recorded and
swallowed: a failing job never stops the scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db import utcnow
from loyalty.models import JobOutcome, JobRun

log = logging.getLogger("jobs")

WORKER = f"{socket.gethostname()}:{os.getpid()}"[:120]

Work = Callable[[Session], dict[str, Any]]


def run_job(
    sessions: sessionmaker[Session],
    job: str,
    work: Work,
    *,
    run_key: str | None = None,
    record_empty: bool = True,
) -> JobRun | None:
    """Run `work(session)` in its own session and record it; None when another worker has it.

    `record_empty=False` (continuous jobs) keeps only runs that did something or failed.
    """
    started = utcnow()
    clock = time.perf_counter()
    run_id: int | None = None
    if run_key is not None or record_empty:
        run_id = _start(sessions, job, run_key, started)
        if run_id is None:
            return None
    session = sessions()
    try:
        counts = work(session) or {}
        session.commit()
    except Exception as exc:
        session.rollback()
        log.exception("job %s failed", job)
        return _finish(
            sessions,
            run_id,
            job=job,
            run_key=run_key,
            started=started,
            clock=clock,
            outcome=JobOutcome.FAILED,
            counts={},
            error="".join(traceback.format_exception(exc))[-4000:],
        )
    finally:
        session.close()
    if run_id is None and not any(counts.values()):
        return None
    return _finish(
        sessions,
        run_id,
        job=job,
        run_key=run_key,
        started=started,
        clock=clock,
        outcome=JobOutcome.OK,
        counts=counts,
        error=None,
    )


def _start(sessions: sessionmaker[Session], job: str, run_key: str | None, started) -> int | None:
    with sessions() as session:
        run = JobRun(job=job, run_key=run_key, worker=WORKER, started_at=started)
        session.add(run)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            log.debug("job %s %s: done or running elsewhere", job, run_key)
            return None
        return run.id


def _finish(
    sessions: sessionmaker[Session],
    run_id: int | None,
    *,
    job: str,
    run_key: str | None,
    started,
    clock: float,
    outcome: JobOutcome,
    counts: dict[str, Any],
    error: str | None,
) -> JobRun:
    with sessions() as session:
        run = session.get(JobRun, run_id) if run_id is not None else None
        if run is None:
            run = JobRun(job=job, run_key=run_key, worker=WORKER, started_at=started)
            session.add(run)
        run.finished_at = utcnow()
        run.duration_ms = int((time.perf_counter() - clock) * 1000)
        run.outcome = outcome
        run.counts = {str(k): v for k, v in counts.items()}
        run.error = error
        if outcome == JobOutcome.FAILED and run_key is not None:
            run.run_key = f"{run_key}#failed-{run.id}"[:120]  # frees the slot for a retry
        session.commit()
        if outcome == JobOutcome.OK:
            log.info("job %s%s: %s", job, f" [{run_key}]" if run_key else "", run.counts)
        return run
