"""Campaigns on a real database: set-based materialisation (fallback order, opt-outs, consent,
frequency cap, idempotent re-run), pause/resume/cancel through the delivery loop, bonus points
credited once, Plus gating, and the campaigns-due job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import FeatureNotInOffering, InvalidInput
from loyalty.models import (
    Campaign,
    CampaignStatus,
    ChannelKind,
    LoyaltyMember,
    LoyaltyTransaction,
    Offering,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Voucher,
)
from loyalty.notify.delivery import Deliverer, DeliveryPolicy, Outcome
from loyalty.services import campaigns
from loyalty.services.campaigns import CampaignDraft
from tests import factories
from tests.factories import Tenant

NOON = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # 12:00 in Luxembourg: not quiet hours

ALL = ("marketing_email", "marketing_sms", "marketing_telegram")


def reachable(
    session: Session,
    tenant: Tenant,
    *,
    channels: tuple[str, ...] = ("sms",),
    consents: tuple[str, ...] = ALL,
    opted_out: tuple[str, ...] = (),
    name: str | None = None,
) -> LoyaltyMember:
    """A member with an address on each of `channels` and the given marketing consents."""
    member = factories.make_member(session, tenant, name=name)
    for kind in channels:
        address = {
            "sms": f"+35262100{member.id:04d}",
            "email": f"m{member.id}@example.com",
            "telegram": str(900000 + member.id),
        }[kind]
        factories.add_channel(
            session,
            member,
            ChannelKind(kind),
            address,
            opted_out_at=NOON - timedelta(days=1) if kind in opted_out else None,
        )
    member.customer.consents = {c: {"granted": True, "at": "2026-01-01"} for c in consents}
    session.flush()
    return member


def make_campaign(
    session: Session,
    tenant: Tenant,
    *,
    channels: tuple[str, ...] = ("telegram", "sms", "email"),
    message: str = "Hi {first_name}, you have {points} points.",
    **extra,
) -> Campaign:
    draft = CampaignDraft(
        name="Spring",
        channels=list(channels),
        message=message,
        channel_messages={},
        **{"subject": "News from us" if "email" in channels else "", **extra},
    )
    return campaigns.save_campaign(session, merchant=tenant.merchant, draft=draft, now=NOON)


class Sender:
    def __init__(self) -> None:
        self.sent: list[OutboxMessage] = []

    def send(self, message: OutboxMessage) -> Outcome:
        self.sent.append(message)
        return Outcome(OutboxStatus.SENT, provider_id=f"p-{message.id}")


def deliverer(sender: Sender, now: datetime = NOON) -> Deliverer:
    return Deliverer(
        {channel: sender for channel in campaigns.CHANNELS},
        policy=DeliveryPolicy(quiet_hours=None),
        clock=lambda: now,
    )


def rows(session: Session, campaign: Campaign) -> dict[int, str]:
    return {
        m.member_id: m.channel.value
        for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.campaign_id == campaign.id)
        )
    }


def test_materialise_picks_the_first_channel_of_the_fallback_order_each_member_has(
    session: Session, tenant: Tenant
) -> None:
    everything = reachable(session, tenant, channels=("sms", "email", "telegram"))
    sms_email = reachable(session, tenant, channels=("email", "sms"))
    email_only = reachable(session, tenant, channels=("email",))
    nothing = factories.make_member(session, tenant)
    campaign = make_campaign(session, tenant)

    assert campaigns.start(session, campaign, now=NOON) == 3

    assert rows(session, campaign) == {
        everything.id: "telegram",
        sms_email.id: "sms",
        email_only.id: "email",
    }
    assert nothing.id not in rows(session, campaign)
    assert (campaign.audience_count, campaign.unreachable_count) == (4, 1)
    assert campaign.status == CampaignStatus.RUNNING


def test_materialise_falls_back_past_opted_out_and_unconsented_channels(
    session: Session, tenant: Tenant
) -> None:
    opted_out = reachable(session, tenant, channels=("telegram", "sms"), opted_out=("telegram",))
    no_sms_consent = reachable(
        session, tenant, channels=("sms", "email"), consents=("marketing_email",)
    )
    no_consent = reachable(session, tenant, channels=("sms", "email"), consents=())
    campaign = make_campaign(session, tenant)

    campaigns.start(session, campaign, now=NOON)

    assert rows(session, campaign) == {opted_out.id: "sms", no_sms_consent.id: "email"}
    assert no_consent.id not in rows(session, campaign)


def test_materialise_again_inserts_nothing_new(session: Session, tenant: Tenant) -> None:
    for _ in range(3):
        reachable(session, tenant, channels=("sms", "email"))
    campaign = make_campaign(session, tenant)
    assert campaigns.start(session, campaign, now=NOON) == 3
    before = rows(session, campaign)
    # A member who gains a better channel later keeps the message already queued.
    first = next(iter(before))
    factories.add_channel(session, session.get(LoyaltyMember, first), ChannelKind.TELEGRAM, "42")

    assert campaigns.materialise(session, campaign, now=NOON + timedelta(minutes=1)) == 0
    assert rows(session, campaign) == before


def test_frequency_cap_skips_members_messaged_by_another_campaign_recently(
    session: Session, tenant: Tenant
) -> None:
    recent = reachable(session, tenant)
    fresh = reachable(session, tenant)
    earlier = make_campaign(session, tenant, channels=("sms",))
    campaigns.start(session, earlier, now=NOON - timedelta(days=2))
    session.execute(
        OutboxMessage.__table__.delete().where(
            OutboxMessage.campaign_id == earlier.id, OutboxMessage.member_id == fresh.id
        )
    )
    capped = make_campaign(session, tenant, channels=("sms",), frequency_cap_days=7)
    one_day = make_campaign(session, tenant, channels=("sms",), frequency_cap_days=1)
    uncapped = make_campaign(session, tenant, channels=("sms",))

    campaigns.start(session, capped, now=NOON)
    campaigns.start(session, one_day, now=NOON)
    campaigns.start(session, uncapped, now=NOON)

    assert set(rows(session, capped)) == {fresh.id}
    assert capped.capped_count == 1
    # Two days ago is outside a 1-day cap; the message `capped` just queued is inside it.
    assert set(rows(session, one_day)) == {recent.id}
    assert set(rows(session, uncapped)) == {recent.id, fresh.id}


def test_segment_limits_the_audience(session: Session, tenant: Tenant) -> None:
    from loyalty.services import segments

    rich = reachable(session, tenant)
    rich.points_balance = 500
    reachable(session, tenant)
    segment = segments.save_segment(
        session, merchant=tenant.merchant, name="Rich", definition={"points_min": "100"}
    )
    campaign = make_campaign(session, tenant, segment_id=segment.id)

    campaigns.start(session, campaign, now=NOON)

    assert set(rows(session, campaign)) == {rich.id}


def test_paused_campaign_sends_nothing_until_resumed(session: Session, tenant: Tenant) -> None:
    members = [reachable(session, tenant) for _ in range(3)]
    campaign = make_campaign(session, tenant, channels=("sms",))
    campaigns.start(session, campaign, now=NOON)
    campaigns.pause(session, campaign)
    sender = Sender()

    deliverer(sender).run(session)
    assert sender.sent == []
    assert campaigns.progress(session, campaign)["queued"] == 3

    campaigns.resume(session, campaign, now=NOON)
    deliverer(sender).run(session)

    assert sorted(m.member_id for m in sender.sent) == sorted(m.id for m in members)
    assert campaigns.progress(session, campaign)["sent"] == 3
    assert campaigns.finish_if_done(session, campaign, now=NOON)
    assert campaign.status == CampaignStatus.COMPLETED


def test_a_message_claimed_before_the_pause_is_held_not_sent(
    session: Session, tenant: Tenant
) -> None:
    reachable(session, tenant)
    campaign = make_campaign(session, tenant, channels=("sms",))
    campaigns.start(session, campaign, now=NOON)
    sender = Sender()
    worker = deliverer(sender)
    [claimed] = worker.claim(session, OutboxChannel.SMS, 10)
    campaign.status = CampaignStatus.PAUSED  # paused while the worker holds the claim
    session.flush()

    worker.deliver_one(session, claimed)

    assert sender.sent == []
    assert claimed.status == OutboxStatus.QUEUED
    assert claimed.attempts == 0


def test_cancelled_campaign_skips_what_was_queued(session: Session, tenant: Tenant) -> None:
    for _ in range(2):
        reachable(session, tenant)
    campaign = make_campaign(session, tenant, channels=("sms",))
    campaigns.start(session, campaign, now=NOON)

    assert campaigns.cancel(session, campaign, now=NOON) == 2
    sender = Sender()
    deliverer(sender).run(session)

    assert sender.sent == []
    assert campaigns.progress(session, campaign) | {} == {
        "queued": 0,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "skipped": 2,
        "total": 2,
    }
    with pytest.raises(InvalidInput):
        campaigns.resume(session, campaign)


def test_message_is_rendered_for_the_member_at_send_time(session: Session, tenant: Tenant) -> None:
    member = reachable(session, tenant, channels=("email",), name="Marie Curie")
    campaign = make_campaign(
        session,
        tenant,
        channels=("email",),
        message="Hello {first_name}: {points} points, tier {tier}.",
    )
    campaigns.start(session, campaign, now=NOON)
    member.points_balance = 1250  # changes after queueing show in the message
    session.flush()
    sender = Sender()

    deliverer(sender).run(session)

    [sent] = sender.sent
    assert sent.payload["text"] == "Hello Marie: 1,250 points, tier ."
    assert sent.payload["subject"] == "News from us"


def test_bonus_points_are_credited_once_even_when_the_send_is_retried(
    session: Session, tenant: Tenant
) -> None:
    member = reachable(session, tenant)
    campaign = make_campaign(session, tenant, channels=("sms",), bonus_points=50)
    campaigns.start(session, campaign, now=NOON)

    class Flaky(Sender):
        def send(self, message: OutboxMessage) -> Outcome:
            self.sent.append(message)
            if len(self.sent) == 1:
                return Outcome(OutboxStatus.FAILED, error="503", retry=True)
            return Outcome(OutboxStatus.SENT, provider_id="p")

    sender = Flaky()
    deliverer(sender).run(session)
    deliverer(sender, NOON + timedelta(hours=2)).run(session)

    assert len(sender.sent) == 2
    session.refresh(member)
    assert member.points_balance == 50
    credited = session.scalar(
        select(func.count(LoyaltyTransaction.id)).where(LoyaltyTransaction.member_id == member.id)
    )
    assert credited == 1


def test_attached_reward_issues_one_voucher_and_names_it(session: Session, tenant: Tenant) -> None:
    member = reachable(session, tenant)
    reward = factories.make_reward(session, tenant, name="Free coffee")
    campaign = make_campaign(
        session, tenant, channels=("sms",), message="A gift: {reward}", reward_id=reward.id
    )
    campaigns.start(session, campaign, now=NOON)
    sender = Sender()

    deliverer(sender).run(session)

    voucher = session.scalars(select(Voucher).where(Voucher.member_id == member.id)).one()
    assert sender.sent[0].payload["text"].startswith("A gift: Free coffee (voucher ")
    assert voucher.code[:4] in sender.sent[0].payload["text"]


def test_reward_placeholder_of_a_stamp_card_names_the_cards_reward(
    session: Session, tenant: Tenant
) -> None:
    coffee = factories.make_reward(session, tenant, cost=1, name="Free coffee")
    factories.make_reward(session, tenant, cost=3, name="Tote bag")  # what 3 stamps "afford"
    factories.make_stamp_card(session, tenant, reward=coffee)
    member = reachable(session, tenant, name="Ana Silva")
    member.points_balance = 3
    campaign = make_campaign(session, tenant, channels=("sms",), message="{first_name}: {reward}")
    campaigns.start(session, campaign, now=NOON)
    sender = Sender()

    deliverer(sender).run(session)

    assert sender.sent[0].payload["text"] == "Ana: Free coffee"
    values = campaigns.member_values(
        session, member_id=member.id, merchant_id=tenant.merchant.id, names={"reward"}
    )
    assert values["reward"] == "Free coffee"  # the automations' path, without the chunk's rows


def test_reward_placeholder_of_a_points_member_names_the_best_reward_they_can_afford(
    session: Session, tenant: Tenant
) -> None:
    factories.make_reward(session, tenant, cost=100, name="Coffee")
    factories.make_reward(session, tenant, cost=300, name="Tote bag")
    factories.make_reward(session, tenant, cost=900, name="Dinner")
    member = reachable(session, tenant)
    member.points_balance = 500
    session.flush()
    values = campaigns.member_values(
        session, member_id=member.id, merchant_id=tenant.merchant.id, names={"reward"}
    )
    assert values["reward"] == "Tote bag"


def test_basic_merchant_cannot_save_or_start_a_campaign(session: Session) -> None:
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    with pytest.raises(FeatureNotInOffering):
        make_campaign(session, basic, channels=("sms",))


def test_downgraded_merchant_cannot_start_a_saved_campaign(
    session: Session, tenant: Tenant
) -> None:
    campaign = make_campaign(session, tenant, channels=("sms",))
    tenant.merchant.offering = Offering.BASIC
    with pytest.raises(FeatureNotInOffering):
        campaigns.start(session, campaign, now=NOON)
    assert campaign.status == CampaignStatus.DRAFT


def test_unknown_placeholder_is_a_form_error_and_saves_nothing(
    session: Session, tenant: Tenant
) -> None:
    with pytest.raises(InvalidInput) as error:
        make_campaign(session, tenant, channels=("sms",), message="Hi {firstname}")
    assert error.value.field == "message"
    assert "{firstname}" in error.value.message
    assert session.scalar(select(func.count(Campaign.id))) == 0


def test_an_email_campaign_without_a_subject_is_told_so(session: Session, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as error:
        make_campaign(session, tenant, channels=("email",), subject=" ")
    assert (error.value.field, error.value.message) == (
        "subject",
        "Write the e-mail's subject: e-mail is one of the channels.",
    )


def test_scheduled_campaign_needs_a_future_local_time(session: Session, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as error:
        make_campaign(
            session,
            tenant,
            channels=("sms",),
            schedule="at",
            send_at_local=datetime(2026, 6, 1, 11, 0),  # 09:00 UTC, before NOON
        )
    assert error.value.field == "send_at"
    campaign = make_campaign(
        session, tenant, channels=("sms",), schedule="at", send_at_local=datetime(2026, 6, 1, 18)
    )
    assert campaign.send_at == datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # CEST is UTC+2


def test_recurring_campaign_keeps_its_local_time_across_the_clock_change(
    session: Session, tenant: Tenant
) -> None:
    campaign = make_campaign(
        session,
        tenant,
        channels=("sms",),
        schedule="recurring",
        send_at_local=datetime(2026, 10, 20, 9, 0),
        repeat_days=7,
    )
    first = campaign.send_at
    later = campaigns.next_occurrence(session, campaign, first)
    assert first == datetime(2026, 10, 20, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert later == datetime(2026, 10, 27, 8, 0, tzinfo=UTC)  # 09:00 CET


def test_due_job_starts_a_scheduled_campaign_once(session: Session, tenant: Tenant) -> None:
    reachable(session, tenant)
    campaign = make_campaign(
        session, tenant, channels=("sms",), schedule="at", send_at_local=datetime(2026, 6, 1, 18)
    )
    campaigns.schedule(session, campaign, now=NOON)
    assert campaigns.run_due(session, now=NOON + timedelta(hours=5))["started"] == 0

    at_six = datetime(2026, 6, 1, 16, 0, 30, tzinfo=UTC)
    assert campaigns.run_due(session, now=at_six)["queued"] == 1
    assert campaigns.run_due(session, now=at_six)["queued"] == 0
    assert campaign.status == CampaignStatus.RUNNING
    assert len(rows(session, campaign)) == 1


def test_due_job_makes_one_run_per_occurrence_of_a_recurring_campaign(
    session: Session, tenant: Tenant
) -> None:
    member = reachable(session, tenant)
    weekly = make_campaign(
        session,
        tenant,
        channels=("sms",),
        schedule="recurring",
        send_at_local=datetime(2026, 6, 2, 9, 0),
        repeat_days=7,
    )
    campaigns.schedule(session, weekly, now=NOON)
    first = datetime(2026, 6, 2, 7, 0, 10, tzinfo=UTC)

    campaigns.run_due(session, now=first)
    campaigns.run_due(session, now=first)  # a second worker's tick: nothing more
    campaigns.run_due(session, now=first + timedelta(days=7))

    runs = session.scalars(
        select(Campaign).where(Campaign.parent_id == weekly.id).order_by(Campaign.id)
    ).all()
    assert [r.scheduled_for for r in runs] == [
        datetime(2026, 6, 2, 7, 0, tzinfo=UTC),
        datetime(2026, 6, 9, 7, 0, tzinfo=UTC),
    ]
    assert all(rows(session, r) == {member.id: "sms"} for r in runs)
    assert weekly.status == CampaignStatus.SCHEDULED
    assert weekly.next_run_at == datetime(2026, 6, 16, 7, 0, tzinfo=UTC)


def test_due_job_completes_a_run_with_nothing_left_and_reports_a_downgrade(
    session: Session, tenant: Tenant
) -> None:
    reachable(session, tenant)
    done = make_campaign(session, tenant, channels=("sms",))
    campaigns.start(session, done, now=NOON)
    deliverer(Sender()).run(session)
    later = make_campaign(
        session, tenant, channels=("sms",), schedule="at", send_at_local=datetime(2026, 6, 1, 18)
    )
    campaigns.schedule(session, later, now=NOON)
    tenant.merchant.offering = Offering.BASIC
    session.flush()

    counts = campaigns.run_due(session, now=NOON + timedelta(days=1))

    assert counts["completed"] == 1
    assert counts["failed"] == 1
    assert done.status == CampaignStatus.COMPLETED
    assert later.status == CampaignStatus.DRAFT
    assert "not included in the Basic offering" in later.last_error
