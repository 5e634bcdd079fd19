"""Campaign templates: placeholder checking, rendering and SMS segment counting (GSM-7 vs UCS-2)."""

from __future__ import annotations

import pytest

from loyalty.errors import InvalidInput
from loyalty.notify.campaign_texts import render, sms_length, validate


def test_known_placeholders_pass_validation() -> None:
    text = "Hi {first_name}, {points} pts ({tier}). {reward} until {expiry_date} at {shop}. {{ok}}"
    assert validate(f"  {text} ") == text


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("Hi {firstname}", "Unknown placeholder {firstname}"),
        ("Hi {}", "Unknown placeholder {}"),
        ("Hi {first_name", "has no partner"),
        ("50% off }", "has no partner"),
        ("{points:>5}", "without : or !"),
        ("", "Write the message"),
        ("x" * 2001, "at most 2000"),
    ],
)
def test_bad_templates_get_a_clear_message(template: str, says: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate(template, field="message_sms")
    assert says in error.value.message
    assert error.value.field == "message_sms"


def test_render_fills_known_values_and_blanks_missing_ones() -> None:
    assert render("Hi {first_name}, {points} at {shop}", {"first_name": "Ana", "points": 5}) == (
        "Hi Ana, 5 at "
    )


def test_gsm7_text_fits_160_characters_in_one_segment() -> None:
    assert sms_length("a" * 160) == sms_length("a" * 160).__class__(160, "GSM-7", 1, 160)
    assert sms_length("a" * 161).segments == 2
    assert sms_length("a" * 306).segments == 2
    assert sms_length("a" * 307).segments == 3


def test_gsm7_extension_characters_count_twice() -> None:
    length = sms_length("€" * 80)
    assert (length.encoding, length.characters, length.segments) == ("GSM-7", 160, 1)
    assert sms_length("€" * 81).segments == 2


def test_one_character_outside_gsm7_switches_to_ucs2() -> None:
    assert sms_length("ç" * 70) == sms_length("ç" * 70).__class__(70, "UCS-2", 1, 70)
    assert sms_length("a" * 70 + "ł").segments == 2  # 71 units: 67 per segment
    assert sms_length("🎉" * 35).characters == 70  # emoji take two UTF-16 units
    assert sms_length("").segments == 0
