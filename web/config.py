"""Configuration, read once from the environment (and `.env` for local use)."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def database_url(raw: str | None) -> str:
    """Default to the embedded SQLite file; accept Heroku-style postgres:// URLs."""
    if not raw:
        INSTANCE.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE / 'loyalty.db'}"
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw[len("postgresql://") :]
    return raw


def _dev_secret_key() -> str:
    """A per-checkout key kept under instance/, so local sessions survive restarts."""
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def local_base_url(env: Mapping[str, str]) -> str:
    """PUBLIC_BASE_URL's default: the web process on this machine. `make run` passes its port
    as WEB_PORT (honcho gives each process a PORT of its own: the worker's and bot's are not it)."""
    return f"http://127.0.0.1:{env.get('WEB_PORT') or 5000}"


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    if env is None:
        load_dotenv(ROOT / ".env", override=False)  # real environment variables win
        env = dict(os.environ)
    production = env.get("LOYALTY_ENV", "development") == "production"
    secret_key = env.get("SECRET_KEY")
    if not secret_key:
        if production:
            raise RuntimeError("SECRET_KEY must be set when LOYALTY_ENV=production.")
        secret_key = _dev_secret_key()
    return {
        "LOYALTY_ENV": "production" if production else "development",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL")),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # Pooled connections idle longer than this are checked before use (loyalty.db).
        "DB_PING_AFTER_IDLE": float(env.get("DB_PING_AFTER_IDLE", "1")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag(env, "SECURE_COOKIES", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": _flag(env, "SECURE_COOKIES", production),
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": int(env.get("SESSION_LIFETIME_SECONDS", 12 * 3600)),
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead; a till stays open all day
        # memory:// counts per process; with several gunicorn workers use redis://127.0.0.1:6379.
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # Requests per API key (web/api); a limits string such as "100 per second".
        "API_RATE_LIMIT": env.get("API_RATE_LIMIT", "100 per second"),
        "BOOTSTRAP_SERVE_LOCAL": True,
        # A session cookie replayed from another address or browser is thrown away.
        "SESSION_PROTECTION": "strong",
        # How many trusted proxies sit in front (the login limit counts per client address).
        "PROXY_FIX_HOPS": int(env.get("PROXY_FIX_HOPS", "0")),
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL") or local_base_url(env),
        # Reward pictures and white-label logos (re-encoded PNGs); shared storage when several
        # web servers run on different machines.
        "UPLOAD_FOLDER": env.get("UPLOAD_FOLDER") or str(INSTANCE / "uploads"),
        # Member CSV uploads wait here for their import; the import steps read them from disk,
        # so with several web servers this must be shared storage too.
        "MEMBER_IMPORT_DIR": env.get("MEMBER_IMPORT_DIR") or str(INSTANCE / "imports"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # Sign-up, password reset and invitation forms allowed per client address.
        "ACCOUNT_FORM_RATE_LIMIT": env.get("ACCOUNT_FORM_RATE_LIMIT", "10 per minute;50 per hour"),
    }


def test_config(database_uri: str) -> dict[str, Any]:
    """What the test suite runs with: a fixed key, no CSRF on the client, the given database."""
    config = from_env({"SECRET_KEY": "test-secret-key", "DATABASE_URL": database_uri})
    config.update(
        TESTING=True,
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=False,
        SQLALCHEMY_ENGINE_OPTIONS={},
        DB_PING_AFTER_IDLE=None,
        UPLOAD_FOLDER=tempfile.mkdtemp(prefix="loyalty-test-uploads-"),
        MEMBER_IMPORT_DIR=tempfile.mkdtemp(prefix="loyalty-test-imports-"),
    )
    return config
