"""Checking an e-mail and password against the users table, the same way for every outcome."""

from __future__ import annotations

from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidInput
from loyalty.identity import normalize_email
from loyalty.models import User
from loyalty.passwords import hash_password, needs_rehash, verify_password


@cache
def _decoy_hash() -> str:
    # Hashed on first use, not at import: no work at import time.
    return hash_password("decoy password that matches no account")


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user whose password this is, or None; an unknown e-mail costs the same argon2 work.

    A hash made with older parameters is upgraded while the plain password is at hand. The
    caller decides about inactive users and commits.
    """
    try:
        address: str | None = normalize_email(email)
    except InvalidInput:
        address = None
    user = (
        session.scalars(select(User).where(User.email == address)).one_or_none()
        if address
        else None
    )
    if user is None:
        verify_password(_decoy_hash(), password)  # so the response time does not tell
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
