"""Opt-outs that arrive after a campaign was queued, and quiet hours in the merchant's time zone,
are honoured by running workers at send time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Conversation,
    OutboxMessage,
    OutboxStatus,
)
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

MEMBERS = 150
STOPPED = 40  # the last 40 members opt out while the campaign is being sent


def zone_at(hour: int) -> str:
    """A fixed-offset time zone where it is now about `hour` o'clock."""
    offset = (hour - datetime.now(UTC).hour + 12) % 24 - 12  # -12 .. +11
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT-2 is UTC+2


def test_opt_outs_after_enqueue_and_quiet_hours_are_honoured(committed, twilio, workers) -> None:
    with committed.begin() as session:
        day = factories.make_tenant(session, name="Day Bakery")
        night = factories.make_tenant(session, name="Night Bakery")
        day.merchant.timezone, night.merchant.timezone = zone_at(13), zone_at(2)
        addresses = seed_members(session, day, MEMBERS, prefix="+35266")
        sleepers = seed_members(session, night, 20, prefix="+35265")
        day_campaign = start_campaign(session, day, "Day")
        night_campaign = start_campaign(session, night, "Night")

    workers.start(RATE_LIMIT_SMS="20", QUIET_HOURS="21:00-08:00")
    wait_for(lambda: len(twilio.messages) >= 30, timeout=120, what="the first 30 messages")
    # Sent in id order: the last members' messages are still waiting when they opt out.
    stopped = addresses[-STOPPED:]
    by_identity, by_stop = stopped[: STOPPED // 2], stopped[STOPPED // 2 :]
    with committed.begin() as session:
        now = datetime.now(UTC)
        session.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.address.in_(by_identity))
            .values(opted_out_at=now)
        )
        session.add_all(
            Conversation(channel=ChannelKind.SMS, address=a, opted_out_at=now) for a in by_stop
        )
    assert not set(stopped) & set(received(twilio))  # none had gone out yet
    wait_for(lambda: unsettled(committed, day_campaign) == 0, timeout=300, what="the day campaign")
    wait_for(
        lambda: quiet_held(committed, night_campaign) == 20, timeout=60, what="the night's hold"
    )
    workers.stop_all()

    counts = received(twilio)
    assert set(counts) == set(addresses) - set(stopped)  # nobody who opted out got it
    assert max(counts.values()) == 1
    assert not set(counts) & set(sleepers)  # nothing at night
    shown = progress(committed, day_campaign)
    assert (shown["sent"], shown["skipped"]) == (MEMBERS - STOPPED, STOPPED)
    assert shown["sent"] == len(counts)  # the campaign page matches the provider
    with committed() as session:
        reasons = session.scalars(
            select(OutboxMessage.last_error).where(
                OutboxMessage.campaign_id == day_campaign,
                OutboxMessage.status == OutboxStatus.SKIPPED,
            )
        ).all()
        held_until = session.scalars(
            select(OutboxMessage.next_attempt_at).where(OutboxMessage.campaign_id == night_campaign)
        ).all()
    assert sorted(r.split(" ")[0] for r in reasons) == ["Opted"] * 20 + ["Sent"] * 20
    zone = ZoneInfo(zone_at(2))
    local = datetime.now(zone)
    morning = datetime.combine(local.date(), time(8), tzinfo=zone)
    morning = morning if morning > local else morning + timedelta(days=1)
    assert all(morning <= t < morning + timedelta(minutes=10) for t in held_until)


def quiet_held(committed, campaign_id: int) -> int:
    with committed() as session:
        return len(
            session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.campaign_id == campaign_id,
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    OutboxMessage.last_error.like("quiet hours%"),
                )
            ).all()
        )
