"""A suspended merchant sends nothing: its campaigns wait and its queued messages (receipts,
campaign messages, webhook deliveries) stay queued, neither sent nor failed, until the platform
operator reactivates it. Other merchants' work goes on meanwhile."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from loyalty.errors import PermissionDenied
from loyalty.models import CampaignStatus, Offering, OutboxChannel, OutboxMessage, OutboxStatus
from loyalty.notify import outbox
from loyalty.notify.delivery import Deliverer, DeliveryPolicy
from loyalty.services import campaigns, merchants, platform
from loyalty.services.actors import Actor
from tests import factories
from tests.factories import Tenant
from tests.integration.test_campaigns import NOON, Sender, make_campaign, reachable


def _deliverer(sender: Sender, now: datetime = NOON) -> Deliverer:
    return Deliverer(
        dict.fromkeys(OutboxChannel, sender),
        policy=DeliveryPolicy(quiet_hours=None),
        clock=lambda: now,
    )


def _set_status(session: Session, tenant: Tenant, status: str) -> None:
    operator = factories.make_user(session, platform_admin=True)
    merchants.set_status(
        session, merchant=tenant.merchant, status=status, actor=Actor.operator(operator.id)
    )


def _queue(session: Session, tenant: Tenant, channel: OutboxChannel) -> OutboxMessage:
    message = outbox.enqueue(
        session,
        merchant_id=tenant.merchant.id,
        channel=channel,
        template="receipt",
        address="+352621000999" if channel == OutboxChannel.SMS else "https://example.com/hook",
        payload={"text": "held?"},
    )
    message.next_attempt_at = NOON - timedelta(minutes=1)
    session.flush()
    return message


@pytest.fixture
def enterprise(session: Session) -> Tenant:
    return factories.make_tenant(session, offering=Offering.ENTERPRISE)


def test_platform_mail_goes_out_while_a_merchant_is_suspended(
    session: Session, enterprise: Tenant
) -> None:
    reset = outbox.enqueue(
        session,
        merchant_id=None,  # a password reset belongs to no business
        channel=OutboxChannel.EMAIL,
        template="password_reset",
        address="owner@example.com",
        payload={"text": "reset"},
    )
    reset.next_attempt_at = NOON - timedelta(minutes=1)
    _set_status(session, enterprise, "suspended")
    sender = Sender()

    _deliverer(sender).run(session)

    assert [m.id for m in sender.sent] == [reset.id]


def test_queued_messages_and_webhooks_of_a_suspended_merchant_wait_until_reactivation(
    session: Session, enterprise: Tenant
) -> None:
    sms = _queue(session, enterprise, OutboxChannel.SMS)
    hook = _queue(session, enterprise, OutboxChannel.WEBHOOK)
    other = factories.make_tenant(session)
    elsewhere = _queue(session, other, OutboxChannel.SMS)
    _set_status(session, enterprise, "suspended")
    sender = Sender()

    _deliverer(sender).run(session)

    assert [m.id for m in sender.sent] == [elsewhere.id]  # other merchants are not held up
    session.refresh(sms)
    session.refresh(hook)
    assert (sms.status, hook.status) == (OutboxStatus.QUEUED, OutboxStatus.QUEUED)
    assert (sms.attempts, hook.attempts) == (0, 0)  # held, not tried: no retry budget used
    assert platform.held_work(session, enterprise.merchant).messages == 2

    _set_status(session, enterprise, "active")
    _deliverer(sender).run(session)

    assert {m.id for m in sender.sent} == {elsewhere.id, sms.id, hook.id}
    session.refresh(sms)
    assert sms.status == OutboxStatus.SENT


def test_a_running_campaign_of_a_suspended_merchant_sends_nothing_until_reactivated(
    session: Session, tenant: Tenant
) -> None:
    members = [reachable(session, tenant) for _ in range(2)]
    campaign = make_campaign(session, tenant, channels=("sms",))
    campaigns.start(session, campaign, now=NOON)
    _set_status(session, tenant, "suspended")
    sender = Sender()

    _deliverer(sender).run(session)
    campaigns.run_due(session, now=NOON)

    assert sender.sent == []
    assert campaigns.progress(session, campaign)["queued"] == 2
    assert campaign.status == CampaignStatus.RUNNING
    assert platform.held_work(session, tenant.merchant).campaigns == 1

    _set_status(session, tenant, "active")
    _deliverer(sender).run(session)

    assert sorted(m.member_id for m in sender.sent) == sorted(m.id for m in members)


def test_a_scheduled_campaign_of_a_suspended_merchant_starts_only_after_reactivation(
    session: Session, tenant: Tenant
) -> None:
    reachable(session, tenant)
    campaign = make_campaign(
        session, tenant, channels=("sms",), schedule="at", send_at_local=datetime(2026, 6, 1, 18)
    )
    campaigns.schedule(session, campaign, now=NOON)
    _set_status(session, tenant, "suspended")
    due = NOON + timedelta(hours=7)

    assert campaigns.run_due(session, now=due)["started"] == 0
    assert campaign.status == CampaignStatus.SCHEDULED  # waiting, not failed or sent back

    _set_status(session, tenant, "active")
    assert campaigns.run_due(session, now=due)["started"] == 1
    assert campaign.status == CampaignStatus.RUNNING


def test_a_suspended_merchant_cannot_start_a_campaign(session: Session, tenant: Tenant) -> None:
    reachable(session, tenant)
    campaign = make_campaign(session, tenant, channels=("sms",))
    _set_status(session, tenant, "suspended")

    with pytest.raises(PermissionDenied, match="suspended"):
        campaigns.start(session, campaign, now=NOON)
    assert campaign.status == CampaignStatus.DRAFT
