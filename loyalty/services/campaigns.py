"""Campaigns: write one, check it, run it (set-based into the outbox), pause, resume, cancel, count.

Running a campaign *materialises* its audience: one INSERT … SELECT per channel of the fallback
order puts an outbox row for every member of the segment who can be reached on that channel
(a not-opted-out address, the channel's marketing consent) and has no row of this campaign
yet, skipping members over the frequency cap. The worker's delivery loop then sends them,
calling `prepare_message` just before each send: that renders the member's text from the
campaign's template (so `{points}` is the balance at send time), credits attached bonus points
(idempotency key per campaign and member) and issues an attached voucher, and holds the
message while the campaign is paused or drops it once it is cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from loyalty import offerings
from loyalty.db import among, is_postgres, utcnow
from loyalty.errors import InvalidInput, LoyaltyError, PermissionDenied
from loyalty.identity import normalize_email, normalize_phone
from loyalty.models import (
    Campaign,
    CampaignSchedule,
    CampaignStatus,
    ChannelIdentity,
    ChannelKind,
    Customer,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    LoyaltyTransaction,
    Merchant,
    MerchantStatus,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    PointLot,
    ProgramKind,
    Reward,
    Segment,
    Shop,
    TransactionType,
    Voucher,
)
from loyalty.models.merchant import merchant_not_suspended
from loyalty.notify import campaign_texts, outbox
from loyalty.offerings import Feature
from loyalty.services import events, ledger, segments
from loyalty.services.actors import Actor
from loyalty.services.rewards import new_voucher_code

CHANNELS = (OutboxChannel.TELEGRAM, OutboxChannel.SMS, OutboxChannel.EMAIL)
CHANNEL_LABELS = {
    OutboxChannel.TELEGRAM: "Telegram",
    OutboxChannel.SMS: "SMS",
    OutboxChannel.EMAIL: "E-mail",
}
# Marketing needs the member's consent for the channel (enroll.MARKETING_CONSENTS).
CONSENT_FOR = {
    OutboxChannel.EMAIL: "marketing_email",
    OutboxChannel.SMS: "marketing_sms",
    OutboxChannel.TELEGRAM: "marketing_telegram",
}
TEMPLATE = "campaign"  # the outbox template name of every campaign message
TEST_TEMPLATE = "campaign_test"
# Queued rows of a paused campaign wait here, out of the delivery loop's reach.
HELD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)
PAUSED_NOTE = "Campaign paused."
CANCELLED_NOTE = "Campaign cancelled."
MAX_BONUS = 100_000
MAX_DAYS = 365
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
STATUSES = tuple(OutboxStatus)


def _merchant(session: Session, campaign: Campaign) -> Merchant:
    merchant = session.get(Merchant, campaign.merchant_id)
    assert merchant is not None
    return merchant


def require_campaigns(merchant: Merchant) -> None:
    """Campaigns are part of segmentation (Plus and Enterprise)."""
    offerings.require(merchant, Feature.SEGMENTATION)


def require_channels(merchant: Merchant, channels: list[str]) -> None:
    require_campaigns(merchant)
    if OutboxChannel.EMAIL.value in channels:
        offerings.require(merchant, Feature.EMAIL_CAMPAIGNS)


# --- writing a campaign ---------------------------------------------------------------------


@dataclass
class CampaignDraft:
    """What the editor submits; times are naive local times in the merchant's time zone."""

    name: str
    channels: list[str]
    message: str  # the template for every channel without its own
    channel_messages: dict[str, str]  # optional per-channel templates
    subject: str = ""
    segment_id: int | None = None
    bonus_points: int = 0
    reward_id: int | None = None
    schedule: str = CampaignSchedule.NOW.value
    send_at_local: datetime | None = None
    repeat_days: int | None = None
    frequency_cap_days: int | None = None


def _channels(raw: list[str]) -> list[str]:
    chosen: list[str] = []
    for value in raw:
        if value not in {c.value for c in CHANNELS}:
            raise InvalidInput("Choose channels from the list.", field="channels")
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise InvalidInput("Choose at least one channel.", field="channels")
    return chosen


def _days(value: int | None, field: str, what: str) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= MAX_DAYS:
        raise InvalidInput(f"{what} must be between 1 and {MAX_DAYS} days.", field=field)
    return value


