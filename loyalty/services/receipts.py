"""Telling the member what just happened at the till: change notices and receipts, via the outbox.

The preferred channel is the one the member chats on if they have linked it (Telegram: free and
instant), else e-mail, else SMS (it costs the merchant money). Opted-out channels are skipped.
Each notice is queued once per ledger row or voucher (dedupe key), so a replayed request
queues nothing new. Wallet passes are not touched here: the pass worker finds changed members
by their `updated_at` (wallet/push.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidInput
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    LoyaltyMember,
    LoyaltyTransaction,
    OutboxChannel,
    OutboxMessage,
    Shop,
    Voucher,
)
from loyalty.notify import outbox
from loyalty.services import stamps
from loyalty.services.vouchers import format_code

PREFERENCE = (
    (ChannelKind.TELEGRAM, OutboxChannel.TELEGRAM),
    (ChannelKind.EMAIL, OutboxChannel.EMAIL),
    (ChannelKind.SMS, OutboxChannel.SMS),
)


@dataclass(frozen=True)
class Destination:
    channel: OutboxChannel
    address: str


def preferred_destination(session: Session, member: LoyaltyMember) -> Destination | None:
    """Where this member wants to hear from the merchant, or None if nowhere."""
    if member.customer.erased_at is not None:
        return None
    identities = session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.member_id == member.id, ChannelIdentity.opted_out_at.is_(None))
        .order_by(ChannelIdentity.id)
    ).all()
    by_kind = {}
    for identity in identities:
        by_kind.setdefault(identity.kind, identity.address)
    for kind, channel in PREFERENCE:
        if kind in by_kind:
            return Destination(channel, by_kind[kind])
    return None


def _common(member: LoyaltyMember, shop: Shop | None) -> dict[str, Any]:
    return {
        "name": member.customer.name,
        "program": member.program.name,
        "card_number": member.card_number,
        "shop": shop.name if shop else None,
        "language": member.customer.language,
        "currency": member.program.currency,
    }


def _queue(
    session: Session,
    member: LoyaltyMember,
    *,
    template: str,
    payload: dict[str, Any],
    dedupe_key: str,
) -> OutboxMessage | None:
    destination = preferred_destination(session, member)
    if destination is None:
        return None
    return outbox.enqueue(
        session,
        merchant_id=member.merchant_id,
        member_id=member.id,
        channel=destination.channel,
        template=template,
        address=destination.address,
        payload=payload,
        dedupe_key=dedupe_key,
    )


def _stamps(session: Session, member: LoyaltyMember, transaction: LoyaltyTransaction) -> dict:
    """A stamp card's state after this row, for the notice's text (empty for points)."""
    card, filled = stamps.card_after(session, member, transaction)
    if card is None:
        return {}
    return {
        "stamps": {
            "filled": card.filled,
            "size": card.size,
            "grid": card.grid,
            "summary": card.summary,
            "vouchers": [format_code(v.code) for v in filled],
            "reward": card.reward,
        }
    }


def notify_points_changed(
    session: Session,
    *,
    member: LoyaltyMember,
    transaction: LoyaltyTransaction,
    shop: Shop | None,
) -> OutboxMessage | None:
    """A short notice after an earn, a redemption or an undo: what moved and the new balance."""
    payload = (
        _common(member, shop)
        | {
            "type": str(transaction.type),
            "points": transaction.points,
            "balance": transaction.balance_after,
            "amount_cents": transaction.amount_cents,
            "carry_cents": transaction.carry_out_cents,
            "description": transaction.description,
            "transaction_id": transaction.id,
        }
        | _stamps(session, member, transaction)
    )
    return _queue(
        session,
        member,
        template="points_changed",
        payload=payload,
        dedupe_key=f"points_changed:{transaction.id}",
    )


def notify_voucher_used(
    session: Session, *, member: LoyaltyMember, voucher: Voucher, shop: Shop | None
) -> OutboxMessage | None:
    payload = _common(member, shop) | {
        "code": format_code(voucher.code),
        "reward": voucher.reward.name if voucher.reward else None,
        "voucher_id": voucher.id,
    }
    return _queue(
        session,
        member,
        template="voucher_used",
        payload=payload,
        dedupe_key=f"voucher_used:{voucher.id}",
    )


def send_receipt(
    session: Session,
    *,
    member: LoyaltyMember,
    transaction: LoyaltyTransaction,
    shop: Shop | None,
    lines: list[dict[str, Any]] | None = None,
) -> OutboxMessage:
    """The receipt the cashier offers to send. Once per transaction, however often it is tapped."""
    if member.id != transaction.member_id:
        raise InvalidInput("That receipt belongs to another member.", field="transaction")
    destination = preferred_destination(session, member)
    if destination is None:
        raise InvalidInput(
            "This member has no Telegram, e-mail or phone on file (or opted out of all): "
            "the receipt cannot be sent. Offer a printed one.",
            field="receipt",
        )
    payload = (
        _common(member, shop)
        | {
            "type": str(transaction.type),
            "points": transaction.points,
            "balance": transaction.balance_after,
            "amount_cents": transaction.amount_cents,
            "carry_cents": transaction.carry_out_cents,
            "description": transaction.description,
            "transaction_id": transaction.id,
            "at": transaction.created_at.isoformat(),
            "lines": lines or [],
        }
        | _stamps(session, member, transaction)
    )
    return outbox.enqueue(
        session,
        merchant_id=member.merchant_id,
        member_id=member.id,
        channel=destination.channel,
        template="receipt",
        address=destination.address,
        payload=payload,
        dedupe_key=f"receipt:{transaction.id}",
    )
