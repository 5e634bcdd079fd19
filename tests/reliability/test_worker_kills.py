"""A campaign to 10,000 members survives a worker killed twice with SIGKILL: everyone gets the
message, nobody gets it twice beyond the sends that were in flight at the kills, and the
campaign page's counts match what the provider received."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select

from loyalty.models import OutboxMessage, OutboxStatus
from tests import factories
from tests.reliability.conftest import (
    progress,
    received,
    seed_members,
    start_campaign,
    unsettled,
    wait_for,
)

pytestmark = pytest.mark.postgres_only

MEMBERS = 10_000
LEASE_SECONDS = "10"  # short, so the killed worker's claims come back within the test


def in_flight_at_kill(committed, campaign_id: int, now: Counter, before: Counter) -> int:
    """Sends the provider received since the last kill for messages still marked `sending`.

    Those were sent but their outcome was not committed when the worker died: after the lease
    they are sent again. This is the number of duplicates the kill may cause.
    """
    with committed() as session:
        sending = session.scalars(
            select(OutboxMessage.address).where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.status == OutboxStatus.SENDING,
            )
        ).all()
    return sum(1 for address in sending if now[address] > before[address])


def test_a_campaign_to_10000_members_survives_two_sigkills(
    committed, twilio, workers, record_property
) -> None:
    with committed.begin() as session:
        tenant = factories.make_tenant(session)
        addresses = seed_members(session, tenant, MEMBERS, prefix="+35269")
        campaign_id = start_campaign(session, tenant)

    in_flight = []
    seen = Counter()
    worker = workers.start(OUTBOX_LEASE_SECONDS=LEASE_SECONDS)
    for share in (0.3, 0.65):  # kill mid-run, twice
        wait_for(
            lambda share=share: len(twilio.messages) >= MEMBERS * share,
            timeout=300,
            what=f"{share:.0%} of the campaign at the provider",
        )
        worker.kill()
        time.sleep(0.5)  # a request written just before the kill still reaches the fake
        now = received(twilio)
        in_flight.append(in_flight_at_kill(committed, campaign_id, now, seen))
        seen = now
        worker = workers.start(OUTBOX_LEASE_SECONDS=LEASE_SECONDS)
    wait_for(
        lambda: unsettled(committed, campaign_id) == 0, timeout=600, what="the campaign to finish"
    )
    worker.stop()

    counts = received(twilio)
    duplicates = sum(n - 1 for n in counts.values())
    figure = (
        f"{MEMBERS} members, 2 SIGKILLs: sends in flight at the kills {in_flight} "
        f"(total {sum(in_flight)}), duplicates at the provider {duplicates}"
    )
    print(figure)
    record_property("in_flight_duplicates", figure)

    assert set(counts) == set(addresses)  # every member got the message
    assert duplicates <= sum(in_flight)  # and nobody twice beyond the sends in flight
    shown = progress(committed, campaign_id)
    assert shown["sent"] == len(counts) == MEMBERS  # the campaign page matches the provider
    assert shown["total"] == MEMBERS
    assert shown["failed"] == shown["skipped"] == shown["queued"] == shown["sending"] == 0
    with committed() as session:
        recorded = set(
            session.scalars(
                select(OutboxMessage.provider_id).where(OutboxMessage.campaign_id == campaign_id)
            )
        )
    assert recorded <= {sms.sid for sms in twilio.messages}  # each row keeps a real Twilio id
