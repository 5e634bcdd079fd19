"""Segments: a saved filter over a merchant's members, turned into one SQL select of member ids.

The definition is a small JSON object a shop owner builds with a form (every key optional):

    tier_ids [int]            in one of these tiers
    points_min / points_max   points balance range
    last_visit_within_days    visited in the last N days
    no_visit_for_days         no visit for at least N days
    visits_min / visits_max   number of purchases (earn rows of the ledger)
    spend_min_cents / spend_max_cents   total spent on purchases
    shop_ids [int]            bought at one of these shops
    enrolled_from / enrolled_to         enrolment date (merchant-local, inclusive, YYYY-MM-DD)
    birthday_months [1..12]
    channels [telegram|sms|email]       reachable (not opted out) on at least one of these
    consents [marketing_email|marketing_sms|marketing_telegram]   every one granted

Only active members whose data was not erased are ever in a segment. The select is what the
live count counts and what campaigns materialise from, so both always agree.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, and_, exists, extract, func, or_, select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import InvalidInput, NotFound
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Customer,
    LoyaltyMember,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberStatus,
    Merchant,
    Segment,
    Shop,
    TransactionType,
)
from loyalty.money import euros
from loyalty.offerings import Feature

MARKETING_CONSENTS = ("marketing_email", "marketing_sms", "marketing_telegram")
CHANNELS = (ChannelKind.TELEGRAM.value, ChannelKind.SMS.value, ChannelKind.EMAIL.value)

_INTS = (
    "points_min",
    "points_max",
    "last_visit_within_days",
    "no_visit_for_days",
    "visits_min",
    "visits_max",
    "spend_min_cents",
    "spend_max_cents",
)
_LABELS = {
    "points_min": "Minimum points",
    "points_max": "Maximum points",
    "last_visit_within_days": "Visited in the last … days",
    "no_visit_for_days": "No visit for … days",
    "visits_min": "Minimum visits",
    "visits_max": "Maximum visits",
    "spend_min_cents": "Minimum total spend",
    "spend_max_cents": "Maximum total spend",
}
MAX_NUMBER = 2_000_000_000


def merchant_zone(merchant: Merchant) -> ZoneInfo:
    try:
        return ZoneInfo(merchant.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _int(raw: object, key: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"{_LABELS[key]}: write a whole number.", field=key) from None
    if not 0 <= value <= MAX_NUMBER:
        raise InvalidInput(f"{_LABELS[key]}: must be 0 or more.", field=key)
    return value


def _ids(raw: object, key: str) -> list[int]:
    if raw in (None, ""):
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    try:
        return sorted({int(str(item)) for item in items})
    except ValueError:
        raise InvalidInput("Choose from the list.", field=key) from None


def _date(raw: object, key: str) -> str | None:
    if raw in (None, ""):
        return None
    try:
        return date.fromisoformat(str(raw).strip()).isoformat()
    except ValueError:
        raise InvalidInput("Write the date as YYYY-MM-DD.", field=key) from None


def clean_definition(
    session: Session, *, merchant: Merchant, raw: Mapping[str, Any]
) -> dict[str, Any]:
    """A checked definition with only the keys that filter something; InvalidInput if not."""
    definition: dict[str, Any] = {}
    for key in _INTS:
        value = _int(raw.get(key), key)
        if value is not None:
            definition[key] = value
    for low, high in (
        ("points_min", "points_max"),
        ("visits_min", "visits_max"),
        ("spend_min_cents", "spend_max_cents"),
    ):
        if low in definition and high in definition and definition[low] > definition[high]:
            raise InvalidInput(f"{_LABELS[low]} is above {_LABELS[high].lower()}.", field=low)
    for key, model in (("tier_ids", LoyaltyTier), ("shop_ids", Shop)):
        ids = _ids(raw.get(key), key)
        if ids:
            found = session.scalars(
                select(model.id).where(model.merchant_id == merchant.id, model.id.in_(ids))
            ).all()
            if len(found) != len(ids):
                raise InvalidInput("Choose from the list.", field=key)
            definition[key] = ids
    for key in ("enrolled_from", "enrolled_to"):
        value = _date(raw.get(key), key)
        if value is not None:
            definition[key] = value
    if definition.get("enrolled_from", "") > definition.get("enrolled_to", "9999"):
        raise InvalidInput("The enrolment period ends before it starts.", field="enrolled_from")
    months = _ids(raw.get("birthday_months"), "birthday_months")
    if any(not 1 <= m <= 12 for m in months):
        raise InvalidInput("Choose months from the list.", field="birthday_months")
    if months:
        definition["birthday_months"] = months
    for key, allowed in (("channels", CHANNELS), ("consents", MARKETING_CONSENTS)):
        values = raw.get(key) or []
        values = values if isinstance(values, list | tuple) else [values]
        values = [str(v) for v in values if v]
        if any(v not in allowed for v in values):
            raise InvalidInput("Choose from the list.", field=key)
        if values:
            definition[key] = [v for v in allowed if v in values]
    return definition


def consent_granted(name: str):
    """SQL: the customer granted this marketing consent (the JSON of enroll and gdpr)."""
    return Customer.consents[name]["granted"].as_boolean().is_(True)


def reachable_on(kind: str):
    """SQL: the member has a not-opted-out address of this kind."""
    return exists().where(
        ChannelIdentity.member_id == LoyaltyMember.id,
        ChannelIdentity.kind == ChannelKind(kind),
        ChannelIdentity.opted_out_at.is_(None),
    )


def _purchases(merchant_id: int):
    return select(LoyaltyTransaction.member_id).where(
        LoyaltyTransaction.merchant_id == merchant_id,
        LoyaltyTransaction.type == TransactionType.EARN,
    )


def _local_midnight(day: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=zone)


def member_ids(
    merchant: Merchant, definition: Mapping[str, Any], *, now: datetime | None = None
) -> Select[Any]:
    """SELECT loyalty_members.id of the merchant's members the definition matches."""
    now = now or utcnow()
    d = definition
    statement = (
        select(LoyaltyMember.id)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(
            LoyaltyMember.merchant_id == merchant.id,
            LoyaltyMember.status == MemberStatus.ACTIVE,
            Customer.erased_at.is_(None),
        )
    )
    where = []
    if d.get("tier_ids"):
        where.append(LoyaltyMember.tier_id.in_(d["tier_ids"]))
    if d.get("points_min") is not None:
        where.append(LoyaltyMember.points_balance >= d["points_min"])
    if d.get("points_max") is not None:
        where.append(LoyaltyMember.points_balance <= d["points_max"])
    if d.get("last_visit_within_days") is not None:
        where.append(
            LoyaltyMember.last_activity_at >= now - timedelta(days=d["last_visit_within_days"])
        )
    if d.get("no_visit_for_days") is not None:
        where.append(LoyaltyMember.last_activity_at < now - timedelta(days=d["no_visit_for_days"]))
    purchases = _purchases(merchant.id).group_by(LoyaltyTransaction.member_id)
    count = func.count(LoyaltyTransaction.id)
    spend = func.coalesce(func.sum(LoyaltyTransaction.amount_cents), 0)
    for key, measure, op in (
        ("visits_min", count, "min"),
        ("visits_max", count, "max"),
        ("spend_min_cents", spend, "min"),
        ("spend_max_cents", spend, "max"),
    ):
        value = d.get(key)
        if value is None:
            continue
        # Members with no purchase at all have 0 visits and 0 spend: "at least 0" is everyone,
        # "at most N" includes them, hence NOT IN (above N) rather than IN (at most N).
        if op == "min" and value > 0:
            where.append(LoyaltyMember.id.in_(purchases.having(measure >= value)))
        elif op == "max":
            where.append(LoyaltyMember.id.not_in(purchases.having(measure > value)))
    if d.get("shop_ids"):
        where.append(
            LoyaltyMember.id.in_(
                _purchases(merchant.id).where(LoyaltyTransaction.shop_id.in_(d["shop_ids"]))
            )
        )
    zone = merchant_zone(merchant)
    if d.get("enrolled_from"):
        where.append(LoyaltyMember.enrolled_at >= _local_midnight(d["enrolled_from"], zone))
    if d.get("enrolled_to"):
        end = _local_midnight(d["enrolled_to"], zone) + timedelta(days=1)
        where.append(LoyaltyMember.enrolled_at < end)
    if d.get("birthday_months"):
        where.append(extract("month", Customer.birthday).in_(d["birthday_months"]))
    if d.get("channels"):
        where.append(or_(*(reachable_on(kind) for kind in d["channels"])))
    for name in d.get("consents") or ():
        where.append(consent_granted(name))
    return statement.where(and_(*where)) if where else statement


