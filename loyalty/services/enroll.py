"""Enrolment: a customer joins a merchant's programme and gets a card."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import DuplicateCustomer, InvalidInput, LoyaltyError
from loyalty.identity import (
    format_card_number,
    new_card_number,
    new_qr_secret,
    normalize_email,
    normalize_phone,
    search_key,
)
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Customer,
    LoyaltyMember,
    LoyaltyProgram,
    OutboxChannel,
    TransactionType,
)
from loyalty.notify import outbox
from loyalty.services import events, ledger, referrals, stamps, tiers
from loyalty.services.actors import SYSTEM, Actor

LANGUAGES = ("en", "fr", "de")
MARKETING_CONSENTS = ("marketing_email", "marketing_sms", "marketing_telegram")


def _card_number(session: Session, program_id: int) -> str:
    while True:
        number = new_card_number()
        taken = session.scalar(
            select(LoyaltyMember.id).where(
                LoyaltyMember.program_id == program_id, LoyaltyMember.card_number == number
            )
        )
        if taken is None:
            return number


def _validate_birthday(birthday: date | None, today: date) -> date | None:
    if birthday is None:
        return None
    if birthday > today or birthday.year < 1900:
        raise InvalidInput("That birthday is not possible. Check the date.", field="birthday")
    return birthday


def _existing(session: Session, merchant_id: int, email: str | None, phone: str | None) -> None:
    conditions = []
    if email:
        conditions.append(Customer.email == email)
    if phone:
        conditions.append(Customer.phone == phone)
    row = session.execute(
        select(Customer.email, Customer.phone, LoyaltyMember.id, LoyaltyMember.card_number)
        .join(LoyaltyMember, LoyaltyMember.customer_id == Customer.id)
        .where(Customer.merchant_id == merchant_id, or_(*conditions))
        .limit(1)
    ).first()
    if row is None:
        return
    field = "email" if email and row.email == email else "phone"
    shown = email if field == "email" else phone
    raise DuplicateCustomer(
        f"{shown} already belongs to card {format_card_number(row.card_number)}. "
        "Look that member up instead of creating a second card.",
        member_id=row.id,
        field=field,
    )


def _consents(
    terms_version: str, granted: Mapping[str, bool], now: datetime
) -> dict[str, dict[str, object]]:
    unknown = set(granted) - set(MARKETING_CONSENTS)
    if unknown:
        raise InvalidInput(f"Unknown consent: {', '.join(sorted(unknown))}.", field="consents")
    stamp = now.isoformat()
    consents: dict[str, dict[str, object]] = {
        "terms": {"granted": True, "at": stamp, "version": terms_version}
    }
    for name in MARKETING_CONSENTS:
        consents[name] = {"granted": bool(granted.get(name, False)), "at": stamp}
    return consents


def enroll(
    session: Session,
    *,
    program: LoyaltyProgram,
    idempotency_key: str,
    terms_accepted: bool,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
    birthday: date | None = None,
    language: str = "en",
    consents: Mapping[str, bool] | None = None,
    source: str = "web",
    actor: Actor = SYSTEM,
    now: datetime | None = None,
    referral_code: str | None = None,
) -> LoyaltyMember:
    """Create customer and card; a sign-up bonus and a welcome message follow if configured."""
    key = ledger.check_key(idempotency_key)
    replay = session.scalars(
        select(LoyaltyMember).where(
            LoyaltyMember.program_id == program.id, LoyaltyMember.enrollment_key == key
        )
    ).one_or_none()
    if replay is not None:
        return replay
    now = now or utcnow()
    merchant = program.merchant
    email = normalize_email(email) if email and email.strip() else None
    phone = normalize_phone(phone, merchant.default_country) if phone and phone.strip() else None
    if email is None and phone is None:
        raise InvalidInput("Give an e-mail address or a phone number.", field="email")
    if not terms_accepted:
        raise InvalidInput("The programme terms must be accepted to join.", field="terms")
    if language not in LANGUAGES:
        raise InvalidInput(f"Language must be one of {', '.join(LANGUAGES)}.", field="language")
    name = (name or "").strip()[:120]
    birthday = _validate_birthday(birthday, now.date())
    _existing(session, merchant.id, email, phone)

    customer = Customer(
        merchant_id=merchant.id,
        name=name,
        # NFKD can lengthen a name ('ﬁ' -> 'fi'): keep the key within its column too.
        name_search=search_key(name)[:120],
        email=email,
        phone=phone,
        birthday=birthday,
        language=language,
        consents=_consents(program.terms_version, consents or {}, now)
        | {"source": {"via": source}},
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:
        _existing(session, merchant.id, email, phone)  # a concurrent enrolment won the race
        raise
    member = LoyaltyMember(
        merchant_id=merchant.id,
        program_id=program.id,
        customer_id=customer.id,
        card_number=_card_number(session, program.id),
        qr_secret=new_qr_secret(),
        enrollment_key=key,
        enrolled_at=now,
        last_activity_at=now,
        tier_id=tiers.entry_tier_id(session, program),  # from the start, not the nightly run
    )
    session.add(member)
    session.flush()
    for kind, address in ((ChannelKind.EMAIL, email), (ChannelKind.SMS, phone)):
        if address:
            session.add(
                ChannelIdentity(
                    merchant_id=merchant.id, member_id=member.id, kind=kind, address=address
                )
            )
    if referral_code and referrals.enabled(program):
        # A stale or mistyped invite link must not stop anyone joining: it just does not count.
        with contextlib.suppress(LoyaltyError), session.begin_nested():
            referrals.attach(session, member=member, code=referral_code, now=now)
    if program.signup_bonus > 0:
        ledger.credit(
            session,
            member=member,
            type=TransactionType.BONUS,
            points=program.signup_bonus,
            now=now,
            idempotency_key=f"{key}:signup-bonus"[: ledger.MAX_KEY_LENGTH],
            actor=actor,
            expires_at=ledger.lot_expiry(program, now),
            description="Welcome bonus",
            reference_type="signup",
        )
    outbox.enqueue(
        session,
        merchant_id=merchant.id,
        member_id=member.id,
        channel=OutboxChannel.EMAIL if email else OutboxChannel.SMS,
        template="welcome",
        address=email or phone or "",
        payload={
            "name": name,
            "card_number": member.card_number,
            "program": program.name,
            "signup_bonus": program.signup_bonus,
            "unit": stamps.unit_of(program),
            "language": language,
        },
        dedupe_key=f"welcome:{member.id}",
    )
    events.emit(
        session,
        merchant_id=merchant.id,
        type="member.enrolled",
        data={
            "member": events.member_ref(member),
            "balance": member.points_balance,
            "source": source,
            "enrolled_at": events.iso(now),
        },
    )
    session.flush()
    return member
