"""What a queued message says: subject, text and HTML of an e-mail, or the text of an SMS.

Rendered from the outbox payload alone, so the worker's sender, the local log and tests all
show the same words. Jinja2 without Flask: the core stays free of the web.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape

from loyalty.identity import format_card_number
from loyalty.models import OutboxMessage

SUBJECTS = {
    "welcome": "Welcome to {program}: your card {card}",
    "sign_in_link": "Your link to your {program} card",
    "staff_invitation": "{program}: you are invited to join the team",
    "password_reset": "Reset your {program} password",
}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["card_number"] = format_card_number
    return env


_ENV = _environment()


def _context(payload: dict[str, Any]) -> dict[str, Any]:
    # Messages queued by other surfaces (the bot's welcome) may lack the web's links.
    return {"links": {}, "name": "", "signup_bonus": 0, "unit": "points", **payload}


def has_template(template: str) -> bool:
    return template in SUBJECTS


def render_email(template: str, payload: dict[str, Any]) -> RenderedEmail:
    context = _context(payload)
    subject = SUBJECTS[template].format(
        program=context.get("program", ""),
        card=format_card_number(context.get("card_number", "")),
    )
    return RenderedEmail(
        subject=subject,
        text=_ENV.get_template(f"{template}.txt").render(context),
        html=_ENV.get_template(f"{template}.html").render(context),
    )


def render_sms(template: str, payload: dict[str, Any]) -> str:
    return _ENV.get_template(f"{template}.sms.txt").render(_context(payload)).strip()


def build_email(message: OutboxMessage, *, sender: str) -> EmailMessage:
    """The MIME message an SMTP sender delivers: text first, HTML as the alternative."""
    rendered = render_email(message.template, message.payload)
    email = EmailMessage()
    email["Subject"] = rendered.subject
    email["From"] = sender
    email["To"] = message.address
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    email.set_content(rendered.text)
    email.add_alternative(rendered.html, subtype="html")
    return email
