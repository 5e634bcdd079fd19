"""Changing what a merchant knows about a member: name, contact details, birthday, external id.

The API and the back-office share these rules: contact details are normalised like at
enrolment, and an e-mail, phone or external id already on another card is refused by name.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.errors import DuplicateCustomer, InvalidInput, MemberNotActive
from loyalty.identity import format_card_number, normalize_email, normalize_phone, search_key
from loyalty.models import ChannelIdentity, ChannelKind, Customer, LoyaltyMember
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.enroll import LANGUAGES

MAX_EXTERNAL_ID = 64
# Fields a caller may change; `UNSET` keeps the current value, None clears an optional one.
UNSET: Any = object()


def _taken_by(session, member: LoyaltyMember, column, value: str, field: str, shown: str) -> None:
    row = session.execute(
        select(LoyaltyMember.id, LoyaltyMember.card_number)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(
            Customer.merchant_id == member.merchant_id,
            column == value,
            LoyaltyMember.id != member.id,
        )
        .limit(1)
    ).first()
    if row is not None:
        raise DuplicateCustomer(
            f"{shown} already belongs to card {format_card_number(row.card_number)}.",
            member_id=row.id,
            field=field,
        )


def _external_id(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_EXTERNAL_ID or not value.isprintable():
        raise InvalidInput(
            f"An external id is up to {MAX_EXTERNAL_ID} printable characters.", field="external_id"
        )
    return value


def _channel(session, member: LoyaltyMember, kind: ChannelKind, address: str | None) -> None:
    """Keep the member's e-mail/SMS channel in step with the contact detail it mirrors."""
    current = session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.member_id == member.id, ChannelIdentity.kind == kind
        )
    ).first()
    if address is None:
        if current is not None:
            session.delete(current)
    elif current is None:
        session.add(
            ChannelIdentity(
                merchant_id=member.merchant_id, member_id=member.id, kind=kind, address=address
            )
        )
    else:
        current.address = address


def update_member(
    session,
    *,
    member: LoyaltyMember,
    actor: Actor,
    name: str | None = UNSET,
    email: str | None = UNSET,
    phone: str | None = UNSET,
    birthday: date | None = UNSET,
    language: str = UNSET,
    external_id: str | None = UNSET,
    now: datetime | None = None,
) -> LoyaltyMember:
    """Apply the given changes; anything left UNSET stays as it is."""
    customer = member.customer
    if customer.erased_at is not None:
        raise MemberNotActive("This member's data was erased; there is nothing left to change.")
    now = now or utcnow()
    merchant = member.program.merchant
    changed: list[str] = []
    if name is not UNSET:
        customer.name = (name or "").strip()[:120]
        customer.name_search = search_key(customer.name)[:120]
        changed.append("name")
    if email is not UNSET:
        email = normalize_email(email) if email and email.strip() else None
        if email:
            _taken_by(session, member, Customer.email, email, "email", email)
        customer.email = email
        _channel(session, member, ChannelKind.EMAIL, email)
        changed.append("email")
    if phone is not UNSET:
        phone = (
            normalize_phone(phone, merchant.default_country) if phone and phone.strip() else None
        )
        if phone:
            _taken_by(session, member, Customer.phone, phone, "phone", phone)
        customer.phone = phone
        _channel(session, member, ChannelKind.SMS, phone)
        changed.append("phone")
    if ("email" in changed or "phone" in changed) and not (customer.email or customer.phone):
        raise InvalidInput("A member keeps an e-mail address or a phone number.", field="email")
    if birthday is not UNSET:
        if birthday is not None and (birthday > now.date() or birthday.year < 1900):
            raise InvalidInput("That birthday is not possible. Check the date.", field="birthday")
        customer.birthday = birthday
        changed.append("birthday")
    if language is not UNSET:
        if language not in LANGUAGES:
            raise InvalidInput(f"Language must be one of {', '.join(LANGUAGES)}.", field="language")
        customer.language = language
        changed.append("language")
    if external_id is not UNSET:
        external_id = _external_id(external_id)
        if external_id:
            _taken_by(
                session,
                member,
                Customer.external_id,
                external_id,
                "external_id",
                f"External id {external_id}",
            )
        customer.external_id = external_id
        changed.append("external_id")
    if changed:
        member.updated_at = now  # the wallet pass shows the name: let it refresh
        audit.record(
            session,
            merchant_id=member.merchant_id,
            actor=actor,
            action="member.updated",
            target_type="member",
            target_id=member.id,
            fields=changed,
        )
    session.flush()
    return member
