"""Setting up a tenant: the merchant, its programme, its shops and the people who work there."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import idna
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import InvalidInput, PermissionDenied
from loyalty.identity import normalize_email
from loyalty.models import (
    CUSTOM_REWARD_TYPES,
    ApiKey,
    AuditLog,
    Campaign,
    CampaignStatus,
    LoyaltyProgram,
    LoyaltyTier,
    Membership,
    Merchant,
    MerchantStatus,
    Offering,
    Reward,
    Role,
    Segment,
    Shop,
    User,
    WebhookEndpoint,
)
from loyalty.passwords import MIN_LENGTH, hash_password
from loyalty.services import audit
from loyalty.services.actors import Actor


def slugify(text: str) -> str:
    from loyalty.identity import search_key

    slug = re.sub(r"[^a-z0-9]+", "-", search_key(text)).strip("-")
    return slug[:50] or "merchant"


def _bounded(value: str | None, *, limit: int, what: str, field: str) -> str:
    """Stripped text that fits its column: PostgreSQL would refuse a longer one with an error."""
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{what} can have at most {limit} characters.", field=field)
    return value


def _timezone(name: str) -> str:
    """Checked at creation: an unknown zone would only fail later, at the till."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"'{name}' is not a time zone. Use a name like Europe/Luxembourg.", field="timezone"
        ) from None
    return name


def _unique_slug(session: Session, model: type, base: str) -> str:
    slug, n = base, 1
    while session.scalar(select(model.id).where(model.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_merchant(
    session: Session,
    *,
    name: str,
    offering: Offering = Offering.BASIC,
    program_name: str | None = None,
    points_per_euro: Decimal = Decimal("1"),
    default_country: str = "LU",
    timezone: str = "Europe/Luxembourg",
) -> Merchant:
    """A merchant always comes with its programme, so every surface can rely on one existing."""
    name = _bounded(name, limit=120, what="A business name", field="name")
    if not name:
        raise InvalidInput("Give the business a name.", field="name")
    program_name = _bounded(program_name, limit=120, what="A programme name", field="program_name")
    timezone = _timezone(timezone)
    merchant = Merchant(
        name=name,
        slug=_unique_slug(session, Merchant, slugify(name)),
        offering=offering,
        default_country=default_country,
        timezone=timezone,
        branding={},
    )
    session.add(merchant)
    session.flush()
    program = LoyaltyProgram(
        merchant_id=merchant.id,
        name=program_name or f"{name[:112]} Rewards",
        slug=merchant.slug,
        join_code=_new_join_code(session),
        points_per_euro=points_per_euro,
        category_multipliers={},
        settings={},
    )
    session.add(program)
    session.flush()
    return merchant


def _new_join_code(session: Session) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(6))
        if (
            session.scalar(select(LoyaltyProgram.id).where(LoyaltyProgram.join_code == code))
            is None
        ):
            return code


def program_of(session: Session, merchant: Merchant) -> LoyaltyProgram:
    return session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.merchant_id == merchant.id)
    ).one()


def create_shop(
    session: Session,
    *,
    merchant: Merchant,
    name: str,
    address: str = "",
    timezone: str | None = None,
) -> Shop:
    name = _bounded(name, limit=120, what="A shop name", field="name")
    if not name:
        raise InvalidInput("Give the shop a name.", field="name")
    address = _bounded(address, limit=300, what="An address", field="address")
    # Lock the merchant row so two managers adding shops at once cannot pass the limit together.
    session.execute(select(Merchant.id).where(Merchant.id == merchant.id).with_for_update())
    # Closed shops keep their history but not their place in the offering's limit.
    count = session.scalar(
        select(func.count(Shop.id)).where(Shop.merchant_id == merchant.id, Shop.active.is_(True))
    )
    offerings.require_shop_capacity(merchant, count or 0)
    shop = Shop(
        merchant_id=merchant.id,
        name=name,
        address=address,
        timezone=_timezone(timezone) if timezone else merchant.timezone,
    )
    session.add(shop)
    session.flush()
    return shop


def create_user(
    session: Session, *, email: str, password: str, name: str = "", platform_admin: bool = False
) -> User:
    email = normalize_email(email)
    name = _bounded(name, limit=120, what="A name", field="name")
    if len(password or "") < MIN_LENGTH:
        raise InvalidInput(
            f"Choose a password of at least {MIN_LENGTH} characters.", field="password"
        )
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise InvalidInput(
            f"An account with {email} already exists. Sign in instead.", field="email"
        )
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(password),
        is_platform_admin=platform_admin,
    )
    session.add(user)
    session.flush()
    return user


