"""Automated campaigns, each switched on or off per merchant: welcome series, win-back after N days
without a visit, points-expiry reminder, tier-up congratulations.

The switch and its settings live in `automation_settings` (one row per merchant and key). Jobs
ask `is_enabled(session, merchant_id, key)` before queueing; with no row, DEFAULTS apply. The
points-expiry reminder is on by default (members expect a warning before losing points, and it
is the only one that existed before the switch); the marketing ones start off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.errors import InvalidInput
from loyalty.models import AutomationKey, AutomationSetting, Merchant
from loyalty.notify import campaign_texts
from loyalty.offerings import Feature


@dataclass(frozen=True)
class Automation:
    key: AutomationKey
    label: str
    explanation: str
    enabled: bool  # the default without a row
    text: str  # the default message template
    days: int | None = None  # the default number of days, where the automation has one
    days_label: str = ""


AUTOMATIONS: dict[AutomationKey, Automation] = {
    AutomationKey.WELCOME_SERIES: Automation(
        AutomationKey.WELCOME_SERIES,
        "Welcome series",
        "A second message some days after joining, for members who have not come back yet.",
        False,
        "Hi {first_name}, you have {points} points with us. See you soon at {shop}!",
        days=7,
        days_label="Days after joining",
    ),
    AutomationKey.WIN_BACK: Automation(
        AutomationKey.WIN_BACK,
        "Win-back",
        "A message to members who have not visited for a while (once per absence).",
        False,
        "We miss you, {first_name}! Your {points} points are waiting for you.",
        days=60,
        days_label="Days without a visit",
    ),
    AutomationKey.EXPIRY_REMINDER: Automation(
        AutomationKey.EXPIRY_REMINDER,
        "Points-expiry reminder",
        "A warning 14 days before points expire.",
        True,
        "{first_name}, some of your points expire on {expiry_date}. Use them for {reward}!",
    ),
    AutomationKey.TIER_UP: Automation(
        AutomationKey.TIER_UP,
        "Tier-up congratulations",
        "A message when a member reaches a higher tier.",
        False,
        "Congratulations {first_name}, you are now {tier}!",
    ),
}
MAX_DAYS = 730


@dataclass(frozen=True)
class AutomationState:
    automation: Automation
    enabled: bool
    text: str
    days: int | None


def _row(session: Session, merchant_id: int, key: AutomationKey) -> AutomationSetting | None:
    return session.scalars(
        select(AutomationSetting).where(
            AutomationSetting.merchant_id == merchant_id, AutomationSetting.key == key
        )
    ).one_or_none()


def state(session: Session, merchant_id: int, key: AutomationKey | str) -> AutomationState:
    key = AutomationKey(key)
    automation = AUTOMATIONS[key]
    row = _row(session, merchant_id, key)
    settings: Mapping[str, Any] = row.settings if row is not None else {}
    return AutomationState(
        automation=automation,
        enabled=row.enabled if row is not None else automation.enabled,
        text=str(settings.get("text") or automation.text),
        days=settings.get("days", automation.days),
    )


def is_enabled(session: Session, merchant_id: int, key: AutomationKey | str) -> bool:
    """What jobs ask before queueing an automated message for this merchant."""
    return state(session, merchant_id, key).enabled


def all_states(session: Session, merchant_id: int) -> list[AutomationState]:
    return [state(session, merchant_id, key) for key in AUTOMATIONS]


def set_automation(
    session: Session,
    *,
    merchant: Merchant,
    key: AutomationKey | str,
    enabled: bool,
    text: str | None = None,
    days: int | None = None,
) -> AutomationState:
    """Switch one automation on or off with its message (and days); InvalidInput if wrong."""
    try:
        key = AutomationKey(key)
    except ValueError:
        raise InvalidInput("That automation does not exist.", field="key") from None
    automation = AUTOMATIONS[key]
    if enabled and key != AutomationKey.EXPIRY_REMINDER:
        # The expiry warning protects members' points; the rest is marketing (Plus).
        offerings.require(merchant, Feature.SEGMENTATION)
    settings: dict[str, Any] = {}
    if text is not None and text.strip():
        settings["text"] = campaign_texts.validate(text, field="text")
    if automation.days is not None and days is not None:
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"Choose between 1 and {MAX_DAYS} days.", field="days")
        settings["days"] = days
    row = _row(session, merchant.id, key)
    if row is None:
        row = AutomationSetting(merchant_id=merchant.id, key=key)
        session.add(row)
    row.enabled = enabled
    row.settings = settings
    session.flush()
    return state(session, merchant.id, key)
