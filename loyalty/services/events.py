"""Business events for merchants' own systems: one outbox row per subscribed webhook endpoint.

`emit` is called by the services right where the change happens, in the same transaction:
the event is committed with the change or rolled back with it, never lost and never sent for
work that did not happen. The worker delivers the rows (loyalty.notify.webhooks).

Most merchants have no endpoints, so the first question, "who listens?", is one indexed query
whose answer is kept for the rest of the transaction; with nobody listening nothing else runs.
Events carry ids and figures, not personal data: a receiver fetches the member through the API.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    Merchant,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Voucher,
    WebhookEndpoint,
)
from loyalty.offerings import PLANS, Feature

EVENT_TYPES: dict[str, str] = {
    "member.enrolled": "A customer joined the programme",
    "points.earned": "Points were credited for a purchase",
    "points.redeemed": "Points were spent on a reward",
    "points.expired": "Points expired",
    "tier.changed": "A member moved to another tier",
    "voucher.issued": "A voucher was issued",
    "voucher.used": "A voucher was used at a till",
}
# Sent from the back-office to one endpoint on demand; nobody subscribes to it.
TEST_EVENT = "webhook.test"

_WEBHOOK_OFFERINGS = [plan.offering for plan in PLANS.values() if Feature.WEBHOOKS in plan.features]
# "Who listens?" is asked at most every TARGETS_TTL seconds per merchant and process: on the
# hot paths (earn, redeem, voucher use) a query per transaction would halve throughput. Changes
# made in this process take effect at once (see the listeners below); other processes see
# a new or re-enabled endpoint within TARGETS_TTL. Removals are exact: the sender checks the
# endpoint again at send time.
TARGETS_TTL = 10.0
_cache: dict[tuple[str, int], tuple[float, list[Target]]] = {}
_cache_lock = threading.Lock()
_TOUCHED = "loyalty.events.endpoints_touched"


@dataclass(frozen=True)
class Target:
    endpoint_id: int
    event_types: frozenset[str]
    merchant_slug: str


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def member_ref(member: LoyaltyMember) -> dict[str, Any]:
    return {"id": member.id, "card_number": member.card_number}


def voucher_ref(voucher: Voucher) -> dict[str, Any]:
    """How voucher.issued names the voucher, whoever issued it (redeem, stamp card, campaign)."""
    return {
        "id": voucher.id,
        "code": voucher.code,
        "reward_id": voucher.reward_id,
        "valid_until": iso(voucher.valid_until),
    }


def forget_targets(session: Session | None = None) -> None:
    """Endpoints changed: the next emit in this process asks the database again."""
    with _cache_lock:
        _cache.clear()


def _cache_key(session: Session, merchant_id: int) -> tuple[str, int]:
    bind = session.get_bind()
    return (str(getattr(bind, "engine", bind).url), merchant_id)


def targets(session: Session, merchant_id: int) -> list[Target]:
    """The merchant's active endpoints (none for an offering without webhooks), cached briefly."""
    key = _cache_key(session, merchant_id)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < TARGETS_TTL:
        return hit[1]
    rows = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types, Merchant.slug)
        .join(Merchant, Merchant.id == WebhookEndpoint.merchant_id)
        .where(
            WebhookEndpoint.merchant_id == merchant_id,
            WebhookEndpoint.disabled_at.is_(None),
            Merchant.offering.in_(_WEBHOOK_OFFERINGS),
        )
        .order_by(WebhookEndpoint.id)
    ).all()
    found = [Target(id_, frozenset(types or ()), slug) for id_, types, slug in rows]
    with _cache_lock:
        _cache[key] = (now, found)
    return found


# Which attributes of an endpoint decide where events go.
_ROUTING = ("merchant_id", "disabled_at", "event_types")


@event.listens_for(Session, "after_flush")
def _endpoints_flushed(session: Session, flush_context: Any) -> None:
    """A session wrote endpoints: this process forgets its cache now and when that work ends
    (committed or rolled back), so it never keeps an endpoint that was rolled back."""
    changed = any(isinstance(o, WebhookEndpoint) for o in (*session.new, *session.deleted)) or any(
        isinstance(o, WebhookEndpoint)
        and any(inspect(o).attrs[name].history.has_changes() for name in _ROUTING)
        for o in session.dirty
    )
    if changed:
        session.info[_TOUCHED] = True
        forget_targets()


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: Any) -> None:
    if session.info.pop(_TOUCHED, False):
        forget_targets()