def count(
    session: Session,
    *,
    merchant: Merchant,
    definition: Mapping[str, Any],
    now: datetime | None = None,
) -> int:
    """The live count the builder shows."""
    offerings.require(merchant, Feature.SEGMENTATION)
    ids = member_ids(merchant, definition, now=now).subquery()
    return session.scalar(select(func.count()).select_from(ids)) or 0


def _name(raw: str) -> str:
    name = (raw or "").strip()
    if not name:
        raise InvalidInput("Give the segment a name.", field="name")
    if len(name) > 120:
        raise InvalidInput("The name is at most 120 characters.", field="name")
    return name


def save_segment(
    session: Session,
    *,
    merchant: Merchant,
    name: str,
    definition: Mapping[str, Any],
    segment: Segment | None = None,
) -> Segment:
    """Create (or update `segment`) after checking the name and every filter."""
    offerings.require(merchant, Feature.SEGMENTATION)
    if segment is not None and segment.merchant_id != merchant.id:
        raise NotFound("That segment does not exist.")
    cleaned = clean_definition(session, merchant=merchant, raw=definition)
    if segment is None:
        segment = Segment(merchant_id=merchant.id)
        session.add(segment)
    segment.name = _name(name)
    segment.definition = cleaned
    session.flush()
    return segment


