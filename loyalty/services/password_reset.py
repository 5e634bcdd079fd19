"""Forgotten passwords: a single-use reset link by e-mail, valid for one hour; and changing a
known password while signed in. Either way the account's other sessions end.

Asking for a link answers the same way whether or not the address has an account, and costs
the same queries, so the form tells nobody who works here. The e-mail belongs to no business
(`merchant_id` NULL): no merchant's sent-mail page can show it (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, InvalidToken
from loyalty.identity import normalize_email
from loyalty.models import OutboxChannel, PasswordResetToken, User
from loyalty.notify import outbox
from loyalty.passwords import MIN_LENGTH, hash_password, verify_password
from loyalty.services.single_use import new_token, token_hash, when

RESET_TTL = timedelta(hours=1)
# However often the form is sent, one account gets at most one e-mail a minute.
RESEND_INTERVAL = timedelta(seconds=60)
TEMPLATE = "password_reset"
ResetUrl = Callable[[str], str]


def request_reset(
    session: Session,
    *,
    email: str,
    reset_url: ResetUrl,
    platform_name: str = "Loyalty",
    now: datetime | None = None,
) -> str | None:
    """Queue a reset e-mail if `email` names an active account; returns the token (tests) or None.

    The caller shows the same "check your inbox" page whatever this returns.
    """
    now = now or utcnow()
    try:
        address = normalize_email(email)
    except InvalidInput:
        return None
    user = session.scalars(select(User).where(User.email == address)).one_or_none()
    if user is None or not user.active:
        return None
    recent = session.scalar(
        select(PasswordResetToken.id).where(
            PasswordResetToken.user_id == user.id,
            PasswordResetToken.created_at > now - RESEND_INTERVAL,
        )
    )
    if recent is not None:
        return None
    token, digest = new_token()
    row = PasswordResetToken(
        user_id=user.id, token_hash=digest, expires_at=now + RESET_TTL, created_at=now
    )
    session.add(row)
    session.flush()
    outbox.enqueue(
        session,
        merchant_id=None,
        channel=OutboxChannel.EMAIL,
        template=TEMPLATE,
        address=user.email,
        payload={
            "program": platform_name,
            "name": user.name,
            "link": reset_url(token),
            "expires": when(row.expires_at),
        },
    )
    return token


_NOT_VALID = (
    "This password reset link is not valid: it may have been cut short or changed. "
    "Ask for a new link."
)


def check_token(session: Session, *, token: str, now: datetime | None = None) -> PasswordResetToken:
    now = now or utcnow()
    row = session.scalars(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash(token))
    ).one_or_none()
    if row is None or not token or not row.user.active:
        raise InvalidToken(_NOT_VALID, reason="not_valid")
    if row.used_at is not None:
        raise InvalidToken(
            "This password reset link was already used: each link works once. Ask for a new "
            "link if you need to change your password again.",
            reason="used",
        )
    if row.expires_at <= now:
        raise InvalidToken(
            f"This password reset link expired on {when(row.expires_at)}. Ask for a new link.",
            reason="expired",
        )
    return row


def reset_password(
    session: Session, *, token: str, password: str, now: datetime | None = None
) -> User:
    """Set the new password and use the link up; every other open link of the account dies too."""
    now = now or utcnow()
    row = check_token(session, token=token, now=now)
    if len(password or "") < MIN_LENGTH:
        raise InvalidInput(
            f"Choose a password of at least {MIN_LENGTH} characters.", field="password"
        )
    claimed = session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # used in another tab a moment ago
        raise InvalidToken("This password reset link was already used.", reason="used")
    session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == row.user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(row, ["used_at"])
    user = row.user
    user.password_hash = hash_password(password)
    user.end_other_sessions()  # whoever knew the old password is signed out everywhere
    session.flush()
    return user


def change_password(session: Session, *, user: User, current: str, new: str) -> User:
    """Replace a password the user knows; every other session of the account is signed out."""
    if not verify_password(user.password_hash, current or ""):
        raise InvalidInput(
            "That is not your current password. Type it again, or sign out and use "
            "'Forgot your password?'.",
            field="current",
        )
    if len(new or "") < MIN_LENGTH:
        raise InvalidInput(
            f"Choose a password of at least {MIN_LENGTH} characters.", field="password"
        )
    if new == current:
        raise InvalidInput(
            "The new password is your current one. Choose another.", field="password"
        )
    user.password_hash = hash_password(new)
    user.end_other_sessions()
    session.flush()
    return user
