"""A member's own way in: signed, expiring, single-use sign-in links, and what their card page shows.

A link token is signed with the app's SECRET_KEY (itsdangerous) so a changed character is
refused without a query; the database keeps only its SHA-256 with the expiry and the moment it
was used, which makes the link single-use and lets erasure or a new card revoke it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, InvalidToken, MemberNotActive
from loyalty.identity import normalize_email, normalize_phone
from loyalty.models import (
    Customer,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberStatus,
    OutboxChannel,
    OutboxMessage,
    PointLot,
    Role,
    TransactionType,
)
from loyalty.models.access import MemberAccessToken
from loyalty.notify import outbox
from loyalty.services import audit, stamps
from loyalty.services.actors import Actor
from loyalty.services.expiry import months_before
from loyalty.services.tiers import QUALIFYING_TYPES, REFUND_REFERENCE

SALT = "member-access"
# A welcome e-mail is read days later; a link asked for now is used now.
WELCOME_TTL = timedelta(days=14)
SIGN_IN_TTL = timedelta(hours=1)
# However many addresses ask, one member gets at most one new link a minute (no mail-bombing).
RESEND_INTERVAL = timedelta(seconds=60)
EXPIRING_WITHIN = timedelta(days=30)

NOT_VALID = (
    "This sign-in link is not valid: it may have been cut short or changed. "
    "Ask for a new link below."
)
LinkUrl = Callable[[LoyaltyProgram, str], str]


def _serializer(secret_key: bytes | str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- issuing and opening links --------------------------------------------------------------


def issue_link(
    session: Session,
    *,
    member: LoyaltyMember,
    secret_key: bytes | str,
    purpose: str = "sign_in",
    ttl: timedelta = SIGN_IN_TTL,
    now: datetime | None = None,
) -> str:
    """A new single-use token for `member`; put it in a link, it is not stored in clear."""
    now = now or utcnow()
    token = _serializer(secret_key).dumps([member.id, secrets.token_urlsafe(12)])
    session.add(
        MemberAccessToken(
            merchant_id=member.merchant_id,
            member_id=member.id,
            token_hash=_hash(token),
            purpose=purpose,
            expires_at=now + ttl,
            created_at=now,
        )
    )
    session.flush()
    return token


def _local_day(moment: datetime) -> str:
    return moment.strftime("%d %b %Y at %H:%M UTC")


def check_link(
    session: Session,
    *,
    program: LoyaltyProgram,
    token: str,
    secret_key: bytes | str,
    now: datetime | None = None,
) -> tuple[MemberAccessToken, LoyaltyMember]:
    """The token's row and member if the link may open this programme's page; InvalidToken if not.

    Each refusal names its reason (`details["reason"]`): not_valid, other_programme, used,
    expired, closed. Nothing is changed: `open_link` uses the link up.
    """
    now = now or utcnow()
    try:
        member_id, _nonce = _serializer(secret_key).loads(token or "")
    except (BadSignature, ValueError, TypeError):
        raise InvalidToken(NOT_VALID, reason="not_valid") from None
    row = session.scalars(
        select(MemberAccessToken).where(MemberAccessToken.token_hash == _hash(token))
    ).one_or_none()
    if row is None or row.member_id != member_id:
        raise InvalidToken(NOT_VALID, reason="not_valid")
    member = session.get(LoyaltyMember, row.member_id)
    if member is None or member.program_id != program.id:
        # Said without naming the other programme: the link's owner is no business of this page.
        raise InvalidToken(
            f"This sign-in link is not for {program.name}. Open it from the message it came in, "
            "or ask for a link below.",
            reason="other_programme",
        )
    if row.used_at is not None:
        raise InvalidToken(
            "This sign-in link was already used: each link opens your card once. "
            "Ask for a new link below.",
            reason="used",
        )
    if row.expires_at <= now:
        raise InvalidToken(
            f"This sign-in link expired on {_local_day(row.expires_at)}. Ask for a new link below.",
            reason="expired",
        )
    if member.status == MemberStatus.CLOSED or member.customer.erased_at is not None:
        raise InvalidToken("This card has been closed.", reason="closed")
    return row, member


def open_link(
    session: Session,
    *,
    program: LoyaltyProgram,
    token: str,
    secret_key: bytes | str,
    now: datetime | None = None,
) -> LoyaltyMember:
    """Use the link up and return its member. Of two concurrent uses exactly one succeeds."""
    now = now or utcnow()
    row, member = check_link(session, program=program, token=token, secret_key=secret_key, now=now)
    claimed = session.execute(
        update(MemberAccessToken)
        .where(MemberAccessToken.id == row.id, MemberAccessToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise InvalidToken(
            "This sign-in link was already used: each link opens your card once. "
            "Ask for a new link below.",
            reason="used",
        )
    session.expire(row, ["used_at"])
    return member


# --- sending links --------------------------------------------------------------------------


def find_by_contact(
    session: Session, *, program: LoyaltyProgram, contact: str
) -> tuple[LoyaltyMember | None, OutboxChannel, str]:
    """The programme's open card for an e-mail or phone, with the channel and normalised address.

    Bad input raises InvalidInput; an unknown address is (None, channel, address).
    """
    contact = (contact or "").strip()
    if not contact:
        raise InvalidInput(
            "Enter the e-mail address or phone number you joined with.", field="contact"
        )
    if "@" in contact:
        channel, address = OutboxChannel.EMAIL, normalize_email(contact)
        condition = Customer.email == address
    else:
        channel = OutboxChannel.SMS
        address = normalize_phone(contact, program.merchant.default_country)
        condition = Customer.phone == address
    member = session.scalars(
        select(LoyaltyMember)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(
            LoyaltyMember.program_id == program.id,
            LoyaltyMember.status != MemberStatus.CLOSED,
            Customer.erased_at.is_(None),
            condition,
        )
    ).first()
    return member, channel, address


def send_sign_in_link(
    session: Session,
    *,
    program: LoyaltyProgram,
    contact: str,
    secret_key: bytes | str,
    link_url: LinkUrl,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Queue a sign-in link to the member with this e-mail or phone, if there is one.

    The caller answers the same whether or not a message was queued: the page must not tell a
    stranger who is a member.
    """
    now = now or utcnow()
    member, channel, address = find_by_contact(session, program=program, contact=contact)
    if member is None:
        return None
    recent = session.scalar(
        select(func.count(MemberAccessToken.id)).where(
            MemberAccessToken.member_id == member.id,
            MemberAccessToken.purpose == "sign_in",
            MemberAccessToken.created_at > now - RESEND_INTERVAL,
        )
    )
    if recent:
        return None
    token = issue_link(session, member=member, secret_key=secret_key, now=now)
    expires_at = now + SIGN_IN_TTL
    return outbox.enqueue(
        session,
        merchant_id=member.merchant_id,
        member_id=member.id,
        channel=channel,
        template="sign_in_link",
        address=address,
        payload={
            "name": member.customer.name,
            "program": program.name,
            "language": member.customer.language,
            "link": link_url(program, token),
            "expires_at": expires_at.isoformat(),
            "valid_minutes": int(SIGN_IN_TTL.total_seconds() // 60),
        },
    )


def complete_welcome(
    session: Session,
    *,
    member: LoyaltyMember,
    secret_key: bytes | str,
    link_url: LinkUrl,
    links: dict[str, str],
    now: datetime | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage | None:
    """Add the member page link and the card links to the queued welcome message.

    `enroll` queues the welcome with what the core knows; URLs are the web's business, so the
    web adds them before its commit. A message already on its way is left alone.
    `dedupe_key` names a resent welcome (`resend_welcome`) instead of the first one.
    """
    message = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.merchant_id == member.merchant_id,
            OutboxMessage.dedupe_key == (dedupe_key or f"welcome:{member.id}"),
        )
    ).one_or_none()
    if message is None or message.payload.get("links"):
        return message
    token = issue_link(
        session, member=member, secret_key=secret_key, purpose="welcome", ttl=WELCOME_TTL, now=now
    )
    message.payload = {
        **message.payload,
        "member_id": member.id,
        "links": {**links, "member_page": link_url(member.program, token)},
        "link_valid_days": WELCOME_TTL.days,
    }
    session.flush()
    return message


