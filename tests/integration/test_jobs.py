"""Job runs are recorded, a failing job is kept with its error and never raises, and a daily
slot is done once however many workers tick. These commit for real: own engine, wiped after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from jobs.runs import run_job
from loyalty.db import make_engine
from loyalty.models import JobOutcome, JobRun


@pytest.fixture
def sessions(app: Flask) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    factory = sessionmaker(engine, expire_on_commit=False)
    yield factory
    with engine.begin() as connection:
        connection.execute(delete(JobRun))
    engine.dispose()


def test_a_run_is_recorded_with_its_counts(sessions) -> None:
    run = run_job(sessions, "points_expiry", lambda s: {"members": 3, "points": 120})
    assert run is not None
    assert run.outcome == JobOutcome.OK
    assert run.counts == {"members": 3, "points": 120}
    assert run.finished_at >= run.started_at
    assert run.duration_ms >= 0


def test_a_failing_job_is_recorded_and_does_not_raise(sessions) -> None:
    def broken(session: Session) -> dict:
        raise RuntimeError("SMTP server on fire")

    run = run_job(sessions, "birthday_bonus", broken, run_key="program 1 2026-06-01")
    assert run is not None
    assert run.outcome == JobOutcome.FAILED
    assert "SMTP server on fire" in run.error
    # The slot is free again: the next tick retries and succeeds.
    again = run_job(
        sessions, "birthday_bonus", lambda s: {"members": 1}, run_key="program 1 2026-06-01"
    )
    assert again is not None
    assert again.outcome == JobOutcome.OK


def test_a_daily_slot_runs_once_however_many_workers_tick(sessions) -> None:
    calls = []
    for _ in range(3):
        run_job(sessions, "tier_evaluation", lambda s: calls.append(1) or {"n": 1}, run_key="p7 d1")
    assert len(calls) == 1
    with sessions() as session:
        assert session.scalars(
            select(JobRun.run_key).where(JobRun.job == "tier_evaluation")
        ).all() == ["p7 d1"]


def test_continuous_jobs_keep_only_runs_that_did_something(sessions) -> None:
    assert run_job(sessions, "outbox_delivery", lambda s: {}, record_empty=False) is None
    assert (
        run_job(sessions, "outbox_delivery", lambda s: {"sent": 2}, record_empty=False) is not None
    )
    with sessions() as session:
        assert len(session.scalars(select(JobRun)).all()) == 1
