"""How often a member may redeem a reward: repeatable, once ever, once per month/year/N days.

A redemption counts until it is reversed: a voided voucher (cancelled, undone at the till,
or a returned reward) frees the limit again; an expired one does not (its points were spent).
Calendar months and years are the merchant's, in its time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidInput
from loyalty.identity import format_card_number
from loyalty.models import LoyaltyMember, RedemptionLimit, Reward, Voucher, VoucherStatus
from loyalty.services.calendar import zone_of

MAX_LIMIT_DAYS = 3650

LIMIT_LABELS: dict[RedemptionLimit, str] = {
    RedemptionLimit.REPEATABLE: "As often as the points allow",
    RedemptionLimit.ONCE: "Once per member",
    RedemptionLimit.MONTH: "Once per member per calendar month",
    RedemptionLimit.YEAR: "Once per member per calendar year",
    RedemptionLimit.DAYS: "Once per member every N days",
}


def limit_label(reward: Reward) -> str:
    """The rule in a few words for the catalogue list ("once a month")."""
    match reward.redemption_limit:
        case RedemptionLimit.ONCE:
            return "once per member"
        case RedemptionLimit.MONTH:
            return "once a month"
        case RedemptionLimit.YEAR:
            return "once a year"
        case RedemptionLimit.DAYS:
            return f"once every {reward.limit_days} days"
        case _:
            return "repeatable"


def validated_limit(limit: RedemptionLimit, days: int | None) -> int | None:
    """The `limit_days` to store with `limit`; refuses a rolling limit without a sensible span."""
    if limit != RedemptionLimit.DAYS:
        return None
    if days is None or not 1 <= days <= MAX_LIMIT_DAYS:
        raise InvalidInput(
            f"For “once every N days”, enter N: a whole number from 1 to {MAX_LIMIT_DAYS}.",
            field="limit_days",
        )
    return days


@dataclass(frozen=True)
class LimitHit:
    """A reward the member may not redeem now, because of its limit."""

    reward: Reward
    last_redeemed_at: datetime
    again_at: datetime | None  # None: never again (once per member)

    def message(self, zone: ZoneInfo, card_number: str, *, full_card: bool = False) -> str:
        """What the cashier, the customer or the API client reads; `full_card`: said of a
        stamp card that stays full instead of a redemption refused."""
        last = _day(self.last_redeemed_at, zone)
        rule = {
            RedemptionLimit.ONCE: "once per member",
            RedemptionLimit.MONTH: "once per calendar month",
            RedemptionLimit.YEAR: "once per calendar year",
            RedemptionLimit.DAYS: f"once every {self.reward.limit_days} days",
        }.get(self.reward.redemption_limit, "a limited number of times")
        text = (
            f"“{self.reward.name}” can be redeemed {rule}, and card "
            f"{format_card_number(card_number)} "
            f"already redeemed it on {last}."
        )
        if self.again_at is None:
            return f"{text} {'The full card keeps its stamps.' if full_card else 'Choose another reward.'}"
        again = f"{text} It can be redeemed again from {_day(self.again_at, zone)}."
        return f"{again} The full card keeps its stamps until then." if full_card else again


def _day(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%-d %b %Y")


def _period_start(limit: RedemptionLimit, now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    if limit == RedemptionLimit.MONTH:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC)


def _next_period_start(limit: RedemptionLimit, now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    if limit == RedemptionLimit.MONTH:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    else:
        year, month = local.year + 1, 1
    # Built from the wall-clock date, so a daylight-saving change in between cannot shift it.
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)


def hit_for(
    reward: Reward, last_redeemed_at: datetime | None, *, now: datetime, zone: ZoneInfo
) -> LimitHit | None:
    """Whether a member whose latest standing redemption of `reward` was at `last_redeemed_at`
    may redeem it again `now`."""
    limit = reward.redemption_limit
    if last_redeemed_at is None or limit == RedemptionLimit.REPEATABLE:
        return None
    if limit == RedemptionLimit.ONCE:
        return LimitHit(reward, last_redeemed_at, None)
    if limit == RedemptionLimit.DAYS:
        again = last_redeemed_at + timedelta(days=reward.limit_days or 0)
        return LimitHit(reward, last_redeemed_at, again) if now < again else None
    if last_redeemed_at >= _period_start(limit, now, zone):
        return LimitHit(reward, last_redeemed_at, _next_period_start(limit, now, zone))
    return None


def limit_hits(
    session: Session, *, member: LoyaltyMember, rewards: Iterable[Reward], now: datetime
) -> dict[int, LimitHit]:
    """Reward id → why the member may not redeem it now, for the limited rewards among
    `rewards`. One query. Call it under the member's lock where the answer must hold."""
    limited = {r.id: r for r in rewards if r.redemption_limit != RedemptionLimit.REPEATABLE}
    if not limited:
        return {}
    latest = session.execute(
        select(Voucher.reward_id, func.max(Voucher.created_at))
        .where(
            Voucher.member_id == member.id,
            Voucher.reward_id.in_(limited),
            Voucher.status != VoucherStatus.VOID,
        )
        .group_by(Voucher.reward_id)
    ).all()
    zone = zone_of(member.program.merchant)
    hits: dict[int, LimitHit] = {}
    for reward_id, last in latest:
        hit = hit_for(limited[reward_id], last, now=now, zone=zone)
        if hit is not None:
            hits[reward_id] = hit
    return hits
