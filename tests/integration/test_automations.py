"""Automation switches per merchant: defaults, saving, validation, Plus gating, tenant separation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import FeatureNotInOffering, InvalidInput
from loyalty.models import (
    AutomationKey,
    ChannelKind,
    LoyaltyMember,
    Offering,
    OutboxMessage,
)
from loyalty.services import automations
from tests import factories
from tests.factories import Tenant


def test_expiry_reminder_is_on_and_marketing_automations_off_by_default(
    session: Session, tenant: Tenant
) -> None:
    assert automations.is_enabled(session, tenant.merchant.id, "expiry_reminder")
    assert not automations.is_enabled(session, tenant.merchant.id, AutomationKey.WIN_BACK)


def test_a_switch_belongs_to_one_merchant(session: Session, tenant: Tenant) -> None:
    other = factories.make_tenant(session)
    automations.set_automation(
        session, merchant=tenant.merchant, key="win_back", enabled=True, days=30
    )
    automations.set_automation(
        session, merchant=tenant.merchant, key="expiry_reminder", enabled=False
    )
    assert automations.state(session, tenant.merchant.id, "win_back").days == 30
    assert automations.is_enabled(session, tenant.merchant.id, "win_back")
    assert not automations.is_enabled(session, tenant.merchant.id, "expiry_reminder")
    assert not automations.is_enabled(session, other.merchant.id, "win_back")
    assert automations.is_enabled(session, other.merchant.id, "expiry_reminder")


def test_bad_text_or_days_are_refused(session: Session, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as error:
        automations.set_automation(
            session, merchant=tenant.merchant, key="tier_up", enabled=True, text="Hi {name}"
        )
    assert error.value.field == "text"
    with pytest.raises(InvalidInput):
        automations.set_automation(
            session, merchant=tenant.merchant, key="win_back", enabled=True, days=0
        )


def test_basic_merchant_can_only_switch_the_expiry_reminder(session: Session) -> None:
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    with pytest.raises(FeatureNotInOffering):
        automations.set_automation(session, merchant=basic.merchant, key="win_back", enabled=True)
    automations.set_automation(
        session, merchant=basic.merchant, key="expiry_reminder", enabled=False
    )
    assert not automations.is_enabled(session, basic.merchant.id, "expiry_reminder")


NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def reachable(session: Session, tenant: Tenant, *, consent: bool = True) -> LoyaltyMember:
    member = factories.make_member(session, tenant, name="Ana Silva")
    factories.add_channel(session, member, ChannelKind.SMS, f"+35262155{member.id:04d}")
    member.customer.consents = {"marketing_sms": {"granted": consent}}
    session.flush()
    return member


def queued(session: Session, member: LoyaltyMember, template: str) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.member_id == member.id, OutboxMessage.template == template
            )
        )
    )


def test_win_back_reaches_members_absent_for_n_days_once_and_only_when_on(
    session: Session, tenant: Tenant
) -> None:
    absent = reachable(session, tenant)
    absent.last_activity_at = NOW - timedelta(days=61)
    no_consent = reachable(session, tenant, consent=False)
    no_consent.last_activity_at = NOW - timedelta(days=61)
    recent = reachable(session, tenant)
    recent.last_activity_at = NOW - timedelta(days=3)
    session.flush()
    assert automations.queue_win_back(session, program=tenant.program, now=NOW) == 0  # off

    automations.set_automation(
        session,
        merchant=tenant.merchant,
        key="win_back",
        enabled=True,
        days=60,
        text="We miss you {first_name}",
    )
    assert automations.queue_win_back(session, program=tenant.program, now=NOW) == 1
    assert automations.queue_win_back(session, program=tenant.program, now=NOW) == 0
    [message] = queued(session, absent, "automation_win_back")
    assert message.payload["text"] == "We miss you Ana"
    assert queued(session, no_consent, "automation_win_back") == []
    assert queued(session, recent, "automation_win_back") == []


def test_welcome_series_follows_up_members_who_have_not_come_back(
    session: Session, tenant: Tenant
) -> None:
    automations.set_automation(
        session, merchant=tenant.merchant, key="welcome_series", enabled=True, days=7
    )
    quiet = reachable(session, tenant)
    quiet.enrolled_at = quiet.last_activity_at = NOW - timedelta(days=7, hours=2)
    back = reachable(session, tenant)
    back.enrolled_at = NOW - timedelta(days=7, hours=2)
    back.last_activity_at = NOW - timedelta(days=2)
    session.flush()
    assert automations.queue_welcome_series(session, program=tenant.program, now=NOW) == 1
    assert len(queued(session, quiet, "automation_welcome_series")) == 1


def test_tier_up_congratulates_at_the_till_when_switched_on(
    session: Session, tenant: Tenant
) -> None:
    from loyalty.services.earn import earn

    factories.make_tier(session, tenant, name="Gold", min_points=100)
    member = reachable(session, tenant)
    automations.set_automation(session, merchant=tenant.merchant, key="tier_up", enabled=True)
    earn(session, member=member, amount_cents=15000, idempotency_key="big")
    [message] = queued(session, member, "automation_tier_up")
    assert message.payload["text"] == "Congratulations Ana, you are now Gold!"


def test_the_expiry_reminder_job_respects_the_switch(session: Session, tenant: Tenant) -> None:
    from jobs.tasks import expiry_reminder_work

    automations.set_automation(
        session, merchant=tenant.merchant, key="expiry_reminder", enabled=False
    )
    assert expiry_reminder_work(session, tenant.program, NOW.date(), NOW) == {"reminders": 0}
