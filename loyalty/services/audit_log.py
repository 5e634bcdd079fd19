"""Reading the audit trail: the filtered, newest-first list the back-office pages through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loyalty.models import AuditLog, Merchant, User
from loyalty.services.calendar import local_midnight


@dataclass(frozen=True)
class AuditFilter:
    user_id: int | None = None
    action: str | None = None
    since: date | None = None  # merchant's calendar days, inclusive
    until: date | None = None


def entries(merchant: Merchant, wanted: AuditFilter) -> Select[tuple[AuditLog]]:
    """Newest first. Days are the merchant's: "until 3 March" ends at its midnight after."""
    query = select(AuditLog).where(AuditLog.merchant_id == merchant.id)
    if wanted.user_id is not None:
        query = query.where(AuditLog.actor_user_id == wanted.user_id)
    if wanted.action:
        query = query.where(AuditLog.action == wanted.action)
    if wanted.since is not None:
        query = query.where(AuditLog.created_at >= local_midnight(wanted.since, merchant))
    if wanted.until is not None:
        end = local_midnight(wanted.until + timedelta(days=1), merchant)
        query = query.where(AuditLog.created_at < end)
    return query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


def actions(session: Session, merchant: Merchant) -> list[str]:
    return list(
        session.scalars(
            select(AuditLog.action)
            .where(AuditLog.merchant_id == merchant.id)
            .distinct()
            .order_by(AuditLog.action)
        )
    )


def people(session: Session, merchant: Merchant) -> list[User]:
    """Everyone who appears in the merchant's trail, including people who have since left."""
    ids = select(AuditLog.actor_user_id).where(
        AuditLog.merchant_id == merchant.id, AuditLog.actor_user_id.is_not(None)
    )
    return list(
        session.scalars(select(User).where(User.id.in_(ids)).order_by(User.name, User.email))
    )


def action_label(action: str) -> str:
    """'promotion.created' → 'Promotion created': the words a shop owner reads."""
    subject, _, verb = action.partition(".")
    words = f"{subject} {verb}".replace("_", " ").strip()
    return words[:1].upper() + words[1:]


# Shown elsewhere in the row: who did it, and the name of what it was done to.
_SHOWN_APART = ("actor", "name")


def _words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{_label(k)} {_words(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_words(v) for v in value)
    return str(value)


def _label(key: str) -> str:
    return key.replace("_", " ")


def detail_items(details: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """An entry's details as (label, words): no Python dicts or booleans, nothing empty.

    {"changed": {"points_per_euro": "2"}, "active": False, "reason": ""} →
    [("changed", "points per euro 2"), ("active", "no")]."""
    return [
        (_label(key), _words(value))
        for key, value in (details or {}).items()
        if key not in _SHOWN_APART and value not in (None, "", [], {})
    ]
