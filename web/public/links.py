"""Addresses customers follow: join page, member page links, Telegram deep link, wallet buttons."""

from __future__ import annotations

import os

from flask import current_app, url_for

from loyalty.models import LoyaltyMember, LoyaltyProgram
from wallet.links import links_for

DEFAULT_BOT_USERNAME = "LoyaltyDemoBot"


def telegram_bot_username() -> str:
    """The platform bot's @username (without @), from TELEGRAM_BOT_USERNAME."""
    configured = current_app.config.get("TELEGRAM_BOT_USERNAME") or os.environ.get(
        "TELEGRAM_BOT_USERNAME", ""
    )
    return configured.strip().lstrip("@") or DEFAULT_BOT_USERNAME


def telegram_join_link(program: LoyaltyProgram) -> str:
    return f"https://t.me/{telegram_bot_username()}?start=join_{program.join_code}"


def base_url() -> str:
    """Where links in messages point: the configured public address, not this request's host."""
    return current_app.config.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")


def absolute(endpoint: str, **values: object) -> str:
    return base_url() + url_for(endpoint, **values)


def join_url(program: LoyaltyProgram) -> str:
    return absolute("public.join", slug=program.slug)


def member_page_url(program: LoyaltyProgram) -> str:
    return absolute("public.card", slug=program.slug)


def sign_in_link_url(program: LoyaltyProgram, token: str) -> str:
    return absolute("public.open_link", slug=program.slug, token=token)


def wallet_links(member: LoyaltyMember, *, external: bool = False) -> dict[str, str]:
    """Apple, Google and QR links; relative to this site for pages, absolute for messages."""
    secret_key = current_app.config["SECRET_KEY"]
    return links_for(member, secret_key=secret_key, base_url=base_url() if external else "")
