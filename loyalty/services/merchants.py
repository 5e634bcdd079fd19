"""Setting up a tenant: the merchant, its programme, its shops and the people who work there."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.errors import InvalidInput
from loyalty.identity import normalize_email
from loyalty.models import LoyaltyProgram, Membership, Merchant, Offering, Role, Shop, User
from loyalty.passwords import MIN_LENGTH, hash_password


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
    count = session.scalar(select(func.count(Shop.id)).where(Shop.merchant_id == merchant.id))
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