def local_to_utc(merchant: Merchant, local: datetime) -> datetime:
    zone = segments.merchant_zone(merchant)
    return local.replace(tzinfo=zone).astimezone(UTC)


def save_campaign(
    session: Session,
    *,
    merchant: Merchant,
    draft: CampaignDraft,
    actor: Actor | None = None,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> Campaign:
    """Create or edit a draft (or a scheduled campaign); every mistake is a form error."""
    now = now or utcnow()
    require_campaigns(merchant)
    if campaign is not None and campaign.status not in EDITABLE:
        raise InvalidInput(
            f"This campaign is {campaign.status.value}: it can no longer be edited.",
            field="name",
        )
    name = (draft.name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("Give the campaign a name (at most 120 characters).", field="name")
    channels = _channels(draft.channels)
    require_channels(merchant, channels)
    templates: dict[str, str] = {}
    for channel in channels:
        own = (draft.channel_messages or {}).get(channel, "").strip()
        if own:
            templates[channel] = campaign_texts.validate(own, field=f"message_{channel}")
    if draft.message.strip() or len(templates) < len(channels):
        templates["default"] = campaign_texts.validate(draft.message, field="message")
    subject = ""
    if OutboxChannel.EMAIL.value in channels:
        if not (draft.subject or "").strip():
            raise InvalidInput(
                "Write the e-mail's subject: e-mail is one of the channels.", field="subject"
            )
        subject = campaign_texts.validate(draft.subject, field="subject")
        if len(subject) > 200:
            raise InvalidInput("The subject is at most 200 characters.", field="subject")
    segment_id = None
    if draft.segment_id is not None:
        segment = session.get(Segment, draft.segment_id)
        if segment is None or segment.merchant_id != merchant.id:
            raise InvalidInput("Choose a segment from the list.", field="segment_id")
        segment_id = segment.id
    if not 0 <= (draft.bonus_points or 0) <= MAX_BONUS:
        raise InvalidInput(f"Bonus points: between 0 and {MAX_BONUS}.", field="bonus_points")
    reward_id = None
    if draft.reward_id is not None:
        reward = session.get(Reward, draft.reward_id)
        if reward is None or reward.merchant_id != merchant.id or not reward.active:
            raise InvalidInput("Choose an active reward from the list.", field="reward_id")
        reward_id = reward.id
    try:
        schedule = CampaignSchedule(draft.schedule)
    except ValueError:
        raise InvalidInput("Choose when to send.", field="schedule") from None
    send_at = None
    repeat_days = None
    if schedule != CampaignSchedule.NOW:
        if draft.send_at_local is None:
            raise InvalidInput("Choose the date and time to send.", field="send_at")
        send_at = local_to_utc(merchant, draft.send_at_local)
        if send_at <= now:
            raise InvalidInput("Choose a time in the future.", field="send_at")
    if schedule == CampaignSchedule.RECURRING:
        repeat_days = _days(draft.repeat_days, "repeat_days", "Repeat every")
        if repeat_days is None:
            raise InvalidInput("Say how often to repeat (e.g. every 7 days).", field="repeat_days")
    cap = _days(draft.frequency_cap_days, "frequency_cap_days", "The frequency cap")

    if campaign is None:
        campaign = Campaign(merchant_id=merchant.id, created_by=actor.user_id if actor else None)
        session.add(campaign)
    campaign.name = name
    campaign.channels = channels
    campaign.templates = templates
    campaign.subject = subject
    campaign.segment_id = segment_id
    campaign.bonus_points = draft.bonus_points or 0
    campaign.reward_id = reward_id
    campaign.schedule = schedule
    campaign.send_at = send_at
    campaign.repeat_days = repeat_days
    campaign.frequency_cap_days = cap
    if campaign.status == CampaignStatus.SCHEDULED:
        campaign.next_run_at = send_at
        if send_at is None:  # switched to "now": back to a draft waiting for Start
            campaign.status = CampaignStatus.DRAFT
    session.flush()
    return campaign


def template_for(campaign: Campaign, channel: str) -> str:
    return campaign.templates.get(channel) or campaign.templates.get("default", "")


# --- materialising the audience -------------------------------------------------------------


def audience(session: Session, campaign: Campaign, merchant: Merchant, now: datetime):
    """SELECT of the member ids the campaign is for."""
    definition = campaign.segment.definition if campaign.segment is not None else {}
    return segments.member_ids(merchant, definition, now=now)


def _capped(campaign: Campaign, now: datetime):
    """SQL: the member had a campaign message (another campaign) within the cap."""
    if not campaign.frequency_cap_days:
        return None
    recent = aliased(OutboxMessage)
    return exists().where(
        recent.member_id == LoyaltyMember.id,
        recent.created_at >= now - timedelta(days=campaign.frequency_cap_days),
        recent.campaign_id.is_not(None),
        recent.campaign_id != campaign.id,
        recent.status != OutboxStatus.SKIPPED,
    )


def _materialised(campaign: Campaign):
    mine = aliased(OutboxMessage)
    return exists().where(mine.campaign_id == campaign.id, mine.member_id == LoyaltyMember.id)


def _first_identity(merchant_id: int, kind: ChannelKind):
    """Per member, the oldest address of this kind not opted out (a member may have two)."""
    return (
        select(
            ChannelIdentity.member_id.label("member_id"),
            func.min(ChannelIdentity.id).label("identity_id"),
        )
        .where(
            ChannelIdentity.merchant_id == merchant_id,
            ChannelIdentity.kind == kind,
            ChannelIdentity.opted_out_at.is_(None),
        )
        .group_by(ChannelIdentity.member_id)
        .subquery(f"first_{kind.value}")
    )


def materialise(session: Session, campaign: Campaign, *, now: datetime | None = None) -> int:
    """Queue the campaign for its audience; returns the rows inserted (0 when re-run).

    One INSERT … SELECT: each member's channel is the first of the fallback order with an
    address (not opted out) and the channel's consent, chosen by a CASE over one outer join
    per channel. Members who already have a row of this campaign, or are over the frequency
    cap, are left out.
    """
    now = now or utcnow()
    merchant = _merchant(session, campaign)
    require_channels(merchant, campaign.channels)
    # One materialisation at a time per campaign (a concurrent start waits, then adds nothing).
    session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update()).all()
    ids = audience(session, campaign, merchant, now)
    capped = _capped(campaign, now)
    # Counted, not taken from rowcount: psycopg reports -1 for INSERT … SELECT here.
    before = _row_count(session, campaign)
    firsts = [
        (channel, _first_identity(merchant.id, ChannelKind(channel)))
        for channel in campaign.channels
    ]
    usable = [
        (
            channel,
            first,
            and_(
                first.c.identity_id.is_not(None),
                segments.consent_granted(CONSENT_FOR[OutboxChannel(channel)]),
            ),
        )
        for channel, first in firsts
    ]
    source = select(LoyaltyMember).join(Customer, Customer.id == LoyaltyMember.customer_id)
    for _channel, first, _ok in usable:
        source = source.outerjoin(first, first.c.member_id == LoyaltyMember.id)
    conditions = [LoyaltyMember.id.in_(ids), ~_materialised(campaign)]
    if capped is not None:
        conditions.append(~capped)
    choice = (
        source.with_only_columns(
            LoyaltyMember.id.label("member_id"),
            case(*[(ok, first.c.identity_id) for _c, first, ok in usable]).label("identity_id"),
            case(*[(ok, literal(channel)) for channel, _f, ok in usable]).label("channel"),
        )
        .where(and_(*conditions))
        .subquery("choice")
    )
    rows = select(
        literal(merchant.id),
        choice.c.member_id,
        literal(campaign.id),
        choice.c.channel,
        literal(TEMPLATE),
        ChannelIdentity.address,
        literal({}, OutboxMessage.__table__.c.payload.type),
        literal(OutboxStatus.QUEUED.value),
        literal(0),
        literal(now, OutboxMessage.__table__.c.next_attempt_at.type),
        literal(now, OutboxMessage.__table__.c.created_at.type),
    ).join_from(choice, ChannelIdentity, ChannelIdentity.id == choice.c.identity_id)
    postgres = is_postgres(session)
    if postgres:
        # The anti-joins read outbox rows that autovacuum may not have counted yet (a campaign
        # queued a million rows a minute ago); a nested loop over a "tiny" table would then be
        # quadratic. Hash joins are linear whatever the statistics say.
        session.execute(text("SET LOCAL enable_nestloop = off"))
    session.execute(
        insert(OutboxMessage).from_select(
            [
                "merchant_id",
                "member_id",
                "campaign_id",
                "channel",
                "template",
                "address",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],
            rows,
        )
    )
    queued = _row_count(session, campaign)
    _count_audience(session, campaign, ids, capped, queued)
    if postgres:
        session.execute(text("SET LOCAL enable_nestloop = DEFAULT"))
    session.flush()
    return queued - before


def _row_count(session: Session, campaign: Campaign) -> int:
    return (
        session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.campaign_id == campaign.id)
        )
        or 0
    )