def _range(low: int | None, high: int | None, unit: str, scale: int) -> str:
    def shown(value: int) -> str:
        if scale == 100:
            return euros(value, grouping=True)
        return f"{value:,}{unit.removesuffix('s') if value == 1 else unit}"

    if low is not None and high is not None:
        return f"{shown(low)} to {shown(high)}"
    if low is not None:
        return f"at least {shown(low)}"
    if high is not None:
        return f"at most {shown(high)}"
    return ""


def describe(session: Session, segment_definition: Mapping[str, Any]) -> list[str]:
    """The filters in words, for lists and the campaign page."""
    d = segment_definition
    words: list[str] = []
    if d.get("tier_ids"):
        names = session.scalars(
            select(LoyaltyTier.name).where(LoyaltyTier.id.in_(d["tier_ids"]))
        ).all()
        words.append("tier " + " or ".join(names))
    for low, high, unit, scale in (
        ("points_min", "points_max", " points", 1),
        ("visits_min", "visits_max", " visits", 1),
        ("spend_min_cents", "spend_max_cents", "", 100),
    ):
        words_for = _range(d.get(low), d.get(high), unit, scale)
        if words_for:
            words.append(("spent " if scale == 100 else "") + words_for)
    if d.get("last_visit_within_days") is not None:
        words.append(f"visited in the last {d['last_visit_within_days']} days")
    if d.get("no_visit_for_days") is not None:
        words.append(f"no visit for {d['no_visit_for_days']} days")
    if d.get("shop_ids"):
        names = session.scalars(select(Shop.name).where(Shop.id.in_(d["shop_ids"]))).all()
        words.append("bought at " + " or ".join(names))
    if d.get("enrolled_from") or d.get("enrolled_to"):
        words.append(f"joined {d.get('enrolled_from', '…')} to {d.get('enrolled_to', '…')}")
    if d.get("birthday_months"):
        words.append(
            "birthday in " + ", ".join(calendar.month_abbr[m] for m in d["birthday_months"])
        )
    if d.get("channels"):
        words.append("reachable by " + " or ".join(d["channels"]))
    if d.get("consents"):
        words.append("consented to " + ", ".join(c.replace("_", " ") for c in d["consents"]))
    return words or ["every active member"]
