"""Random tokens for single-use links: the link carries the token, the database only its hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime


def new_token() -> tuple[str, str]:
    """(token for the link, SHA-256 hex to store). 256 random bits: nothing to guess."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256((token or "").encode()).hexdigest()


def when(moment: datetime) -> str:
    """How a link's expiry reads in a message: UTC, day and time."""
    return moment.strftime("%d %b %Y at %H:%M UTC")
