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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.errors import InvalidInput
from loyalty.models import (
    AutomationKey,
    AutomationSetting,
    ChannelIdentity,
    ChannelKind,
    Customer,
    LoyaltyMember,
    LoyaltyProgram,
    MemberStatus,
    Merchant,
    OutboxChannel,
    OutboxMessage,
    ProgramKind,
)
from loyalty.notify import campaign_texts, outbox
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
    stamp_text: str | None = None  # the default for a stamp card, where `text` speaks of points

    def default_text(self, kind: ProgramKind) -> str:
        return self.stamp_text if kind == ProgramKind.STAMPS and self.stamp_text else self.text


AUTOMATIONS: dict[AutomationKey, Automation] = {
    AutomationKey.WELCOME_SERIES: Automation(
        AutomationKey.WELCOME_SERIES,
        "Welcome series",
        "A second message some days after joining, for members who have not come back yet.",
        False,
        "Hi {first_name}, you have {points} points with us. See you soon at {shop}!",
        days=7,
        days_label="Days after joining",
        stamp_text="Hi {first_name}, you have {points} stamps on your card. See you soon at {shop}!",
    ),
    AutomationKey.WIN_BACK: Automation(
        AutomationKey.WIN_BACK,
        "Win-back",
        "A message to members who have not visited for a while (once per absence).",
        False,
        "We miss you, {first_name}! Your {points} points are waiting for you.",
        days=60,
        days_label="Days without a visit",
        stamp_text="We miss you, {first_name}! Your {points} stamps are waiting for you.",
    ),
    AutomationKey.EXPIRY_REMINDER: Automation(
        AutomationKey.EXPIRY_REMINDER,
        "Points-expiry reminder",
        "A warning 14 days before points expire.",
        True,
        "{first_name}, some of your points expire on {expiry_date}. Use them for {reward}!",
        # A stamp card's reward comes with a full card, not for what the stamps would buy.
        stamp_text="{first_name}, some of your stamps expire on {expiry_date}. Come and fill your card!",
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
    default_text: str  # the standard text for this merchant's kind of programme


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
    kind = session.scalar(
        select(LoyaltyProgram.kind).where(LoyaltyProgram.merchant_id == merchant_id).limit(1)
    )
    default = automation.default_text(ProgramKind(kind or ProgramKind.POINTS))
    return AutomationState(
        automation=automation,
        enabled=row.enabled if row is not None else automation.enabled,
        text=str(settings.get("text") or default),
        days=settings.get("days", automation.days),
        default_text=default,
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


# --- queueing the automated messages (called by the worker's daily jobs and by tier changes) --

MARKETING_ORDER = (
    (ChannelKind.TELEGRAM, OutboxChannel.TELEGRAM, "marketing_telegram"),
    (ChannelKind.SMS, OutboxChannel.SMS, "marketing_sms"),
    (ChannelKind.EMAIL, OutboxChannel.EMAIL, "marketing_email"),
)


def _consented_destinations(
    session: Session, member_ids: list[int]
) -> dict[int, tuple[OutboxChannel, str]]:
    """Per member, the first channel (Telegram, SMS, e-mail) not opted out and consented to."""
    found: dict[int, dict[ChannelKind, str]] = {}
    consents: dict[int, dict[str, Any]] = {}
    for member_id, kind, address, granted in session.execute(
        select(
            ChannelIdentity.member_id,
            ChannelIdentity.kind,
            ChannelIdentity.address,
            Customer.consents,
        )
        .join(LoyaltyMember, LoyaltyMember.id == ChannelIdentity.member_id)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(
            ChannelIdentity.member_id.in_(member_ids),
            ChannelIdentity.opted_out_at.is_(None),
            Customer.erased_at.is_(None),
        )
        .order_by(ChannelIdentity.id)
    ):
        found.setdefault(member_id, {}).setdefault(ChannelKind(kind), address)
        consents[member_id] = granted or {}
    chosen: dict[int, tuple[OutboxChannel, str]] = {}
    for member_id, addresses in found.items():
        for kind, channel, consent in MARKETING_ORDER:
            if kind in addresses and (consents[member_id].get(consent) or {}).get("granted"):
                chosen[member_id] = (channel, addresses[kind])
                break
    return chosen


def _queue(
    session: Session,
    *,
    program: LoyaltyProgram,
    key: AutomationKey,
    text: str,
    targets: dict[int, tuple[OutboxChannel, str]],
    dedupe: dict[int, str],
) -> int:
    from loyalty.services.campaigns import member_values

    names = set(campaign_texts.placeholders_in(text))
    queued = 0
    for member_id, (channel, address) in targets.items():
        if session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.merchant_id == program.merchant_id,
                OutboxMessage.dedupe_key == dedupe[member_id],
            )
        ):
            continue
        values = member_values(
            session, member_id=member_id, merchant_id=program.merchant_id, names=names
        )
        outbox.enqueue(
            session,
            merchant_id=program.merchant_id,
            member_id=member_id,
            channel=channel,
            template=f"automation_{key.value}",
            address=address,
            payload={
                "text": campaign_texts.render(text, values),
                "subject": f"{program.name}: {AUTOMATIONS[key].label.lower()}",
                "program": program.name,
            },
            dedupe_key=dedupe[member_id],
        )
        queued += 1
    return queued


def _members(session: Session, program: LoyaltyProgram, *conditions) -> list[LoyaltyMember]:
    return list(
        session.scalars(
            select(LoyaltyMember)
            .join(Customer, Customer.id == LoyaltyMember.customer_id)
            .where(
                LoyaltyMember.program_id == program.id,
                LoyaltyMember.status == MemberStatus.ACTIVE,
                Customer.erased_at.is_(None),
                *conditions,
            )
            .order_by(LoyaltyMember.id)
        )
    )


def queue_welcome_series(session: Session, *, program: LoyaltyProgram, now: datetime) -> int:
    """Members who joined `days` ago (a 2-day window, for a missed night) and have not been back."""
    current = state(session, program.merchant_id, AutomationKey.WELCOME_SERIES)
    if not current.enabled or not current.days:
        return 0
    due = now - timedelta(days=current.days)
    members = _members(
        session,
        program,
        LoyaltyMember.enrolled_at <= due,
        LoyaltyMember.enrolled_at > due - timedelta(days=2),
        # Not back since their first days (no portable column + interval in SQL: a bound).
        LoyaltyMember.last_activity_at < due + timedelta(days=1),
    )
    targets = _consented_destinations(session, [m.id for m in members])
    return _queue(
        session,
        program=program,
        key=AutomationKey.WELCOME_SERIES,
        text=current.text,
        targets=targets,
        dedupe={m.id: f"welcome_series:{m.id}" for m in members},
    )


def queue_win_back(session: Session, *, program: LoyaltyProgram, now: datetime) -> int:
    """Members whose last visit was `days` ago (2-day window); once per absence."""
    current = state(session, program.merchant_id, AutomationKey.WIN_BACK)
    if not current.enabled or not current.days:
        return 0
    due = now - timedelta(days=current.days)
    members = _members(
        session,
        program,
        LoyaltyMember.last_activity_at <= due,
        LoyaltyMember.last_activity_at > due - timedelta(days=2),
    )
    targets = _consented_destinations(session, [m.id for m in members])
    return _queue(
        session,
        program=program,
        key=AutomationKey.WIN_BACK,
        text=current.text,
        targets=targets,
        dedupe={m.id: f"win_back:{m.id}:{m.last_activity_at:%Y%m%d}" for m in members},
    )


def congratulate_tier_ups(
    session: Session, *, program: LoyaltyProgram, upgrades: dict[int, int], now: datetime
) -> int:
    """`upgrades`: member id → new tier id. A status notice: the preferred channel, no consent."""
    if not upgrades:
        return 0
    current = state(session, program.merchant_id, AutomationKey.TIER_UP)
    if not current.enabled:
        return 0
    from loyalty.services.receipts import preferred_destination

    targets: dict[int, tuple[OutboxChannel, str]] = {}
    for member_id in upgrades:
        member = session.get(LoyaltyMember, member_id)
        destination = preferred_destination(session, member) if member is not None else None
        if destination is not None:
            targets[member_id] = (destination.channel, destination.address)
    return _queue(
        session,
        program=program,
        key=AutomationKey.TIER_UP,
        text=current.text,
        targets=targets,
        dedupe={m: f"tier_up:{m}:{t}:{now:%Y-%m-%d}" for m, t in upgrades.items()},
    )