def envelope(
    *, type: str, merchant_id: int, merchant_slug: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The JSON body every receiver gets (docs/webhooks.md)."""
    return {
        "id": new_event_id(),
        "type": type,
        "created": iso(now),
        "merchant": {"id": merchant_id, "slug": merchant_slug},
        "data": dict(data),
    }


def outbox_row(merchant_id: int, endpoint_id: int, event: dict[str, Any]) -> dict[str, Any]:
    """The outbox row that carries one event to one endpoint."""
    return {
        "merchant_id": merchant_id,
        "channel": OutboxChannel.WEBHOOK,
        "template": event["type"],
        "address": f"webhook:{endpoint_id}",
        "payload": {"endpoint_id": endpoint_id, "event": event},
        "dedupe_key": f"{event['id']}:{endpoint_id}",
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": utcnow(),
        "created_at": utcnow(),
    }


def emit(
    session: Session,
    *,
    merchant_id: int,
    type: str,
    data: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> str | None:
    """Queue `type` for every active endpoint subscribed to it; returns the event id, or None.

    `data` may be a function, called only when someone listens: for data that costs a query.
    """
    listening = [t for t in targets(session, merchant_id) if type in t.event_types]
    if not listening:
        return None
    event = envelope(
        type=type,
        merchant_id=merchant_id,
        merchant_slug=listening[0].merchant_slug,
        data=data() if callable(data) else data,
        now=utcnow(),
    )
    session.execute(
        insert(OutboxMessage), [outbox_row(merchant_id, t.endpoint_id, event) for t in listening]
    )
    return event["id"]


def emit_many(
    session: Session, *, merchant_id: int, type: str, items: Iterable[Mapping[str, Any]]
) -> int:
    """One event per item (a nightly run), written with one multi-row insert; returns the count."""
    listening = [t for t in targets(session, merchant_id) if type in t.event_types]
    if not listening:
        return 0
    now = utcnow()
    rows = []
    for data in items:
        event = envelope(
            type=type,
            merchant_id=merchant_id,
            merchant_slug=listening[0].merchant_slug,
            data=data,
            now=now,
        )
        rows += [outbox_row(merchant_id, t.endpoint_id, event) for t in listening]
    if rows:
        session.execute(insert(OutboxMessage), rows)
    return len(rows) // len(listening)


def points_expired(session: Session, *, program: LoyaltyProgram, key_prefix: str) -> int:
    """points.expired for every ledger row an expiry run just wrote (their keys share a prefix)."""
    if not any("points.expired" in t.event_types for t in targets(session, program.merchant_id)):
        return 0
    rows = session.execute(
        select(
            LoyaltyTransaction.id,
            LoyaltyTransaction.points,
            LoyaltyTransaction.balance_after,
            LoyaltyMember.id,
            LoyaltyMember.card_number,
        )
        .join(LoyaltyMember, LoyaltyMember.id == LoyaltyTransaction.member_id)
        .where(
            LoyaltyTransaction.program_id == program.id,
            LoyaltyTransaction.idempotency_key.startswith(key_prefix, autoescape=True),
        )
        .order_by(LoyaltyTransaction.id)
    ).all()
    return emit_many(
        session,
        merchant_id=program.merchant_id,
        type="points.expired",
        items=(
            {
                "member": {"id": member_id, "card_number": card},
                "transaction_id": tx_id,
                "points": -points,
                "balance": balance,
            }
            for tx_id, points, balance, member_id, card in rows
        ),
    )


def tiers_changed(session: Session, *, program: LoyaltyProgram, changes: Iterable[Any]) -> int:
    """tier.changed for each `TierChange` of a recompute (immediate upgrade or nightly run)."""
    changes = list(changes)
    wanted = any("tier.changed" in t.event_types for t in targets(session, program.merchant_id))
    if not changes or not wanted:
        return 0
    tiers = {tier.id: {"id": tier.id, "name": tier.name} for tier in program.tiers}
    cards: dict[int, str] = {}
    ids = [change.member_id for change in changes]
    for start in range(0, len(ids), 1000):  # bounded IN lists on every database
        rows = session.execute(
            select(LoyaltyMember.id, LoyaltyMember.card_number).where(
                LoyaltyMember.id.in_(ids[start : start + 1000])
            )
        )
        cards.update((member_id, card) for member_id, card in rows)
    return emit_many(
        session,
        merchant_id=program.merchant_id,
        type="tier.changed",
        items=(
            {
                "member": {"id": change.member_id, "card_number": cards.get(change.member_id)},
                "from_tier": tiers.get(change.old_tier_id),
                "to_tier": tiers.get(change.new_tier_id),
                "upgrade": change.upgrade,
            }
            for change in changes
        ),
    )


def emit_to_endpoint(
    session: Session, *, endpoint: WebhookEndpoint, merchant: Merchant, type: str, data: dict
) -> OutboxMessage:
    """One event to one endpoint whatever it subscribes to: the back-office's test event."""
    event = envelope(
        type=type, merchant_id=merchant.id, merchant_slug=merchant.slug, data=data, now=utcnow()
    )
    message = OutboxMessage(**outbox_row(merchant.id, endpoint.id, event))
    session.add(message)
    session.flush()
    return message
