"""Test data with a tenant for every object. Plain functions: explicit beats clever here."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.identity import new_card_number, new_qr_secret, search_key
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Customer,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    Merchant,
    Offering,
    ProgramKind,
    RedemptionLimit,
    Reward,
    RewardType,
    Role,
    Shop,
    StampPer,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from loyalty.passwords import hash_password
from loyalty.services import merchants
from loyalty.services.actors import Actor

_seq = itertools.count(1)


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


PASSWORD = "correct-horse-battery"


@dataclass
class Tenant:
    """A merchant with its programme and first shop, ready for a test."""

    merchant: Merchant
    program: LoyaltyProgram
    shop: Shop


def make_tenant(
    session: Session,
    *,
    offering: Offering = Offering.PLUS,
    name: str | None = None,
    points_per_euro: Decimal = Decimal("1"),
) -> Tenant:
    merchant = merchants.create_merchant(
        session,
        name=name or f"Bakery {next(_seq)}",
        offering=offering,
        points_per_euro=points_per_euro,
    )
    shop = merchants.create_shop(
        session, merchant=merchant, name="Main street", address="1 Main St"
    )
    return Tenant(merchant, merchants.program_of(session, merchant), shop)


def make_user(
    session: Session,
    tenant: Tenant | None = None,
    *,
    role: Role = Role.OWNER,
    shop: Shop | None = None,
    platform_admin: bool = False,
) -> User:
    # Built directly with one cached argon2 hash: hashing costs ~0.4 s, and tests make many users.
    user = User(
        email=f"user{next(_seq)}@example.com",
        name="Test User",
        password_hash=_password_hash(),
        is_platform_admin=platform_admin,
    )
    session.add(user)
    session.flush()
    if tenant is not None:
        merchants.add_membership(session, user=user, merchant=tenant.merchant, role=role, shop=shop)
    return user


def actor_for(user: User, role: Role = Role.OWNER, shop: Shop | None = None) -> Actor:
    return Actor(user_id=user.id, role=role, shop_id=shop.id if shop else None)


def make_member(
    session: Session,
    tenant: Tenant,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> LoyaltyMember:
    """A member with no points, created directly (the enrol service has its own tests)."""
    n = next(_seq)
    name = name or f"Member {n}"
    customer = Customer(
        merchant_id=tenant.merchant.id,
        name=name,
        name_search=search_key(name),
        email=email,
        phone=phone,
        consents={},
    )
    session.add(customer)
    session.flush()
    member = LoyaltyMember(
        merchant_id=tenant.merchant.id,
        program_id=tenant.program.id,
        customer_id=customer.id,
        card_number=new_card_number(),
        qr_secret=new_qr_secret(),
    )
    session.add(member)
    session.flush()
    return member


def add_channel(
    session: Session,
    member: LoyaltyMember,
    kind: ChannelKind,
    address: str,
    *,
    opted_out_at: datetime | None = None,
) -> ChannelIdentity:
    """The member can be reached there (e-mail, SMS number, Telegram chat), unless opted out."""
    identity = ChannelIdentity(
        merchant_id=member.merchant_id,
        member_id=member.id,
        kind=kind,
        address=address,
        opted_out_at=opted_out_at,
    )
    session.add(identity)
    session.flush()
    return identity


def make_tier(
    session: Session,
    tenant: Tenant,
    *,
    name: str,
    min_points: int,
    multiplier: str = "1",
    window_days: int | None = None,
) -> LoyaltyTier:
    tier = LoyaltyTier(
        merchant_id=tenant.merchant.id,
        program_id=tenant.program.id,
        name=name,
        min_points=min_points,
        earn_multiplier=Decimal(multiplier),
        qualification_window_days=window_days,
        benefits={},
    )
    session.add(tier)
    session.flush()
    return tier


def make_reward(
    session: Session,
    tenant: Tenant,
    *,
    cost: int = 100,
    stock: int | None = None,
    type: RewardType = RewardType.DISCOUNT_FIXED,
    value: int | None = 500,
    name: str = "€5 off",
    limit: RedemptionLimit = RedemptionLimit.REPEATABLE,
    limit_days: int | None = None,
) -> Reward:
    reward = Reward(
        merchant_id=tenant.merchant.id,
        program_id=tenant.program.id,
        name=name,
        type=type,
        points_cost=cost,
        value=value,
        stock=stock,
        redemption_limit=limit,
        limit_days=limit_days,
    )
    session.add(reward)
    session.flush()
    return reward


def make_stamp_card(
    session: Session,
    tenant: Tenant,
    *,
    size: int = 10,
    per: StampPer = StampPer.ITEM,
    reward: Reward | None = None,
) -> Reward:
    """Turns the tenant's programme into a stamp card whose full card gives `reward` (a free
    coffee unless given); returns that reward."""
    reward = reward or make_reward(session, tenant, cost=1, name="Free coffee")
    program = tenant.program
    program.kind = ProgramKind.STAMPS
    program.stamp_card_size = size
    program.stamp_per = per
    program.stamp_reward_id = reward.id
    session.flush()
    return reward


def make_webhook_endpoint(
    session: Session, tenant: Tenant, *, url: str = "https://hooks.example.com/loyalty"
) -> WebhookEndpoint:
    """The tenant's first webhook endpoint (made once), built directly: any offering will do."""
    from loyalty.services import events, webhooks

    existing = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == tenant.merchant.id).limit(1)
    ).first()
    if existing is not None:
        return existing
    endpoint = WebhookEndpoint(
        merchant_id=tenant.merchant.id,
        url=url,
        event_types=list(events.EVENT_TYPES),
        secret=webhooks.new_secret(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def make_webhook_delivery(
    session: Session, tenant: Tenant, *, status_code: int | None = 200, n: int = 1
) -> WebhookDelivery:
    """A logged delivery attempt to the tenant's first endpoint."""
    endpoint = make_webhook_endpoint(session, tenant)
    event = {"id": f"evt_test{next(_seq):020d}", "type": "points.earned", "data": {}}
    delivery = WebhookDelivery(
        merchant_id=tenant.merchant.id,
        endpoint_id=endpoint.id,
        event_id=event["id"],
        event_type=event["type"],
        payload=event,
        attempt=n,
        status_code=status_code,
        succeeded=status_code is not None and 200 <= status_code < 300,
    )
    session.add(delivery)
    session.flush()
    return delivery