def _count_audience(session: Session, campaign: Campaign, ids, capped, queued: int) -> None:
    audience_size = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    capped_count = 0
    if capped is not None:
        capped_count = (
            session.scalar(
                select(func.count(LoyaltyMember.id)).where(
                    LoyaltyMember.id.in_(ids), capped, ~_materialised(campaign)
                )
            )
            or 0
        )
    campaign.audience_count = audience_size
    campaign.capped_count = capped_count
    campaign.unreachable_count = max(0, audience_size - queued - capped_count)


# --- running --------------------------------------------------------------------------------


def check_sendable(session: Session, campaign: Campaign) -> Merchant:
    merchant = _merchant(session, campaign)
    if merchant.status == MerchantStatus.SUSPENDED:
        raise PermissionDenied(
            f"{merchant.name} is suspended: campaigns wait until the account is reactivated."
        )
    require_channels(merchant, campaign.channels)
    if not campaign.channels or not any(template_for(campaign, c) for c in campaign.channels):
        raise InvalidInput("The campaign has no message yet. Edit it first.", field="message")
    return merchant


def start(session: Session, campaign: Campaign, *, now: datetime | None = None) -> int:
    """Send now: materialise and hand the rows to the worker; returns the messages queued."""
    now = now or utcnow()
    check_sendable(session, campaign)
    if campaign.status not in EDITABLE:
        raise InvalidInput(f"This campaign is already {campaign.status.value}.")
    if campaign.schedule == CampaignSchedule.RECURRING and campaign.parent_id is None:
        raise InvalidInput("A recurring campaign starts on its schedule: use Schedule.")
    campaign.status = CampaignStatus.RUNNING
    campaign.started_at = now
    campaign.next_run_at = None
    campaign.last_error = None
    queued = materialise(session, campaign, now=now)
    finish_if_done(session, campaign, now=now)
    return queued


