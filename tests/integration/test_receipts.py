"""Notices and receipts go to the member's preferred channel through the outbox, once each."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loyalty.errors import InvalidInput
from loyalty.models import (
    ChannelKind,
    LoyaltyTransaction,
    OutboxChannel,
    OutboxMessage,
)
from loyalty.notify import texts
from loyalty.services import receipts
from loyalty.services.earn import earn
from tests import factories


def _purchase(session, member, tenant):
    result = earn(session, member=member, amount_cents=1200, idempotency_key="p1", shop=tenant.shop)
    return session.get(LoyaltyTransaction, result.transaction_id)


def test_telegram_is_preferred_over_email_and_sms(session, member):
    factories.add_channel(session, member, ChannelKind.SMS, "+352621123456")
    factories.add_channel(session, member, ChannelKind.EMAIL, "a@example.com")
    assert receipts.preferred_destination(session, member).channel == OutboxChannel.EMAIL
    factories.add_channel(session, member, ChannelKind.TELEGRAM, "12345")
    assert receipts.preferred_destination(session, member).channel == OutboxChannel.TELEGRAM


def test_opted_out_channels_are_skipped(session, member):
    factories.add_channel(
        session,
        member,
        ChannelKind.EMAIL,
        "a@example.com",
        opted_out_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    factories.add_channel(session, member, ChannelKind.SMS, "+352621123456")
    assert receipts.preferred_destination(session, member).channel == OutboxChannel.SMS


def test_a_change_notice_is_queued_once_per_transaction(session, tenant, member):
    factories.add_channel(session, member, ChannelKind.EMAIL, "a@example.com")
    purchase = _purchase(session, member, tenant)
    first = receipts.notify_points_changed(
        session, member=member, transaction=purchase, shop=tenant.shop
    )
    again = receipts.notify_points_changed(
        session, member=member, transaction=purchase, shop=tenant.shop
    )
    assert first.id == again.id
    assert first.template == "points_changed"
    assert first.payload["points"] == 12
    assert first.payload["balance"] == 12
    assert first.payload["shop"] == "Main street"


def test_no_channel_means_no_notice_and_a_clear_refusal_for_receipts(session, tenant, member):
    purchase = _purchase(session, member, tenant)
    assert (
        receipts.notify_points_changed(
            session, member=member, transaction=purchase, shop=tenant.shop
        )
        is None
    )
    with pytest.raises(InvalidInput, match="cannot be sent"):
        receipts.send_receipt(session, member=member, transaction=purchase, shop=tenant.shop)
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_receipt_is_queued_once_however_often_it_is_tapped(session, tenant, member):
    factories.add_channel(session, member, ChannelKind.EMAIL, "a@example.com")
    purchase = _purchase(session, member, tenant)
    for _ in range(3):
        receipts.send_receipt(session, member=member, transaction=purchase, shop=tenant.shop)
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "receipt")
    ).all()
    assert len(messages) == 1
    assert messages[0].address == "a@example.com"
    assert messages[0].payload["amount_cents"] == 1200


def test_the_change_notice_says_how_much_spend_counts_towards_the_next_point(
    session, tenant, member
):
    tenant.program.points_per_euro = Decimal("0.2")
    tenant.program.carry_over_spend = True
    factories.add_channel(session, member, ChannelKind.TELEGRAM, "4242")
    notice = receipts.notify_points_changed(
        session, member=member, transaction=_purchase(session, member, tenant), shop=tenant.shop
    )
    assert texts.short_text(notice).endswith("Balance: 2 points. €2.00 towards your next point.")
