"""Campaign message templates: the placeholders they may use, checking them, rendering, SMS length.

A template is plain text with `{first_name}`-style placeholders, written by a shop owner, so
it is checked before it is saved (an unknown name or a stray brace is a form error, never a
message that fails at 3 a.m.) and rendered with `str.format_map` over known values only.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass

from loyalty.errors import InvalidInput

PLACEHOLDERS: dict[str, str] = {
    "first_name": "the member's first name",
    "points": "their points balance",
    "tier": "their tier",
    "reward": "the attached reward, else the best reward they can afford (on a stamp card: "
    "the card's reward)",
    "expiry_date": "when their next points expire",
    "shop": "the shop they last visited",
}

# The line under a message field that says what it may use.
PLACEHOLDER_HINT = "Placeholders: " + " ".join("{" + name + "}" for name in PLACEHOLDERS) + "."

# What a preview shows in place of each placeholder.
SAMPLE = {
    "first_name": "Marie",
    "points": "1,250",
    "tier": "Gold",
    "reward": "Free coffee",
    "expiry_date": "31 Dec 2026",
    "shop": "Main street",
}

MAX_TEMPLATE = 2000

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def placeholders_in(template: str) -> list[str]:
    """The placeholder names a template uses, in order; raises InvalidInput on broken braces."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise InvalidInput(
            "A { or } has no partner. Write placeholders as {first_name}; "
            "for a brace itself, type it twice: {{ or }}.",
            field="message",
        ) from None
    return [name for _text, name, _spec, _conv in parsed if name is not None]


def validate(template: str, *, field: str = "message") -> str:
    """The template, stripped, if every placeholder is known; a readable InvalidInput if not."""
    template = (template or "").strip()
    if not template:
        raise InvalidInput("Write the message.", field=field)
    if len(template) > MAX_TEMPLATE:
        raise InvalidInput(
            f"The message is {len(template)} characters; at most {MAX_TEMPLATE}.", field=field
        )
    try:
        names = placeholders_in(template)
    except InvalidInput as error:
        raise InvalidInput(error.message, field=field) from None
    known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    for name in names:
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}" if name else "{}"
            raise InvalidInput(f"Unknown placeholder {shown}. You can use: {known}.", field=field)
    # Format specs ({points:>5}) and conversions ({tier!r}) would be a second language.
    for _text, name, spec, conversion in string.Formatter().parse(template):
        if name is not None and (spec or conversion):
            raise InvalidInput(
                f"Write the placeholder as {{{name}}}, without : or ! after the name.",
                field=field,
            )
    return template


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, values: Mapping[str, object]) -> str:
    """The template with the member's values; a missing value renders as nothing."""
    return template.format_map(_Values({k: "" if v is None else str(v) for k, v in values.items()}))


@dataclass(frozen=True)
class SmsLength:
    characters: int
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    per_segment: int  # characters per segment at this length


def sms_length(text: str) -> SmsLength:
    """How many SMS parts a text needs: 160/153 septets in GSM-7, else 70/67 UTF-16 units."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2  # emoji count twice (surrogate pairs)
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        return SmsLength(units, encoding, 1 if units else 0, single)
    return SmsLength(units, encoding, math.ceil(units / multi), multi)
