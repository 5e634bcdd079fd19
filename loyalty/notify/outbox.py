"""Queue a message for delivery by the worker. Nothing here talks to the outside world."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import OutboxChannel, OutboxMessage


def enqueue(
    session: Session,
    *,
    merchant_id: int | None,
    channel: OutboxChannel,
    template: str,
    address: str,
    payload: dict[str, Any],
    member_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """Queue once: a second call with the same dedupe key returns the first message.

    `merchant_id` None is platform mail that belongs to no business (a password reset).
    """
    if dedupe_key is not None:
        existing = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.merchant_id == merchant_id, OutboxMessage.dedupe_key == dedupe_key
            )
        ).one_or_none()
        if existing is not None:
            return existing
    message = OutboxMessage(
        merchant_id=merchant_id,
        member_id=member_id,
        channel=channel,
        template=template,
        address=address,
        payload=payload,
        dedupe_key=dedupe_key,
    )
    session.add(message)
    session.flush()
    return message