def add_membership(
    session: Session, *, user: User, merchant: Merchant, role: Role, shop: Shop | None = None
) -> Membership:
    if shop is not None and shop.merchant_id != merchant.id:
        raise InvalidInput("That shop belongs to another business.", field="shop")
    membership = Membership(
        user_id=user.id, merchant_id=merchant.id, role=role, shop_id=shop.id if shop else None
    )
    session.add(membership)
    session.flush()
    return membership


# --- the merchant's own web address (Enterprise white-label) ----------------------------------

_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def set_custom_domain(
    session: Session,
    *,
    merchant: Merchant,
    domain: str | None,
    actor: Actor,
    platform_url: str,
) -> Merchant:
    """Serve the merchant's public pages on `domain` too (None or blank: stop using one).

    `platform_url` is the platform's own public address (PUBLIC_BASE_URL): its host, and any
    name under it, can never become a merchant's. The name is stored as its ASCII (IDNA)
    form, lower-cased, since that is what browsers send in the Host header. Clearing is
    allowed on any offering, so a downgraded merchant can still tidy up.
    """
    if actor.role is not None:
        actor.require_role(Role.OWNER, "change the programme's web address")
    previous = merchant.custom_domain
    host = _custom_domain(domain, platform_url=platform_url) if domain else None
    if host is not None:
        offerings.require(merchant, offerings.Feature.WHITE_LABEL)
        taken = session.scalar(
            select(Merchant.id).where(Merchant.custom_domain == host, Merchant.id != merchant.id)
        )
        if taken is not None:
            raise InvalidInput(_domain_taken(host), field="custom_domain")
    if host == previous:
        return merchant
    merchant.custom_domain = host
    try:
        with session.begin_nested():  # two merchants claiming one name at once: one wins
            session.flush()
    except IntegrityError:
        raise InvalidInput(_domain_taken(host or ""), field="custom_domain") from None
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="merchant.custom_domain_set" if host else "merchant.custom_domain_cleared",
        target_type="merchant",
        target_id=merchant.id,
        previous=previous,
        domain=host,
    )
    return merchant


def _domain_taken(host: str) -> str:
    # Never say who holds it: that would tell one merchant about another.
    return (
        f"{host} is already in use on this platform. Check the spelling; if the domain is "
        "yours, contact support."
    )


