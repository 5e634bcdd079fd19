"""Wallet delivery on the shared outbox loop (loyalty.notify.delivery); kept for its callers.

`deliver_queued` is what the `flask wallet push` command and the wallet tests call: the same
claim-send-record loop the worker runs for every channel, limited to the given senders.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from loyalty.models import OutboxChannel, OutboxStatus
from loyalty.notify.delivery import Deliverer, DeliveryPolicy, Outcome, Sender

MAX_ATTEMPTS = DeliveryPolicy.max_attempts
WalletSender = Sender

__all__ = ["MAX_ATTEMPTS", "Outcome", "WalletSender", "deliver_queued"]


def deliver_queued(
    session: Session,
    senders: Mapping[OutboxChannel, WalletSender],
    *,
    now: datetime | None = None,
    limit: int = 500,
) -> dict[OutboxStatus, int]:
    """Send due wallet messages once each, committing per message. Safe to run as several copies."""
    clock = (lambda: now) if now is not None else None
    deliverer = Deliverer(senders, policy=DeliveryPolicy(batch=limit))
    if clock is not None:
        deliverer.clock = clock
    return deliverer.run(session, max_batches=1)
