"""Automation switches per merchant: defaults, saving, validation, Plus gating, tenant separation."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from loyalty.errors import FeatureNotInOffering, InvalidInput
from loyalty.models import AutomationKey, Offering
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
