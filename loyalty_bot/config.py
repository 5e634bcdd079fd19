"""The bot's settings, read once from the environment (and `.env` for local use)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

from loyalty_bot.dialogue import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BotConfig:
    database_url: str
    secret_key: bytes
    public_base_url: str
    telegram_token: str  # the platform bot's token; "" runs no Telegram bot
    telegram_webhook_url: str  # public HTTPS URL Telegram posts to; "" long-polls instead
    telegram_webhook_secret: str  # X-Telegram-Bot-Api-Secret-Token expected on each update
    telegram_listen: str
    telegram_port: int
    telegram_api_base: str  # "" is Telegram's; tests point it at a local fake
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_api_base: str
    twilio_public_url: str  # the URL Twilio calls, when a proxy rewrites the one Flask sees

    def dialogue_settings(self) -> Settings:
        return Settings(secret_key=self.secret_key, public_base_url=self.public_base_url)


def load(env: dict[str, str] | None = None) -> BotConfig:
    if env is None:
        load_dotenv(ROOT / ".env", override=False)
        env = dict(os.environ)
    # The web app's own rules for the database URL and the secret key (generated in
    # development, required in production): QR codes and card links must verify in both.
    from web.config import database_url, from_env

    web = from_env(env)
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    webhook_url = env.get("TELEGRAM_WEBHOOK_URL", "").strip()
    if webhook_url and token and not secret:
        raise RuntimeError(
            "TELEGRAM_WEBHOOK_SECRET must be set with TELEGRAM_WEBHOOK_URL: without it anyone "
            "could post fake updates to the webhook. Use 1-256 characters A-Z, a-z, 0-9, _ or -."
        )
    return BotConfig(
        database_url=database_url(env.get("DATABASE_URL")),
        secret_key=str(web["SECRET_KEY"]).encode(),
        public_base_url=str(web["PUBLIC_BASE_URL"]).rstrip("/"),
        telegram_token=token,
        telegram_webhook_url=webhook_url,
        telegram_webhook_secret=secret,
        telegram_listen=env.get("TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1"),
        telegram_port=int(env.get("TELEGRAM_WEBHOOK_PORT") or env.get("PORT") or 8443),
        telegram_api_base=env.get("TELEGRAM_API_BASE", "").strip().rstrip("/"),
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", "").strip(),
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", "").strip(),
        twilio_api_base=env.get("TWILIO_API_BASE", "").strip().rstrip("/"),
        twilio_public_url=env.get("TWILIO_PUBLIC_URL", "").strip().rstrip("/"),
    )
