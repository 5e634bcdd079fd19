"""Two worker processes on one outbox: both send, and no message is sent twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select

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

    twilio.delay = 0.01  # a provider's round trip: one worker alone cannot drain it at once
    first, second = workers.start(), workers.start()
    hold(committed, campaign_id, until_ready=[first, second])
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
