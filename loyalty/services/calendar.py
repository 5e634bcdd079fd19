"""A merchant's calendar: its days begin at its own midnight, whatever the server's zone."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.models import Merchant

UTC = ZoneInfo("UTC")


def zone_of(merchant: Merchant) -> ZoneInfo:
    try:
        return ZoneInfo(merchant.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_midnight(day: date, merchant: Merchant) -> datetime:
    """The UTC instant the merchant's calendar day `day` begins."""
    return datetime.combine(day, time(0), tzinfo=zone_of(merchant)).astimezone(UTC)


def local_day(moment: datetime, merchant: Merchant) -> date:
    return moment.astimezone(zone_of(merchant)).date()
