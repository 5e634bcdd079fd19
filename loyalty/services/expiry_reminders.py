"""The 14-day points-expiry reminder: one outbox message per member and expiry date, set-based.

Lots are grouped by member and by the merchant-local date they expire on; a member hears
once per date (dedupe key `expiry_warning:<member>:<date>`), so the nightly job may run
again, or late, without repeating itself. A missed night is caught up: every date from today
to today + 14 days is covered, not only the 14th. The member's preferred channel (Telegram,
else e-mail, else SMS; opted-out channels left out) is chosen when queuing; opt-outs and
quiet hours are checked again at send time by the delivery loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from loyalty.db import is_postgres
from loyalty.models import (
    ChannelIdentity,
    Customer,
    LoyaltyMember,
    LoyaltyProgram,
    MemberStatus,
    OutboxMessage,
    OutboxStatus,
    PointLot,
)
from loyalty.notify import campaign_texts
from loyalty.services import campaigns, stamps
from loyalty.services.receipts import PREFERENCE

LEAD_DAYS = 14
TEMPLATE = "expiry_warning"


def local_midnights(today: date, zone: ZoneInfo, days: int) -> list[tuple[date, datetime]]:
    """(day, the UTC instant that day ends) for today .. today + days, in the merchant's zone.

    Computed here rather than in SQL so the grouping is the same on SQLite and PostgreSQL
    and follows daylight-saving changes.
    """
    ends = []
    for offset in range(days + 1):
        day = today + timedelta(days=offset)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        ends.append((day, end.astimezone(ZoneInfo("UTC"))))
    return ends


def _expiring(session: Session, program: LoyaltyProgram, now: datetime, ends) -> Sequence[Any]:
    """(member, day, points, name, language) for open lots expiring by the window's last day."""
    day = case(*[(PointLot.expires_at < end, literal(d.isoformat())) for d, end in ends])
    lots = (
        select(PointLot.member_id, day.label("day"), PointLot.remaining)
        .join(LoyaltyMember, LoyaltyMember.id == PointLot.member_id)
        .where(
            LoyaltyMember.program_id == program.id,
            LoyaltyMember.status == MemberStatus.ACTIVE,
            PointLot.remaining > 0,
            PointLot.expires_at > now,
            PointLot.expires_at < ends[-1][1],
        )
        .subquery()
    )
    return session.execute(
        select(
            lots.c.member_id,
            lots.c.day,
            func.sum(lots.c.remaining).label("points"),
            Customer.name,
            Customer.language,
            LoyaltyMember.points_balance,
        )
        .join(LoyaltyMember, LoyaltyMember.id == lots.c.member_id)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(Customer.erased_at.is_(None))
        .group_by(
            lots.c.member_id,
            lots.c.day,
            Customer.name,
            Customer.language,
            LoyaltyMember.points_balance,
        )
        .order_by(lots.c.member_id, lots.c.day)
    ).all()


def _destinations(session: Session, member_ids: set[int]) -> dict[int, tuple[str, str]]:
    """member id → (channel, address) by preference, from identities not opted out."""
    rank = {kind: i for i, (kind, _channel) in enumerate(PREFERENCE)}
    channel_of = dict(PREFERENCE)
    best: dict[int, tuple[int, int, str, str]] = {}
    ids = sorted(member_ids)
    for start in range(0, len(ids), 5000):  # SQLite caps bound parameters per statement
        for identity in session.execute(
            select(
                ChannelIdentity.id,
                ChannelIdentity.member_id,
                ChannelIdentity.kind,
                ChannelIdentity.address,
            ).where(
                ChannelIdentity.member_id.in_(ids[start : start + 5000]),
                ChannelIdentity.opted_out_at.is_(None),
                ChannelIdentity.kind.in_(list(rank)),
            )
        ):
            candidate = (rank[identity.kind], identity.id, identity.kind, identity.address)
            if identity.member_id not in best or candidate < best[identity.member_id]:
                best[identity.member_id] = candidate
    return {m: (channel_of[kind], address) for m, (_r, _i, kind, address) in best.items()}


def queue_expiry_reminders(
    session: Session,
    *,
    program: LoyaltyProgram,
    today: date,
    zone: ZoneInfo,
    now: datetime,
    lead_days: int = LEAD_DAYS,
    text: str | None = None,
) -> int:
    """Queue the reminders due on `today` (merchant-local); returns how many were new.

    `text`: the merchant's own wording (the automation switch's template, placeholders as in
    campaigns), rendered per member now; without it the standard notice is sent.
    """
    ends = local_midnights(today, zone, lead_days)
    rows = _expiring(session, program, now, ends)
    if not rows:
        return 0
    destinations = _destinations(session, {row.member_id for row in rows})
    unit = stamps.unit_of(program)
    names = set(campaign_texts.placeholders_in(text)) - {"expiry_date"} if text else set()
    rows_to_insert = []
    for row in rows:
        destination = destinations.get(row.member_id)
        if destination is None:
            continue
        day = date.fromisoformat(row.day)
        payload = {
            "name": row.name,
            "program": program.name,
            "points": int(row.points),
            "expiry_date": f"{day.day} {day:%B %Y}",
            "unit": unit,
            "language": row.language,
        }
        if text:
            member = campaigns.member_values(
                session, member_id=row.member_id, merchant_id=program.merchant_id, names=names
            )
            member["expiry_date"] = payload["expiry_date"]  # the date this reminder is about
            payload["text"] = campaign_texts.render(text, member)
        rows_to_insert.append(
            {
                "merchant_id": program.merchant_id,
                "member_id": row.member_id,
                "channel": destination[0],
                "template": TEMPLATE,
                "address": destination[1],
                "payload": payload,
                "dedupe_key": f"{TEMPLATE}:{row.member_id}:{day.isoformat()}",
                "status": OutboxStatus.QUEUED,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if not rows_to_insert:
        return 0
    insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = (
        insert(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["merchant_id", "dedupe_key"])
        .returning(OutboxMessage.id)
    )
    return len(session.scalars(statement, rows_to_insert).all())
