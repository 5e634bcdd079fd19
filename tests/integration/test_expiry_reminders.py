"""The 14-day expiry reminder: once per member and expiry date, by the preferred channel that is
not opted out, grouped on the merchant's local date, through the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jobs.tasks import expiry_reminder_work
from loyalty.models import (
    ChannelKind,
    ExpiryPolicy,
    OutboxChannel,
    OutboxMessage,
)
from loyalty.notify import texts
from loyalty.services.earn import earn
from loyalty.services.expiry_reminders import queue_expiry_reminders
from tests import factories

LUX = ZoneInfo("Europe/Luxembourg")
EARNED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 11:00 in Luxembourg
EXPIRES = EARNED + timedelta(days=30)  # 1 April 2026, 12:00 in Luxembourg
TWO_WEEKS_BEFORE = EXPIRES - timedelta(days=14)


def with_expiry(session, tenant, days: int = 30) -> None:
    tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    tenant.program.expiry_days = days
    session.flush()


def member_on(session, tenant, kind: ChannelKind, address: str, *, opted_out: bool = False):
    member = factories.make_member(session, tenant, name="Ana Silva")
    factories.add_channel(
        session, member, kind, address, opted_out_at=EARNED if opted_out else None
    )
    return member


def buy(session, member, euros: int, at: datetime, key: str, shop=None) -> None:
    earn(session, member=member, amount_cents=euros * 100, idempotency_key=key, at=at, shop=shop)


def remind(session, tenant, now: datetime) -> int:
    today = now.astimezone(LUX).date()
    return queue_expiry_reminders(session, program=tenant.program, today=today, zone=LUX, now=now)


def reminders(session, member) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.member_id == member.id, OutboxMessage.template == "expiry_warning")
            .order_by(OutboxMessage.id)
        )
    )


def test_a_member_is_reminded_two_weeks_before_points_expire_and_only_once(session, tenant):
    with_expiry(session, tenant)
    member = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    buy(session, member, 40, EARNED, "e1")

    assert remind(session, tenant, TWO_WEEKS_BEFORE - timedelta(days=1)) == 0
    assert remind(session, tenant, TWO_WEEKS_BEFORE) == 1
    assert remind(session, tenant, TWO_WEEKS_BEFORE + timedelta(hours=1)) == 0
    assert remind(session, tenant, TWO_WEEKS_BEFORE + timedelta(days=3)) == 0

    (message,) = reminders(session, member)
    assert (message.channel, message.address) == (OutboxChannel.SMS, "+352621000001")
    assert message.payload["points"] == 40
    assert message.payload["expiry_date"] == "1 April 2026"
    assert message.dedupe_key == f"expiry_warning:{member.id}:2026-04-01"
    assert texts.short_text(message) == (
        f"{tenant.program.name}: 40 of your points expire on 1 April 2026. Use them before then."
    )


def test_a_missed_night_is_caught_up_and_spent_points_are_not_mentioned(session, tenant):
    from loyalty.services.rewards import redeem

    with_expiry(session, tenant)
    member = member_on(session, tenant, ChannelKind.EMAIL, "ana@example.com")
    buy(session, member, 100, EARNED, "e1")
    redeem(
        session,
        member=member,
        reward=factories.make_reward(session, tenant, cost=70),
        idempotency_key="r1",
        now=EARNED,
    )
    assert remind(session, tenant, EXPIRES - timedelta(days=5)) == 1
    assert reminders(session, member)[0].payload["points"] == 30


def test_each_expiry_date_is_reminded_once(session, tenant):
    with_expiry(session, tenant)
    member = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    buy(session, member, 10, EARNED, "morning")
    buy(session, member, 15, EARNED + timedelta(hours=5), "evening")  # same local date
    buy(session, member, 20, EARNED + timedelta(days=3), "later")
    assert remind(session, tenant, TWO_WEEKS_BEFORE) == 1
    assert remind(session, tenant, TWO_WEEKS_BEFORE + timedelta(days=3)) == 1
    assert [
        (m.payload["points"], m.payload["expiry_date"]) for m in reminders(session, member)
    ] == [
        (25, "1 April 2026"),
        (20, "4 April 2026"),
    ]


def test_the_day_is_the_merchants_local_date(session, tenant):
    with_expiry(session, tenant)
    member = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    # Earned 22:30 UTC on 2 March: expires 1 April 22:30 UTC, 2 April 00:30 in Luxembourg.
    buy(session, member, 10, datetime(2026, 3, 2, 22, 30, tzinfo=UTC), "late")
    remind(session, tenant, datetime(2026, 3, 19, 10, 0, tzinfo=UTC))
    assert reminders(session, member)[0].payload["expiry_date"] == "2 April 2026"


def test_the_preferred_channel_not_opted_out_is_used_and_nobody_else_is_written_to(session, tenant):
    with_expiry(session, tenant)
    on_telegram = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    factories.add_channel(session, on_telegram, ChannelKind.TELEGRAM, "4242")
    stopped = member_on(session, tenant, ChannelKind.SMS, "+352621000002", opted_out=True)
    unreachable = factories.make_member(session, tenant)
    erased = member_on(session, tenant, ChannelKind.SMS, "+352621000003")
    for i, m in enumerate((on_telegram, stopped, unreachable, erased)):
        buy(session, m, 10, EARNED, f"k{i}")
    erased.customer.erased_at = EARNED
    session.flush()

    assert remind(session, tenant, TWO_WEEKS_BEFORE) == 1
    assert [(m.channel, m.address) for m in reminders(session, on_telegram)] == [
        (OutboxChannel.TELEGRAM, "4242")
    ]
    for member in (stopped, unreachable, erased):
        assert reminders(session, member) == []


def test_other_programmes_are_left_alone(session, tenant):
    with_expiry(session, tenant)
    other = factories.make_tenant(session)
    with_expiry(session, other)
    theirs = member_on(session, other, ChannelKind.SMS, "+352621000009")
    buy(session, theirs, 10, EARNED, "theirs")
    assert remind(session, tenant, TWO_WEEKS_BEFORE) == 0
    assert reminders(session, theirs) == []


def test_the_nightly_job_queues_the_reminders(session, tenant):
    with_expiry(session, tenant)
    member = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    buy(session, member, 40, EARNED, "e1")
    counts = expiry_reminder_work(
        session, tenant.program, TWO_WEEKS_BEFORE.astimezone(LUX).date(), TWO_WEEKS_BEFORE
    )
    assert counts == {"reminders": 1}


def test_a_merchant_who_switched_the_reminder_off_sends_none(session, tenant):
    from loyalty.services.automations import set_automation

    with_expiry(session, tenant)
    member = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    buy(session, member, 40, EARNED, "e1")
    set_automation(session, merchant=tenant.merchant, key="expiry_reminder", enabled=False)
    today = TWO_WEEKS_BEFORE.astimezone(LUX).date()
    assert expiry_reminder_work(session, tenant.program, today, TWO_WEEKS_BEFORE) == {
        "reminders": 0
    }
    assert reminders(session, member) == []


def reminded_in(wording: str, session, tenant, member) -> str:
    """The reminder the member gets two weeks ahead once the merchant wrote `wording`."""
    from loyalty.services.automations import set_automation

    set_automation(
        session, merchant=tenant.merchant, key="expiry_reminder", enabled=True, text=wording
    )
    today = TWO_WEEKS_BEFORE.astimezone(LUX).date()
    expiry_reminder_work(session, tenant.program, today, TWO_WEEKS_BEFORE)
    (message,) = reminders(session, member)
    return texts.short_text(message)


def test_the_merchants_own_wording_is_used_when_they_wrote_one(session, tenant):
    with_expiry(session, tenant)
    member = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    buy(session, member, 40, EARNED, "e1")
    wording = "{first_name}, {points} points, some expire on {expiry_date}."
    assert reminded_in(wording, session, tenant, member) == (
        "Ana, 40 points, some expire on 1 April 2026."
    )


def test_the_merchants_wording_may_name_the_reward_and_shop(session, tenant):
    with_expiry(session, tenant)
    factories.make_reward(session, tenant, cost=30, name="Free croissant")
    member = member_on(session, tenant, ChannelKind.SMS, "+352621000001")
    buy(session, member, 40, EARNED, "e1", shop=tenant.shop)
    wording = "{first_name}, use your points for {reward} at {shop} before {expiry_date}."
    assert reminded_in(wording, session, tenant, member) == (
        f"Ana, use your points for Free croissant at {tenant.shop.name} before 1 April 2026."
    )
