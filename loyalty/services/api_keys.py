"""API keys: create one (shown once), recognise it on a request, note its use, revoke it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import InvalidApiKey, InvalidInput, NotFound
from loyalty.models import ApiKey, ApiScope, Merchant, Role
from loyalty.offerings import Feature
from loyalty.services import audit
from loyalty.services.actors import Actor

KEY_PREFIX = "lk_live_"
# Letters and digits only, so a key survives copy-paste, shells and config files unquoted.
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_SECRET_LENGTH = 40  # log2(57^40) ≈ 233 bits: a plain SHA-256 is enough, no stretching
SHOWN_PREFIX = len(KEY_PREFIX) + 4
# Writing last_used_at on every request would make every GET a write; once a minute is plenty
# for "when was this key last used".
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_NAME = 80


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the full key: shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    scope: ApiScope = ApiScope.WRITE,
    name: str = "",
    now: datetime | None = None,
) -> NewKey:
    """A new key for the merchant's own systems. Owners only (or the operator's CLI)."""
    if actor.role is not None:
        actor.require_role(Role.OWNER, "create API keys")
    offerings.require(merchant, Feature.API_ACCESS)
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Keep the name under {MAX_NAME} characters.", field="name")
    try:
        scope = ApiScope(scope)
    except ValueError:
        raise InvalidInput("The scope is either read or write.", field="scope") from None
    secret = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH))
    key = ApiKey(
        merchant_id=merchant.id,
        name=name,
        prefix=secret[:SHOWN_PREFIX],
        secret_hash=hash_secret(secret),
        scope=scope,
        created_by=actor.user_id,
        created_at=now or utcnow(),
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="api_key.created",
        target_type="api_key",
        target_id=key.id,
        prefix=key.prefix,
        scope=scope.value,
    )
    return NewKey(key, secret)


def authenticate(session: Session, *, secret: str | None) -> ApiKey:
    """The live key this secret belongs to; refuses unknown and revoked keys alike."""
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 100:
        raise InvalidApiKey(
            "Send your API key as 'Authorization: Bearer lk_live_…'. Owners create keys in the "
            "back-office under API keys."
        )
    key = session.scalars(
        select(ApiKey)
        .options(joinedload(ApiKey.merchant))  # every request needs both: one round trip
        .where(ApiKey.secret_hash == hash_secret(secret))
    ).one_or_none()
    if key is None or key.revoked_at is not None:
        raise InvalidApiKey(
            "This API key is not valid: it was revoked or mistyped. Create a new one in the "
            "back-office under API keys."
        )
    return key


def require_api_access(key: ApiKey) -> None:
    """A merchant that left Enterprise keeps its keys, but they stop opening the API."""
    offerings.require(key.merchant, Feature.API_ACCESS)


def note_use(session: Session, *, key: ApiKey, now: datetime | None = None) -> bool:
    """Record the key's use at most once a minute; True when a row was written."""
    now = now or utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return False
    written = session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return written.rowcount == 1


def revoke_key(
    session: Session, *, merchant: Merchant, key_id: int, actor: Actor, now: datetime | None = None
) -> ApiKey:
    """The key stops working at once; the row stays so the list shows when and what."""
    if actor.role is not None:
        actor.require_role(Role.OWNER, "revoke API keys")
    key = session.scalars(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.merchant_id == merchant.id)
    ).one_or_none()
    if key is None:
        raise NotFound("That API key does not exist.")
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
        audit.record(
            session,
            merchant_id=merchant.id,
            actor=actor,
            action="api_key.revoked",
            target_type="api_key",
            target_id=key.id,
            prefix=key.prefix,
        )
        session.flush()
    return key


def keys_of(session: Session, *, merchant: Merchant) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.merchant_id == merchant.id)
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    )