def resend_welcome(
    session: Session, *, member: LoyaltyMember, actor: Actor, now: datetime | None = None
) -> OutboxMessage:
    """Queue the welcome message again, from the back-office; one per member and minute.

    It goes to the e-mail address if there is one, else by SMS, through the outbox like every
    message (opt-outs and quiet hours apply at send time). The web adds the links with
    `complete_welcome(..., dedupe_key=message.dedupe_key)`.
    """
    actor.require_role(Role.MANAGER, "resend the welcome message")
    customer = member.customer
    if member.status == MemberStatus.CLOSED or customer.erased_at is not None:
        raise MemberNotActive("This card is closed: no message can go to its holder.")
    if not customer.email and not customer.phone:
        raise InvalidInput(
            "This member has no e-mail address or phone number to send the welcome to.",
            field="channel",
        )
    now = now or utcnow()
    message = outbox.enqueue(
        session,
        merchant_id=member.merchant_id,
        member_id=member.id,
        channel=OutboxChannel.EMAIL if customer.email else OutboxChannel.SMS,
        template="welcome",
        address=customer.email or customer.phone or "",
        payload={
            "name": customer.name,
            "card_number": member.card_number,
            "program": member.program.name,
            "signup_bonus": 0,  # the bonus was for joining; a resend does not promise it again
            "unit": stamps.unit_of(member.program),
            "language": customer.language,
        },
        dedupe_key=f"welcome:{member.id}:resent:{now:%Y%m%d%H%M}",
    )
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action="member.welcome_resent",
        target_type="member",
        target_id=member.id,
        channel=message.channel.value,
    )
    session.flush()
    return message