def _custom_domain(raw: str, *, platform_url: str) -> str | None:
    """`raw` as a bare, lower-case ASCII host name, or InvalidInput saying what to fix."""
    text = raw.strip()
    if not text:
        return None
    if "://" in text or "/" in text or "?" in text or "#" in text or "@" in text:
        raise InvalidInput(
            f"'{text}' is not a bare domain. Give only the host name, like rewards.example.com, "
            "without http://, a path or a query.",
            field="custom_domain",
        )
    if ":" in text:
        raise InvalidInput(
            f"'{text}' has a port. Give only the host name, like rewards.example.com: the "
            "pages are served on the standard HTTPS port.",
            field="custom_domain",
        )
    text = text.rstrip(".")  # a fully qualified name's final dot names the same host
    try:
        host = idna.encode(text, uts46=True, std3_rules=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        raise InvalidInput(
            f"'{text}' is not a valid domain name. Use letters, digits and hyphens between "
            "dots, like rewards.example.com.",
            field="custom_domain",
        ) from None
    labels = host.split(".")
    if (
        len(host) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()  # an IP address, not a name
    ):
        raise InvalidInput(
            f"'{text}' is not a full domain name. Give one like rewards.example.com.",
            field="custom_domain",
        )
    platform = (urlsplit(platform_url).hostname or "").lower().rstrip(".")
    if platform and (host == platform or host.endswith("." + platform)):
        raise InvalidInput(
            f"{host} belongs to the platform itself. Use a domain your business owns.",
            field="custom_domain",
        )
    return host


# --- the platform operator's levers: offering and suspension ----------------------------------

_OFFERING_RANK = {Offering.BASIC: 0, Offering.PLUS: 1, Offering.ENTERPRISE: 2}
OFFERING_CHANGED = "merchant.offering_changed"
# How long the back-office keeps telling a merchant what a downgrade switched off.
OFFERING_NOTICE_DAYS = 30


@dataclass(frozen=True)
class OfferingChange:
    """What changing a merchant's offering did: features gained and lost, what is now over a limit.

    Nothing is deleted by a downgrade: `over_limit` lists what is kept but no longer used or
    no longer extendable, in sentences the merchant can read.
    """

    merchant_id: int
    previous: Offering
    offering: Offering
    gained: tuple[offerings.Feature, ...]
    lost: tuple[offerings.Feature, ...]
    over_limit: tuple[str, ...] = ()
    at: datetime | None = None

    @property
    def is_upgrade(self) -> bool:
        return _OFFERING_RANK[self.offering] > _OFFERING_RANK[self.previous]

    @property
    def is_downgrade(self) -> bool:
        return _OFFERING_RANK[self.offering] < _OFFERING_RANK[self.previous]

    @property
    def gained_labels(self) -> list[str]:
        return [offerings.FEATURE_LABELS[feature] for feature in self.gained]

    @property
    def lost_labels(self) -> list[str]:
        return [offerings.FEATURE_LABELS[feature] for feature in self.lost]

    def audit_details(self) -> dict[str, object]:
        return {
            "previous": self.previous.value,
            "offering": self.offering.value,
            "gained": [feature.value for feature in self.gained],
            "lost": [feature.value for feature in self.lost],
            "over_limit": list(self.over_limit),
        }

    @classmethod
    def from_audit(cls, entry: AuditLog) -> OfferingChange:
        details = entry.details or {}
        known = {feature.value: feature for feature in offerings.Feature}
        return cls(
            merchant_id=entry.merchant_id or 0,
            previous=Offering(details["previous"]),
            offering=Offering(details["offering"]),
            gained=tuple(known[name] for name in details.get("gained", []) if name in known),
            lost=tuple(known[name] for name in details.get("lost", []) if name in known),
            over_limit=tuple(details.get("over_limit", [])),
            at=entry.created_at,
        )


def _require_operator(actor: Actor, doing: str) -> None:
    if not actor.platform_admin:
        raise PermissionDenied(
            f"Only the platform operator can {doing}. Owners and managers cannot; contact support."
        )


def _over_limit(
    session: Session, merchant: Merchant, plan: offerings.Plan, lost: set[offerings.Feature]
) -> list[str]:
    """What the merchant keeps that `plan` would not let them create or use."""
    notes = []
    # Open shops, as the limit counts them at creation (loyalty.services.shops).
    shop_count = session.scalar(
        select(func.count(Shop.id)).where(Shop.merchant_id == merchant.id, Shop.active.is_(True))
    )
    if plan.max_shops is not None and (shop_count or 0) > plan.max_shops:
        notes.append(
            f"{shop_count} open shops, while {plan.label} includes {plan.max_shops}: they all "
            "keep working, but no shop can be added or reopened."
        )
    if offerings.Feature.TIERS in lost:
        tiers = session.scalar(
            select(func.count(LoyaltyTier.id)).where(LoyaltyTier.merchant_id == merchant.id)
        )
        if tiers:
            notes.append(
                f"{tiers} membership tier{'s' if tiers != 1 else ''} kept but not applied: "
                "no tier multipliers or tier pages until an upgrade."
            )
    if offerings.Feature.CUSTOM_REWARDS in lost:
        custom = session.scalar(
            select(func.count(Reward.id)).where(
                Reward.merchant_id == merchant.id,
                Reward.active.is_(True),
                Reward.type.in_(CUSTOM_REWARD_TYPES),
            )
        )
        if custom:
            notes.append(
                f"{custom} custom reward{'s' if custom != 1 else ''} kept but hidden from "
                "members: only discount rewards can be redeemed."
            )
    notes += _kept_but_stopped(session, merchant, lost)
    if offerings.Feature.WHITE_LABEL in lost and merchant.custom_domain:
        notes.append(
            f"The custom domain {merchant.custom_domain} is kept but no longer serves the "
            "programme's pages."
        )
    return notes


def _kept_but_stopped(
    session: Session, merchant: Merchant, lost: set[offerings.Feature]
) -> list[str]:
    """API keys, webhooks, segments and live campaigns that the lost features stop."""
    live = [CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED]
    checks = [
        (offerings.Feature.API_ACCESS, ApiKey, [ApiKey.revoked_at.is_(None)],
         "API key", "kept but refused by the API"),
        (offerings.Feature.WEBHOOKS, WebhookEndpoint, [WebhookEndpoint.disabled_at.is_(None)],
         "webhook endpoint", "kept but sent no events"),
        (offerings.Feature.SEGMENTATION, Segment, [], "segment", "kept but not usable"),
        (offerings.Feature.EMAIL_CAMPAIGNS, Campaign, [Campaign.status.in_(live)],
         "scheduled or running campaign", "kept but not sent"),
    ]  # fmt: skip
    notes = []
    for feature, model, conditions, noun, what in checks:
        if feature not in lost:
            continue
        total = session.scalar(
            select(func.count(model.id)).where(model.merchant_id == merchant.id, *conditions)
        )
        if total:
            notes.append(f"{total} {noun}{'s' if total != 1 else ''} {what}.")
    return notes


def _target_offering(offering: Offering | str) -> Offering:
    try:
        return Offering(offering)
    except ValueError:
        names = ", ".join(plan.label for plan in offerings.PLANS.values())
        raise InvalidInput(
            f"'{offering}' is not an offering. Choose {names}.", field="offering"
        ) from None


def preview_offering_change(
    session: Session, *, merchant: Merchant, offering: Offering | str
) -> OfferingChange:
    """What `change_offering` would do, without doing it: for the confirmation page."""
    target = _target_offering(offering)
    previous = Offering(merchant.offering)
    before = offerings.PLANS[previous].features
    after = offerings.PLANS[target].features
    lost = tuple(feature for feature in offerings.Feature if feature in before - after)
    return OfferingChange(
        merchant_id=merchant.id,
        previous=previous,
        offering=target,
        gained=tuple(feature for feature in offerings.Feature if feature in after - before),
        lost=lost,
        over_limit=tuple(
            _over_limit(session, merchant, offerings.PLANS[target], set(lost))
            if target != previous
            else ()
        ),
    )


def change_offering(
    session: Session, *, merchant: Merchant, offering: Offering | str, actor: Actor
) -> OfferingChange:
    """Move a merchant to another offering, at once. Only the platform operator may.

    An upgrade's features work from the next request. A downgrade deletes nothing: gated
    features stop (every service asks `offerings.require` with the merchant's current
    offering), and what is now over a limit is listed for the operator and the merchant.
    """
    _require_operator(actor, "change a business's offering")
    # Lock the merchant row: two operators changing it at once must not interleave.
    session.execute(select(Merchant.id).where(Merchant.id == merchant.id).with_for_update())
    change = preview_offering_change(session, merchant=merchant, offering=offering)
    if change.offering == change.previous:
        return change
    merchant.offering = change.offering
    change = replace(change, at=utcnow())
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action=OFFERING_CHANGED,
        target_type="merchant",
        target_id=merchant.id,
        **change.audit_details(),
    )
    session.flush()
    return change


