"""The words of a queued message for each channel: one renderer per template, shared by every sender.

E-mail templates with files under `templates/` (welcome, sign-in link) render there; a message
that carries its own `text` (the bot's link code) is sent as written; the short notices below
cover the rest until they get templates of their own.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from loyalty.models import OutboxMessage
from loyalty.money import euros
from loyalty.notify import templates

NOTICES = {
    "points_changed": "{program}: {points:+d} points{at_shop}. Balance: {balance} points.{carry}",
    "voucher_used": "{program}: voucher {code} was used{at_shop}.",
    "receipt": "{program} receipt{at_shop}: {points:+d} points. Balance: {balance} points.{carry}",
    "link_code": "{program}: your code is {code}.",
    "tier_changed": "{program}: your tier is now {tier}.",
    "birthday_bonus": "{program}: happy birthday! {points} {unit} are on your card.",
    "expiry_warning": "{program}: {points} of your {unit} expire on {expiry_date}. "
    "Use them before then.",
}
SUBJECTS = {
    "points_changed": "{program}: your {unit}",
    "voucher_used": "{program}: voucher used",
    "receipt": "{program}: your receipt",
    "link_code": "{program}: your code",
    "tier_changed": "{program}: your tier",
    "birthday_bonus": "{program}: happy birthday",
    "expiry_warning": "{program}: your {unit} expire on {expiry_date}",
    "webhook_disabled": "{program}: webhook endpoint disabled",
}


# A stamp card's notices show the card itself instead of a points balance.
STAMP_NOTICES = {
    "points_changed": "{program}: {points:+d} stamp{plural}{at_shop}. {grid} {summary}{vouchers}",
    "receipt": "{program} receipt{at_shop}: {points:+d} stamp{plural}. {grid} {summary}{vouchers}",
}


def _stamp_text(template: str, payload: dict[str, Any]) -> str | None:
    card = payload.get("stamps")
    pattern = STAMP_NOTICES.get(template)
    if not isinstance(card, dict) or pattern is None:
        return None
    fields = _fields(payload)
    codes = [str(code) for code in card.get("vouchers") or []]
    fields.update(
        plural="" if abs(fields["points"]) == 1 else "s",
        grid=str(card.get("grid", "")),
        summary=str(card.get("summary", "")),
        vouchers=(
            f" Full card! Your voucher for {card.get('reward', 'the reward')}: {', '.join(codes)}."
            if codes
            else ""
        ),
    )
    return pattern.format_map(fields).strip()


class _Blank(dict):
    def __missing__(self, key: str) -> Any:
        return 0 if key in ("points", "balance") else ""


def _fields(payload: dict[str, Any]) -> _Blank:
    fields = _Blank(payload)
    fields["at_shop"] = f" at {payload['shop']}" if payload.get("shop") else ""
    # A stamp card's messages say "stamps"; older queued messages carry no unit: points.
    stamped = payload.get("unit") == "stamps" or isinstance(payload.get("stamps"), dict)
    fields["unit"] = "stamps" if stamped else "points"
    carry = payload.get("carry_cents")
    fields["carry"] = (
        f" {euros(carry, payload.get('currency'))} towards your next point."
        if isinstance(carry, int) and carry
        else ""
    )
    for number in ("points", "balance"):
        try:
            fields[number] = int(payload.get(number) or 0)
        except (TypeError, ValueError):
            fields[number] = 0
    return fields


def short_text(message: OutboxMessage) -> str:
    """The text of an SMS or a Telegram message."""
    payload = message.payload or {}
    if payload.get("text"):
        return str(payload["text"])
    if templates.has_template(message.template):
        return templates.render_sms(message.template, payload)
    stamped = _stamp_text(message.template, payload)
    if stamped is not None:
        return stamped
    pattern = NOTICES.get(message.template, "{program}: " + message.template.replace("_", " "))
    return pattern.format_map(_fields(payload)).strip()


def email_message(message: OutboxMessage, *, sender: str) -> EmailMessage:
    """The MIME message an SMTP server receives."""
    if templates.has_template(message.template):
        return templates.build_email(message, sender=sender)
    payload = message.payload or {}
    if payload.get("subject"):  # written for this message (a campaign): sent as it is
        subject = str(payload["subject"])
    else:
        subject = SUBJECTS.get(message.template, "{program}").format_map(_fields(payload))
    email = EmailMessage()
    email["Subject"] = subject.strip(": ") or "Your loyalty card"
    email["From"] = sender
    email["To"] = message.address
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    email.set_content(short_text(message) + "\n")
    return email


def preview(message: OutboxMessage) -> dict[str, str]:
    """What the local log keeps: the subject (e-mail) and the text a person would read."""
    if message.channel == "email":
        email = email_message(message, sender="local-log@localhost")
        body = email.get_body(preferencelist=("plain",))
        return {"subject": str(email["Subject"]), "text": body.get_content() if body else ""}
    return {"text": short_text(message)}
