"""A programme's colours on its public pages, corrected when they would be hard to read.

Merchants pick colours for their brand, not for legibility: a pale yellow button with white
text fails WCAG's 4.5:1. The pages keep the hue and darken (or lighten) it until text reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loyalty.models import LoyaltyProgram
from wallet.content import branding_of

AA_NORMAL_TEXT = 4.5
WHITE = "#ffffff"
BODY_TEXT = "#212529"  # Bootstrap's body colour
_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def parse_hex(value: str | None, default: str) -> tuple[int, int, int]:
    match = _HEX.fullmatch((value or "").strip())
    if match is None:
        match = _HEX.fullmatch(default)
        assert match is not None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    la, lb = _luminance(parse_hex(a, "#000")), _luminance(parse_hex(b, "#000"))
    light, dark = max(la, lb), min(la, lb)
    return (light + 0.05) / (dark + 0.05)


def _mix(rgb: tuple[int, int, int], towards: tuple[int, int, int], share: float):
    return tuple(c + (t - c) * share for c, t in zip(rgb, towards, strict=True))


def readable_against(colour: str, text: str, *, towards: str) -> str:
    """`colour`, moved towards black or white in small steps until `text` on it reads (AA)."""
    rgb = parse_hex(colour, "#000")
    target = parse_hex(towards, "#000")
    for step in range(21):
        candidate = to_hex(_mix(rgb, target, step / 20))  # type: ignore[arg-type]
        if contrast_ratio(candidate, text) >= AA_NORMAL_TEXT:
            return candidate
    return towards


@dataclass(frozen=True)
class Theme:
    primary: str  # buttons, header: white text on it
    primary_dark: str  # hover
    soft: str  # page tint: body text on it
    corrected: bool  # a colour was changed for legibility
    logo_url_slug: str


def theme_for(program: LoyaltyProgram) -> Theme:
    branding, _ = branding_of(program.merchant, program)
    chosen_primary = to_hex(parse_hex(branding.primary, "#7a4b2a"))
    chosen_soft = to_hex(parse_hex(branding.secondary, "#f5efe6"))
    primary = readable_against(chosen_primary, WHITE, towards="#000000")
    soft = readable_against(chosen_soft, BODY_TEXT, towards="#ffffff")
    dark = to_hex(_mix(parse_hex(primary, "#000"), (0, 0, 0), 0.2))  # type: ignore[arg-type]
    return Theme(
        primary=primary,
        primary_dark=dark,
        soft=soft,
        corrected=(primary, soft) != (chosen_primary, chosen_soft),
        logo_url_slug=program.slug,
    )


def theme_css(theme: Theme) -> str:
    r, g, b = parse_hex(theme.primary, "#000")
    return f"""/* Programme colours, contrast-corrected (WCAG AA) on the server. */
:root {{
  --brand: {theme.primary};
  --brand-dark: {theme.primary_dark};
  --brand-soft: {theme.soft};
  --bs-link-color: {theme.primary};
  --bs-link-color-rgb: {r}, {g}, {b};
  --bs-link-hover-color: {theme.primary_dark};
  --bs-focus-ring-color: rgba({r}, {g}, {b}, 0.35);
}}
.btn-primary, .btn-outline-primary {{ --bs-btn-focus-shadow-rgb: {r}, {g}, {b}; }}
"""