# --- what the member page shows ------------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    current: LoyaltyTier | None
    next: LoyaltyTier | None
    qualifying_points: int  # towards `next`, counted the way `next` qualifies
    points_to_next: int
    percent: int  # 0-100 of the way from the current tier to the next


@dataclass(frozen=True)
class ExpiringPoints:
    expires_at: datetime
    points: int


def _qualifying(session: Session, member: LoyaltyMember, tier: LoyaltyTier, now: datetime) -> int:
    if tier.qualification_window_days is None:
        return member.lifetime_points
    since = now - timedelta(days=tier.qualification_window_days)
    return int(
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyTransaction.points), 0)).where(
                LoyaltyTransaction.member_id == member.id,
                or_(
                    LoyaltyTransaction.type.in_(QUALIFYING_TYPES),
                    (LoyaltyTransaction.type == TransactionType.REVERSE)
                    & (LoyaltyTransaction.reference_type == REFUND_REFERENCE),
                ),
                LoyaltyTransaction.created_at >= since,
            )
        )
        or 0
    )


def tier_progress(
    session: Session, *, member: LoyaltyMember, now: datetime | None = None
) -> TierProgress:
    now = now or utcnow()
    tiers = sorted(member.program.tiers, key=lambda t: (t.min_points, t.sort_order, t.id))
    current = member.tier
    floor = current.min_points if current is not None else 0
    higher = [
        t for t in tiers if t.min_points > floor and t.id != (current.id if current else None)
    ]
    if not higher:
        return TierProgress(current, None, 0, 0, 100)
    target = higher[0]
    points = max(_qualifying(session, member, target, now), 0)
    span = max(target.min_points - floor, 1)
    percent = min(max((points - floor) * 100 // span, 0), 100)
    return TierProgress(current, target, points, max(target.min_points - points, 0), percent)


def expiring_points(
    session: Session,
    *,
    member: LoyaltyMember,
    now: datetime | None = None,
    within: timedelta = EXPIRING_WITHIN,
) -> list[ExpiringPoints]:
    """Points that expire in the coming weeks, by date, as the expiry job will take them."""
    now = now or utcnow()
    by_date: dict[datetime, int] = {}
    spendable = (PointLot.member_id == member.id) & (PointLot.remaining > 0)
    spendable = spendable & PointLot.available_at.is_(None)
    # Lots earned under an inactivity rule go N months after the last visit, unless a date
    # comes first.
    by_rule = session.execute(
        select(PointLot.inactivity_months, func.sum(PointLot.remaining))
        .where(spendable, PointLot.inactivity_months.is_not(None))
        .group_by(PointLot.inactivity_months)
    ).all()
    for months, points in by_rule:
        deadline = months_before(member.last_activity_at, -months)
        if deadline <= now + within:
            by_date[deadline] = by_date.get(deadline, 0) + int(points)
    rows = session.execute(
        select(PointLot.expires_at, func.sum(PointLot.remaining))
        .where(
            spendable,
            PointLot.inactivity_months.is_(None),
            PointLot.expires_at.is_not(None),
            PointLot.expires_at <= now + within,
        )
        .group_by(PointLot.expires_at)
    ).all()
    for at, points in rows:
        by_date[at] = by_date.get(at, 0) + int(points)
    return [ExpiringPoints(at, points) for at, points in sorted(by_date.items())]


def next_expiry(
    session: Session, *, member: LoyaltyMember, now: datetime | None = None
) -> ExpiringPoints | None:
    """The next date on which some of the member's points expire, and how many, however far."""
    upcoming = expiring_points(session, member=member, now=now, within=timedelta(days=365 * 100))
    return upcoming[0] if upcoming else None


def history(
    session: Session, *, member: LoyaltyMember, limit: int = 20
) -> list[LoyaltyTransaction]:
    return list(
        session.scalars(
            select(LoyaltyTransaction)
            .where(LoyaltyTransaction.member_id == member.id)
            .order_by(LoyaltyTransaction.created_at.desc(), LoyaltyTransaction.id.desc())
            .limit(limit)
        )
    )
