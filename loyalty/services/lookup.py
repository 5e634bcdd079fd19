"""Finding a member the way a cashier does: scanned QR, typed card number, phone or e-mail."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, contains_eager

from loyalty.db import utcnow
from loyalty.errors import InvalidCardNumber, InvalidInput, InvalidToken, NotFound
from loyalty.identity import (
    TOKEN_PREFIX,
    format_card_number,
    looks_like_card_number,
    make_qr_token,
    new_qr_secret,
    normalize_email,
    normalize_phone,
    parse_card_number,
    parse_qr_token,
    search_key,
    verify_qr_signature,
)
from loyalty.models import Customer, LoyaltyMember, Merchant
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.calendar import zone_of

SEARCH_LIMIT = 10


def _members(merchant: Merchant):
    # Both sides scoped: the customer's (merchant_id, phone / email / name) indexes need it.
    return (
        select(LoyaltyMember)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(LoyaltyMember.merchant_id == merchant.id, Customer.merchant_id == merchant.id)
    )


def by_card(session: Session, *, merchant: Merchant, raw: str) -> LoyaltyMember:
    card = parse_card_number(raw)
    member = session.scalars(_members(merchant).where(LoyaltyMember.card_number == card)).first()
    if member is None:
        raise NotFound(
            f"Card {format_card_number(card)} not found in {merchant.name}. "
            "Check the number or search by phone."
        )
    return member


def by_token(
    session: Session, *, merchant: Merchant, token: str, secret_key: bytes
) -> LoyaltyMember:
    merchant_id, member_id, signature = parse_qr_token(token)
    if merchant_id != merchant.id:
        raise InvalidToken(f"This card belongs to another programme, not {merchant.name}'s.")
    member = session.scalars(_members(merchant).where(LoyaltyMember.id == member_id)).first()

    def signed_with(qr_secret: str | None) -> bool:
        return qr_secret is not None and verify_qr_signature(
            secret_key,
            merchant_id=merchant.id,
            member_id=member_id,
            qr_secret=qr_secret,
            signature=signature,
        )

    if member is not None and signed_with(member.qr_previous_secret):
        # A screenshot or an old printout of a card whose code was rotated since.
        replaced = issued_at(member).astimezone(zone_of(merchant))  # the merchant's day, not UTC's
        raise InvalidToken(
            f"This QR code was replaced on {replaced:%d %b %Y} and no longer works. "
            "Ask the customer to open their current card (the wallet pass updates itself) "
            "or search by phone."
        )
    if member is None or not signed_with(member.qr_secret):
        raise InvalidToken(
            "This card's code is not valid (forged, or replaced by a newer card). "
            "Ask for the current card or search by phone."
        )
    return member


def by_phone(session: Session, *, merchant: Merchant, raw: str) -> LoyaltyMember:
    phone = normalize_phone(raw, merchant.default_country)
    member = session.scalars(_members(merchant).where(Customer.phone == phone)).first()
    if member is None:
        raise NotFound(f"No member with phone {phone} in {merchant.name}.")
    return member


def by_email(session: Session, *, merchant: Merchant, raw: str) -> LoyaltyMember:
    email = normalize_email(raw)
    member = session.scalars(_members(merchant).where(Customer.email == email)).first()
    if member is None:
        raise NotFound(f"No member with e-mail {email} in {merchant.name}.")
    return member


def identify(
    session: Session, *, merchant: Merchant, query: str, secret_key: bytes
) -> LoyaltyMember:
    """One field at the till takes anything: a scan, a card number, a phone or an e-mail."""
    query = (query or "").strip()
    if not query:
        raise InvalidInput("Scan a card or type a card number, phone or e-mail.", field="query")
    if query.startswith(TOKEN_PREFIX + "."):
        return by_token(session, merchant=merchant, token=query, secret_key=secret_key)
    if "@" in query:
        return by_email(session, merchant=merchant, raw=query)
    if looks_like_card_number(query):
        return by_card(session, merchant=merchant, raw=query)
    try:
        return by_phone(session, merchant=merchant, raw=query)
    except InvalidInput:
        raise InvalidCardNumber(
            f"'{query}' is neither a card number, a phone number nor an e-mail address. "
            "To find a member by name, type the start of the full name (first name first) "
            "and pick them from the suggestions."
        ) from None


def search(
    session: Session, *, merchant: Merchant, text: str, limit: int = SEARCH_LIMIT
) -> list[LoyaltyMember]:
    """Typeahead: card number prefix, phone, e-mail prefix or name prefix; every path indexed."""
    text = (text or "").strip()
    if len(text) < 2:
        return []
    digits = "".join(c for c in text if c.isdigit())
    conditions = [Customer.name_search.startswith(search_key(text), autoescape=True)]
    if "@" in text:
        conditions.append(Customer.email.startswith(text.lower(), autoescape=True))
    if digits and len(digits) >= 4 and len(digits) == len(text.replace(" ", "").replace("+", "")):
        conditions.append(LoyaltyMember.card_number.startswith(digits))
        with contextlib.suppress(InvalidInput):
            conditions.append(Customer.phone == normalize_phone(text, merchant.default_country))
    return list(
        session.scalars(
            _members(merchant)
            .options(contains_eager(LoyaltyMember.customer))  # the names, without a query each
            .where(or_(*conditions))
            .order_by(Customer.name_search)
            .limit(limit)
        )
    )


def qr_token(member: LoyaltyMember, secret_key: bytes) -> str:
    return make_qr_token(
        secret_key, merchant_id=member.merchant_id, member_id=member.id, qr_secret=member.qr_secret
    )


def issued_at(member: LoyaltyMember) -> datetime:
    """When the member's current QR code was made: the last rotation, else the enrolment."""
    return member.qr_issued_at or member.enrolled_at


@dataclass(frozen=True)
class QrAge:
    """What the till says about the code it scanned: "issued 3 days ago", "rotated today"."""

    days: int
    rotated: bool
    max_days: int | None

    @property
    def label(self) -> str:
        when = (
            "today"
            if self.days == 0
            else "yesterday"
            if self.days == 1
            else f"{self.days:,} days ago"
        )
        return f"{'rotated' if self.rotated else 'issued'} {when}"

    @property
    def too_old(self) -> bool:
        return self.max_days is not None and self.days > self.max_days


def qr_age(member: LoyaltyMember, now: datetime | None = None) -> QrAge:
    days = max(0, ((now or utcnow()) - issued_at(member)).days)
    return QrAge(
        days=days, rotated=member.qr_issued_at is not None, max_days=member.program.qr_max_age_days
    )


def rotate_qr_token(
    session: Session, *, member: LoyaltyMember, actor: Actor, now: datetime | None = None
) -> LoyaltyMember:
    """A new QR code: every copy of the old one (screenshots, printouts) stops working at once.

    The member row's `updated_at` moves with it, so installed wallet passes get the new code
    through the usual pass update push (wallet/push.py).
    """
    member.qr_previous_secret = member.qr_secret
    member.qr_secret = new_qr_secret()
    member.qr_issued_at = now or utcnow()
    session.flush()
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action="member.qr_code_rotated",
        target_type="member",
        target_id=member.id,
    )
    return member


def by_external_id(session: Session, *, merchant: Merchant, raw: str) -> LoyaltyMember:
    """The merchant's own customer number, as their POS or e-shop knows the person."""
    external_id = (raw or "").strip()
    if not external_id:
        raise InvalidInput("Give the external id to look for.", field="external_id")
    member = session.scalars(_members(merchant).where(Customer.external_id == external_id)).first()
    if member is None:
        raise NotFound(f"No member with external id {external_id} in {merchant.name}.")
    return member
