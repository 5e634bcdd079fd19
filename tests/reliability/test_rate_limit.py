"""A rate limit of 50 messages a second holds at the provider across two worker processes,
over every 1-second window. How much of it the workers together use is printed: it measures the
machine's load as much as the limiter, so it is a figure, not an assertion.

Measured at the fake from the arrival time of each request, over a run of about 20 seconds.
The limiter paces at 48/s (loyalty.notify.delivery.paced_rate), leaving room in every window
for the odd request that a busy machine delays into the next one.
"""

from __future__ import annotations

import pytest

from tests import factories
from tests.reliability.conftest import hold, seed_members, start_campaign, unsettled, wait_for

pytestmark = pytest.mark.postgres_only

LIMIT = 50
MEMBERS = 1_000


def busiest_second(stamps: list[float]) -> int:
    """The most requests that arrived within any 1-second window."""
    most, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_a_limit_of_50_a_second_holds_across_two_workers(committed, twilio, workers) -> None:
    with committed.begin() as session:
        tenant = factories.make_tenant(session)
        seed_members(session, tenant, MEMBERS, prefix="+35267")
        campaign_id = start_campaign(session, tenant)

    started = [workers.start(RATE_LIMIT_SMS=str(LIMIT)) for _ in range(2)]
    hold(committed, campaign_id, until_ready=started, settle=5.0)
    # Watch the fake, not the database, and seldom: this process also stamps the arrivals.
    wait_for(lambda: len(twilio.messages) >= MEMBERS, timeout=300, what="every message", every=2.0)
    workers.stop_all()
    assert unsettled(committed, campaign_id) == 0

    stamps = sorted(sms.at for sms in twilio.messages)
    assert len(stamps) == MEMBERS
    most = busiest_second(stamps)
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    print(
        f"limit {LIMIT}/s, two workers, {MEMBERS} messages over {stamps[-1] - stamps[0]:.1f} s: "
        f"busiest second {most}, achieved {achieved:.1f}/s ({achieved / LIMIT:.0%})"
    )
    assert most <= LIMIT  # the provider's limit holds, whatever the machine's load