def schedule(session: Session, campaign: Campaign, *, now: datetime | None = None) -> Campaign:
    """Arm a campaign with a send time; the campaigns-due job starts it."""
    now = now or utcnow()
    check_sendable(session, campaign)
    if campaign.status != CampaignStatus.DRAFT:
        raise InvalidInput(f"This campaign is already {campaign.status.value}.")
    if campaign.schedule == CampaignSchedule.NOW or campaign.send_at is None:
        raise InvalidInput("Choose a send time first, or use Send now.")
    if campaign.send_at <= now and campaign.schedule == CampaignSchedule.AT:
        raise InvalidInput("The send time has passed. Choose a new one.", field="send_at")
    campaign.status = CampaignStatus.SCHEDULED
    campaign.next_run_at = next_occurrence(session, campaign, now) or campaign.send_at
    session.flush()
    return campaign


def next_occurrence(session: Session, campaign: Campaign, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`, keeping the local wall-clock time."""
    if campaign.send_at is None:
        return None
    if campaign.schedule != CampaignSchedule.RECURRING or not campaign.repeat_days:
        return campaign.send_at if campaign.send_at > after else None
    zone = segments.merchant_zone(_merchant(session, campaign))
    local = campaign.send_at.astimezone(zone).replace(tzinfo=None)
    step = timedelta(days=campaign.repeat_days)
    if campaign.send_at <= after:
        behind = (after - campaign.send_at) // step
        local += step * behind
    while local.replace(tzinfo=zone).astimezone(UTC) <= after:
        local += step
    return local.replace(tzinfo=zone).astimezone(UTC)


def pause(session: Session, campaign: Campaign) -> int:
    """Hold every queued message; returns how many are held."""
    if campaign.status != CampaignStatus.RUNNING:
        raise InvalidInput(
            f"Only a running campaign can be paused; this one is {campaign.status.value}."
        )
    campaign.status = CampaignStatus.PAUSED
    held = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.campaign_id == campaign.id,
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
        .values(next_attempt_at=HELD_UNTIL, last_error=PAUSED_NOTE)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    return held


def resume(session: Session, campaign: Campaign, *, now: datetime | None = None) -> int:
    """Release the held messages; returns how many go back in the queue."""
    now = now or utcnow()
    if campaign.status != CampaignStatus.PAUSED:
        raise InvalidInput(
            f"Only a paused campaign can be resumed; this one is {campaign.status.value}."
        )
    campaign.status = CampaignStatus.RUNNING
    released = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.campaign_id == campaign.id,
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
        .values(next_attempt_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    finish_if_done(session, campaign, now=now)
    return released


def cancel(session: Session, campaign: Campaign, *, now: datetime | None = None) -> int:
    """Stop for good: queued messages become skipped; returns how many."""
    now = now or utcnow()
    if campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
        raise InvalidInput(f"This campaign is already {campaign.status.value}.")
    campaign.status = CampaignStatus.CANCELLED
    campaign.next_run_at = None
    campaign.finished_at = now
    dropped = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.campaign_id == campaign.id,
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
        .values(status=OutboxStatus.SKIPPED, last_error=CANCELLED_NOTE)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    return dropped


def finish_if_done(session: Session, campaign: Campaign, *, now: datetime | None = None) -> bool:
    """A running campaign with nothing left to send is completed."""
    if campaign.status != CampaignStatus.RUNNING:
        return False
    pending = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.campaign_id == campaign.id,
            OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
        )
        .limit(1)
    )
    if pending is not None:
        return False
    campaign.status = CampaignStatus.COMPLETED
    campaign.finished_at = now or utcnow()
    session.flush()
    return True


# --- counting -------------------------------------------------------------------------------


def progress(session: Session, campaign: Campaign) -> dict[str, int]:
    """Messages by status (queued, sending, sent, failed, skipped) and their total."""
    counts = {status.value: 0 for status in STATUSES}
    for status, n in session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id))
        .where(OutboxMessage.campaign_id == campaign.id)
        .group_by(OutboxMessage.status)
    ):
        counts[OutboxStatus(status).value] = n
    counts["total"] = sum(counts[s.value] for s in STATUSES)
    return counts


def results_by_channel(session: Session, campaign: Campaign) -> dict[str, dict[str, int]]:
    """Per channel: messages by status, plus provider delivery statuses (Twilio callbacks)."""
    results: dict[str, dict[str, int]] = {}
    delivery = OutboxMessage.payload["delivery_status"].as_string()
    for channel, status, delivered, n in session.execute(
        select(
            OutboxMessage.channel,
            OutboxMessage.status,
            delivery,
            func.count(OutboxMessage.id),
        )
        .where(OutboxMessage.campaign_id == campaign.id)
        .group_by(OutboxMessage.channel, OutboxMessage.status, delivery)
    ):
        row = results.setdefault(
            OutboxChannel(channel).value, {s.value: 0 for s in STATUSES} | {"total": 0}
        )
        row[OutboxStatus(status).value] += n
        row["total"] += n
        if delivered:
            key = f"provider_{delivered}"
            row[key] = row.get(key, 0) + n
    return results


# --- at send time ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What the delivery loop does with a campaign message: send it, or it was settled here."""

    send: bool
    wrote_ledger: bool = False  # commit before the (slow) send so no member row stays locked


@cache  # built once: a Select is immutable, and building this one costs milliseconds
def _member_row_query() -> Select[Any]:
    # A stamp card's {reward} is its own reward (what the full card gives): joined here, so
    # the delivery loop's one query per chunk answers it too.
    card_reward = aliased(Reward)
    return (
        select(
            Customer.name,
            LoyaltyMember.points_balance,
            LoyaltyTier.name,
            Merchant.timezone,
            LoyaltyProgram.kind,
            card_reward.name,
        )
        .select_from(LoyaltyMember)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .join(Merchant, Merchant.id == LoyaltyMember.merchant_id)
        .join(LoyaltyProgram, LoyaltyProgram.id == LoyaltyMember.program_id)
        .outerjoin(LoyaltyTier, LoyaltyTier.id == LoyaltyMember.tier_id)
        .outerjoin(card_reward, card_reward.id == LoyaltyProgram.stamp_reward_id)
    )


def member_rows(session: Session, member_ids: set[int]) -> dict[int, Any]:
    """The basic placeholder values of many members in one query (the delivery loop asks once
    per chunk rather than once per message); pass each as `member_values(row=...)`."""
    if not member_ids:
        return {}
    query = _member_row_query().add_columns(LoyaltyMember.id)
    return {
        row[-1]: row[:-1]
        for row in session.execute(query.where(among(session, LoyaltyMember.id, member_ids)))
    }


def member_values(
    session: Session,
    *,
    member_id: int,
    merchant_id: int,
    names: set[str],
    with_reward: bool = True,
    row: Any = None,
) -> dict[str, Any]:
    """The placeholder values of one member; the costly ones only when `names` uses them."""
    if row is None:
        row = session.execute(
            _member_row_query().where(LoyaltyMember.id == member_id)
        ).one_or_none()
    if row is None:
        return {}
    name, points, tier, tz, kind, card_reward = row
    values: dict[str, Any] = {
        "first_name": (name or "").split()[0] if (name or "").strip() else "",
        "points": f"{points:,}",
        "tier": tier or "",
    }
    if "expiry_date" in names:
        expires = session.scalar(
            select(func.min(PointLot.expires_at)).where(
                PointLot.member_id == member_id,
                PointLot.remaining > 0,
                PointLot.expires_at.is_not(None),
            )
        )
        if expires is not None:
            zone = segments.merchant_zone(Merchant(timezone=tz))
            values["expiry_date"] = f"{expires.astimezone(zone):%-d %b %Y}"
    if "shop" in names:
        values["shop"] = (
            session.scalar(
                select(Shop.name)
                .join(LoyaltyTransaction, LoyaltyTransaction.shop_id == Shop.id)
                .where(LoyaltyTransaction.member_id == member_id)
                .order_by(LoyaltyTransaction.created_at.desc(), LoyaltyTransaction.id.desc())
                .limit(1)
            )
            or ""
        )
    if "reward" in names and with_reward:
        if kind == ProgramKind.STAMPS:
            values["reward"] = card_reward or ""  # what the card earns, not what stamps buy
        else:
            values["reward"] = (
                session.scalar(
                    select(Reward.name)
                    .where(
                        Reward.merchant_id == merchant_id,
                        Reward.active.is_(True),
                        Reward.points_cost <= points,
                    )
                    .order_by(Reward.points_cost.desc(), Reward.id)
                    .limit(1)
                )
                or ""
            )
    return values


def _grant_bonus(session: Session, campaign: Campaign, member_id: int, now: datetime) -> bool:
    key = f"campaign:{campaign.id}:{member_id}"
    program_id = session.scalar(
        select(LoyaltyMember.program_id).where(LoyaltyMember.id == member_id)
    )
    if program_id is None or ledger.find_replay(
        session, program_id=program_id, idempotency_key=key
    ):
        return False
    member = ledger.lock_member(session, member_id)
    try:
        ledger.ensure_active(member)
    except LoyaltyError:
        return False
    program = session.get(LoyaltyProgram, program_id)
    assert program is not None
    ledger.credit(
        session,
        member=member,
        type=TransactionType.BONUS,
        points=campaign.bonus_points,
        now=now,
        idempotency_key=key,
        actor=Actor.system(f"campaign {campaign.id}"),
        expires_at=ledger.lot_expiry(program, now),
        description=f"Campaign: {campaign.name}"[:300],
        reference_type="campaign",
        reference_id=str(campaign.id),
    )
    return True


def _issue_voucher(
    session: Session, campaign: Campaign, member_id: int, now: datetime
) -> Voucher | None:
    reward = session.get(Reward, campaign.reward_id) if campaign.reward_id else None
    if reward is None or not reward.active:
        return None
    voucher = Voucher(
        merchant_id=campaign.merchant_id,
        member_id=member_id,
        reward_id=reward.id,
        code=new_voucher_code(session, campaign.merchant_id),
        points_spent=0,
        valid_until=now + timedelta(days=reward.validity_days),
        created_at=now,
    )
    session.add(voucher)
    session.flush()
    events.emit(
        session,
        merchant_id=campaign.merchant_id,
        type="voucher.issued",
        data=lambda: {
            "member": events.member_ref(session.get(LoyaltyMember, member_id)),
            "voucher": events.voucher_ref(voucher),
            "campaign_id": campaign.id,
        },
    )
    return voucher


def prepare_message(
    session: Session,
    message: OutboxMessage,
    now: datetime,
    *,
    known: Mapping[int, Any] | None = None,
) -> Prepared:
    """Called by the delivery loop for a claimed campaign message, just before sending it.

    `known`: `member_rows` for the loop's chunk, so the basic values cost no query here.
    """
    campaign = session.get(Campaign, message.campaign_id)
    if campaign is None or campaign.status == CampaignStatus.CANCELLED:
        message.status = OutboxStatus.SKIPPED
        message.last_error = CANCELLED_NOTE
        return Prepared(send=False)
    if campaign.status == CampaignStatus.PAUSED:
        message.status = OutboxStatus.QUEUED
        message.attempts -= 1  # waiting is not a failed attempt
        message.next_attempt_at = HELD_UNTIL
        message.last_error = PAUSED_NOTE
        return Prepared(send=False)
    payload = dict(message.payload or {})
    wrote = False
    if campaign.bonus_points and message.member_id is not None:
        wrote = _grant_bonus(session, campaign, message.member_id, now)
    reward_text = ""
    if campaign.reward_id and message.member_id is not None:
        if not payload.get("voucher_code"):
            voucher = _issue_voucher(session, campaign, message.member_id, now)
            if voucher is not None:
                payload["voucher_code"] = voucher.code
                payload["reward_name"] = voucher.reward.name if voucher.reward else ""
                wrote = True
        if payload.get("voucher_code"):
            code = payload["voucher_code"]
            reward_text = (
                f"{payload.get('reward_name', '')} (voucher {code[:4]}-{code[4:]})".strip()
            )
    template = template_for(campaign, message.channel)
    names = set(campaign_texts.placeholders_in(template))
    if message.channel == OutboxChannel.EMAIL:
        names |= set(campaign_texts.placeholders_in(campaign.subject))
    values = (
        member_values(
            session,
            member_id=message.member_id,
            merchant_id=campaign.merchant_id,
            names=names,
            with_reward=campaign.reward_id is None,
            row=(known or {}).get(message.member_id),
        )
        if message.member_id is not None
        else {}
    )
    if reward_text:
        values["reward"] = reward_text
    text = campaign_texts.render(template, values)
    if reward_text and "reward" not in names:
        text += f"\n{reward_text}"
    payload["text"] = text
    if message.channel == OutboxChannel.EMAIL:
        payload["subject"] = campaign_texts.render(campaign.subject, values)
    if wrote:
        message.payload = payload  # the voucher's code is kept with the voucher
        session.flush()
    else:  # stored with the send's outcome (`write_outcomes`), not by a flush of its own
        set_committed_value(message, "payload", payload)
    return Prepared(send=True, wrote_ledger=wrote)


# --- preview and test send ------------------------------------------------------------------


def preview(template: str, channel: str, subject: str = "") -> dict[str, Any]:
    """The template with sample values, its length and (for SMS) its segment count."""
    text = campaign_texts.render(template, campaign_texts.SAMPLE)
    shown: dict[str, Any] = {"channel": channel, "text": text, "characters": len(text)}
    if channel == OutboxChannel.SMS.value:
        length = campaign_texts.sms_length(text)
        shown.update(
            encoding=length.encoding, segments=length.segments, characters=length.characters
        )
    if channel == OutboxChannel.EMAIL.value:
        shown["subject"] = campaign_texts.render(subject, campaign_texts.SAMPLE)
    return shown


def send_test(
    session: Session,
    *,
    campaign: Campaign,
    channel: str,
    address: str,
    merchant: Merchant,
) -> OutboxMessage:
    """Queue the campaign's message with sample values to the person writing it."""
    require_campaigns(merchant)
    if campaign.merchant_id != merchant.id:
        raise InvalidInput("That campaign does not exist.")
    if channel == OutboxChannel.EMAIL.value:
        offerings.require(merchant, Feature.EMAIL_CAMPAIGNS)
        try:
            address = normalize_email(address)
        except InvalidInput:
            raise InvalidInput("Enter your e-mail address.", field="address") from None
    elif channel == OutboxChannel.SMS.value:
        try:
            address = normalize_phone(address, merchant.default_country)
        except InvalidInput:
            raise InvalidInput(
                "Enter your mobile number with its country code, e.g. +352 621 123 456.",
                field="address",
            ) from None
    else:
        raise InvalidInput("Test sends go by e-mail or SMS.", field="channel")
    template = template_for(campaign, channel)
    if not template:
        raise InvalidInput("The campaign has no message yet.", field="message")
    shown = preview(template, channel, campaign.subject)
    payload = {"text": "[Test] " + shown["text"]}
    if channel == OutboxChannel.EMAIL.value:
        payload["subject"] = "[Test] " + (shown.get("subject") or campaign.name)
    return outbox.enqueue(
        session,
        merchant_id=merchant.id,
        channel=OutboxChannel(channel),
        template=TEST_TEMPLATE,
        address=address,
        payload=payload,
    )


# --- the campaigns-due job ------------------------------------------------------------------


def _make_run(session: Session, parent: Campaign, occurrence: datetime) -> Campaign | None:
    """The run of a recurring campaign for one occurrence; None if another worker made it."""
    zone = segments.merchant_zone(_merchant(session, parent))
    run = Campaign(
        merchant_id=parent.merchant_id,
        name=f"{parent.name} · {occurrence.astimezone(zone):%Y-%m-%d %H:%M}"[:120],
        segment_id=parent.segment_id,
        channels=list(parent.channels),
        templates=dict(parent.templates),
        subject=parent.subject,
        bonus_points=parent.bonus_points,
        reward_id=parent.reward_id,
        schedule=CampaignSchedule.NOW,
        frequency_cap_days=parent.frequency_cap_days,
        parent_id=parent.id,
        scheduled_for=occurrence,
        created_by=parent.created_by,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:  # unique (parent_id, scheduled_for): already made
        return None
    return run


def run_due(session: Session, *, now: datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Start what is due, re-arm recurring campaigns, complete finished runs. Safe to run on
    several workers at once: due rows are claimed with SKIP LOCKED (PostgreSQL) or under
    SQLite's write lock, each claim is a conditional UPDATE, and a run is unique per occurrence.
    """
    now = now or utcnow()
    counts = {"started": 0, "runs": 0, "failed": 0, "completed": 0, "queued": 0}
    due = (
        select(Campaign.id, Campaign.next_run_at)
        .where(
            Campaign.status == CampaignStatus.SCHEDULED,
            Campaign.next_run_at <= now,
            # A suspended merchant's campaigns stay scheduled and start once it is reactivated.
            merchant_not_suspended(Campaign.merchant_id),
        )
        .order_by(Campaign.next_run_at, Campaign.id)
        .limit(limit)
    )
    if is_postgres(session):
        due = due.with_for_update(skip_locked=True)
    for campaign_id, occurrence in session.execute(due).all():
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        try:
            with session.begin_nested():
                if campaign.schedule == CampaignSchedule.RECURRING:
                    campaign.next_run_at = next_occurrence(session, campaign, now)
                    run = _make_run(session, campaign, occurrence)
                    if run is not None:
                        counts["queued"] += start(session, run, now=now)
                        counts["runs"] += 1
                else:
                    counts["queued"] += start(session, campaign, now=now)
                    counts["started"] += 1
        except LoyaltyError as error:
            # A downgraded offering or a deleted reward: say why on the campaign, keep going.
            session.expire(campaign)
            campaign.last_error = f"Not sent on {now:%Y-%m-%d %H:%M} UTC: {error.message}"
            if campaign.schedule == CampaignSchedule.RECURRING:
                campaign.next_run_at = next_occurrence(session, campaign, now)
            else:
                campaign.status = CampaignStatus.DRAFT
                campaign.next_run_at = None
            counts["failed"] += 1
            session.flush()
    running = session.scalars(
        select(Campaign).where(Campaign.status == CampaignStatus.RUNNING).order_by(Campaign.id)
    ).all()
    for campaign in running:
        if finish_if_done(session, campaign, now=now):
            counts["completed"] += 1
    return counts
