"""Recording who did what, for the merchant's audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from loyalty.models import AuditLog
from loyalty.services.actors import Actor


def record(
    session: Session,
    *,
    merchant_id: int | None,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id: object = None,
    **details: Any,
) -> AuditLog:
    entry = AuditLog(
        merchant_id=merchant_id,
        actor_user_id=actor.user_id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details={"actor": actor.label, **details} if actor.label else details,
    )
    session.add(entry)
    return entry