def latest_offering_change(
    session: Session, *, merchant: Merchant, now: datetime | None = None
) -> OfferingChange | None:
    """The last offering change of the past 30 days, for the back-office's notice."""
    since = (now or utcnow()) - timedelta(days=OFFERING_NOTICE_DAYS)
    entry = session.scalars(
        select(AuditLog)
        .where(
            AuditLog.merchant_id == merchant.id,
            AuditLog.action == OFFERING_CHANGED,
            AuditLog.created_at >= since,
        )
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(1)
    ).first()
    return OfferingChange.from_audit(entry) if entry is not None else None


def set_status(
    session: Session,
    *,
    merchant: Merchant,
    status: MerchantStatus | str,
    actor: Actor,
    reason: str = "",
) -> Merchant:
    """Suspend or reactivate a merchant. Data is kept either way; only the operator may."""
    _require_operator(actor, "suspend or reactivate a business")
    try:
        target = MerchantStatus(status)
    except ValueError:
        raise InvalidInput(
            f"'{status}' is not a status. Choose active or suspended.", field="status"
        ) from None
    reason = _bounded(reason, limit=300, what="A reason", field="reason")
    if MerchantStatus(merchant.status) == target:
        return merchant
    merchant.status = target
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="merchant.suspended"
        if target == MerchantStatus.SUSPENDED
        else "merchant.reactivated",
        target_type="merchant",
        target_id=merchant.id,
        reason=reason,
    )
    session.flush()
    return merchant
