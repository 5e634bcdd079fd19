"""A member's rights over their data: see it (export as JSON), choose marketing, and be forgotten.

Erasure anonymises rather than deletes: the merchant's ledger rows, vouchers and totals stay
(accounting needs them, and the balance invariant must keep holding), while everything that
names or reaches the person is cleared and the card is closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.identity import new_qr_secret
from loyalty.models import (
    AppleRegistration,
    ChannelIdentity,
    ChannelKind,
    Conversation,
    LoyaltyMember,
    LoyaltyTransaction,
    MemberStatus,
    OutboxMessage,
    OutboxStatus,
    Voucher,
    WalletPass,
)
from loyalty.models.access import MemberAccessToken
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.enroll import MARKETING_CONSENTS

EXPORT_FORMAT = "loyalty-member-export/1"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _row(obj: Any, *fields: str) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in fields}


def export_member(
    session: Session, *, member: LoyaltyMember, now: datetime | None = None
) -> dict[str, Any]:
    """Everything this merchant holds about the member, as JSON-ready data (GDPR art. 15 and 20)."""
    now = now or utcnow()
    program = member.program
    customer = member.customer
    transactions = session.scalars(
        select(LoyaltyTransaction)
        .where(LoyaltyTransaction.member_id == member.id)
        .order_by(LoyaltyTransaction.created_at, LoyaltyTransaction.id)
    )
    vouchers = session.scalars(
        select(Voucher).where(Voucher.member_id == member.id).order_by(Voucher.created_at)
    )
    channels = session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.member_id == member.id)
        .order_by(ChannelIdentity.id)
    )
    passes = session.scalars(
        select(WalletPass).where(WalletPass.member_id == member.id).order_by(WalletPass.id)
    )
    messages = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.member_id == member.id)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "controller": {"business": program.merchant.name, "programme": program.name},
        "customer": _row(
            customer, "name", "email", "phone", "birthday", "language", "created_at", "erased_at"
        )
        | {"consents": customer.consents},
        "card": _row(
            member,
            "card_number",
            "status",
            "points_balance",
            "lifetime_points",
            "enrolled_at",
            "last_activity_at",
        )
        | {"tier": member.tier.name if member.tier else None},
        "channels": [
            _row(c, "kind", "address", "verified_at", "opted_out_at", "created_at")
            for c in channels
        ],
        "transactions": [
            _row(t, "created_at", "type", "points", "balance_after", "amount_cents", "description")
            for t in transactions
        ],
        "vouchers": [
            _row(v, "code", "status", "points_spent", "valid_until", "used_at", "created_at")
            | {"reward": v.reward.name if v.reward else None}
            for v in vouchers
        ],
        "wallet_passes": [_row(p, "platform", "created_at", "updated_at") for p in passes],
        "messages": [
            _row(m, "created_at", "channel", "template", "status", "sent_at") for m in messages
        ],
    }


def update_marketing_consents(
    session: Session,
    *,
    member: LoyaltyMember,
    granted: Mapping[str, bool],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record the member's marketing choices; only a changed choice gets a new timestamp."""
    unknown = set(granted) - set(MARKETING_CONSENTS)
    if unknown:
        raise InvalidInput(f"Unknown consent: {', '.join(sorted(unknown))}.", field="consents")
    now = now or utcnow()
    customer = member.customer
    consents = dict(customer.consents or {})
    for name in MARKETING_CONSENTS:
        wanted = bool(granted.get(name, False))
        previous = consents.get(name) or {}
        if previous.get("granted") is not wanted or not previous:
            consents[name] = {"granted": wanted, "at": now.isoformat(), "via": "member_page"}
    customer.consents = consents  # a new dict: the JSON column sees the change
    session.flush()
    return consents


def erase_member(
    session: Session, *, member: LoyaltyMember, actor: Actor, now: datetime | None = None
) -> LoyaltyMember:
    """Anonymise the person and close the card, keeping ledger rows and totals. Idempotent."""
    customer = member.customer
    if customer.erased_at is not None:
        return member
    now = now or utcnow()
    channels = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.member_id == member.id)
    ).all()
    # Bot conversations are keyed by address, not member: forget the ones this card used.
    chat_addresses = [
        (c.kind, c.address) for c in channels if c.kind in (ChannelKind.TELEGRAM, ChannelKind.SMS)
    ]
    if chat_addresses:
        session.execute(
            delete(Conversation).where(
                Conversation.merchant_id == member.merchant_id,
                tuple_(Conversation.channel, Conversation.address).in_(chat_addresses),
            )
        )
    session.execute(delete(ChannelIdentity).where(ChannelIdentity.member_id == member.id))
    session.execute(delete(MemberAccessToken).where(MemberAccessToken.member_id == member.id))
    pass_ids = select(WalletPass.id).where(WalletPass.member_id == member.id)
    session.execute(delete(AppleRegistration).where(AppleRegistration.pass_id.in_(pass_ids)))
    # Nothing more goes out to the person, and no copy of their address or name stays queued.
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.member_id == member.id,
            OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.FAILED]),
        )
        .values(status=OutboxStatus.SKIPPED, last_error="member erased")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.member_id == member.id)
        .values(address="", payload={})
        .execution_options(synchronize_session=False)
    )
    customer.name = ""
    customer.name_search = ""
    customer.email = None
    customer.phone = None
    customer.birthday = None
    customer.external_id = None
    customer.consents = {}
    customer.erased_at = now
    member.status = MemberStatus.CLOSED
    member.qr_secret = new_qr_secret()  # every printed or saved QR code stops working
    member.qr_previous_secret = None  # nor is any code recognised as "replaced": it is gone
    member.enrollment_key = None
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action="member.erased",
        target_type="member",
        target_id=member.id,
    )
    session.flush()
    session.expire(member, ["channels"])
    return member
