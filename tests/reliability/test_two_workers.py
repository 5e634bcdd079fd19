"""Two worker processes on one outbox: both send, and no message is sent twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from loyalty.models import JobRun
from tests import factories
from tests.reliability.conftest import (
    hold,
    progress,
    received,
    seed_members,
    start_campaign,
    unsettled,
    wait_for,
)

pytestmark = pytest.mark.postgres_only

MEMBERS = 3_000


def test_two_workers_at_once_never_send_a_message_twice(committed, twilio, workers) -> None:
    with committed.begin() as session:
        tenant = factories.make_tenant(session)
        addresses = seed_members(session, tenant, MEMBERS, prefix="+35268")
        campaign_id = start_campaign(session, tenant)

    # A provider's round trip, long enough that one worker's send threads cannot drain the
    # campaign before the other's first delivery run, even on a busy machine.
    twilio.delay = 0.03
    first, second = workers.start(), workers.start()
    hold(committed, campaign_id, until_ready=[first, second], settle=1.0)
    wait_for(
        lambda: unsettled(committed, campaign_id) == 0, timeout=400, what="the campaign to finish"
    )
    workers.stop_all()

    counts = received(twilio)
    assert set(counts) == set(addresses)
    assert max(counts.values()) == 1
    assert progress(committed, campaign_id)["sent"] == MEMBERS
    with committed() as session:
        runs = session.scalars(select(JobRun).where(JobRun.job == "outbox_delivery")).all()
    sent_by = {
        pid: sum(r.counts.get("sent", 0) for r in runs if r.worker.endswith(f":{pid}"))
        for pid in (first.pid, second.pid)
    }
    print(f"two workers, {MEMBERS} messages: sent per worker process {sent_by}")
    assert sum(sent_by.values()) == MEMBERS
    assert all(sent_by.values())  # both took part


def test_each_worker_runs_its_own_outbox_delivery_and_old_shared_copies_are_dropped(
    committed,
) -> None:
    from jobs.__main__ import (
        OWN_JOBS,
        SCHEDULE,
        build_scheduler,
        prepare_shared_store,
        shared_store,
    )

    engine = committed.kw["bind"]
    store = shared_store(engine.url.render_as_string(hide_password=False))
    prepare_shared_store(engine, store)
    with engine.begin() as connection:  # what a worker of an earlier version left behind
        for job_id in ("outbox_delivery", "heartbeat"):
            connection.execute(store.jobs_t.insert().values(id=job_id, job_state=b"old"))

    prepare_shared_store(engine, store)  # the next start, tables already there

    with engine.connect() as connection:
        assert connection.execute(store.jobs_t.select()).all() == []
    scheduler = build_scheduler(store)
    # Before start() APScheduler holds (job, store alias, replace) for each job it was given.
    stores = {job.id: alias for job, alias, _ in scheduler._pending_jobs}
    assert stores["outbox_delivery"] == stores["heartbeat"] == "own"
    assert {stores[job_id] for job_id, *_ in SCHEDULE} == {"default"}
    assert [job_id for job_id, *_ in OWN_JOBS] == ["outbox_delivery"]


def test_workers_starting_together_on_a_new_database_all_start(committed) -> None:
    """APScheduler creates its table with check-then-create: copies starting at once raced."""
    from concurrent.futures import ThreadPoolExecutor

    from jobs.__main__ import prepare_shared_store, shared_store

    engine = committed.kw["bind"]
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
    with ThreadPoolExecutor(6) as pool:
        starts = [pool.submit(prepare_shared_store, engine, shared_store(url)) for _ in range(6)]
        for start in starts:
            start.result()  # none raised
