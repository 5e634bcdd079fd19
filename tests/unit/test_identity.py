"""Recognising members: check digits, signed QR tokens, phone and e-mail normalising."""

from __future__ import annotations

import random

import pytest

from loyalty.errors import InvalidCardNumber, InvalidInput, InvalidToken
from loyalty.identity import (
    CARD_DIGITS,
    format_card_number,
    looks_like_card_number,
    luhn_check_digit,
    make_qr_token,
    new_card_number,
    new_qr_secret,
    normalize_email,
    normalize_phone,
    parse_card_number,
    parse_qr_token,
    search_key,
    verify_qr_signature,
)

SECRET = b"test-secret-key"


def _card(body: str) -> str:
    return body + luhn_check_digit(body)


_rng = random.Random(20240601)  # fixed seed: the same numbers, and test ids, on every run
# Fixed numbers (zeros next to nines, where Luhn is weakest) and a few pseudo-random ones.
CARDS = [
    "123456789015",
    _card("40909090909"),
    _card("99999999999"),
    _card("10000000000"),
    *(_card(str(_rng.randrange(10**10, 10**11))) for _ in range(10)),
]


def _verify(token: str, *, merchant_id: int, qr_secret: str, secret_key: bytes = SECRET) -> bool:
    _, member_id, signature = parse_qr_token(token)
    return verify_qr_signature(
        secret_key,
        merchant_id=merchant_id,
        member_id=member_id,
        qr_secret=qr_secret,
        signature=signature,
    )


# --- card numbers ------------------------------------------------------------------------


def test_luhn_check_digit_matches_the_textbook_example():
    assert luhn_check_digit("7992739871") == "3"  # the example from ISO/IEC 7812


@pytest.mark.parametrize("card", CARDS)
def test_card_numbers_pass_their_own_check(card):
    assert len(card) == CARD_DIGITS
    assert parse_card_number(card) == card


def test_new_card_numbers_have_twelve_digits_and_no_leading_zero():
    for _ in range(200):
        card = new_card_number()
        assert len(card) == 12
        assert card.isdigit()
        assert card[0] != "0"


@pytest.mark.parametrize("card", CARDS)
def test_check_digit_catches_every_single_digit_typo(card):
    for position in range(len(card)):
        for digit in "0123456789":
            if digit == card[position]:
                continue
            typo = card[:position] + digit + card[position + 1 :]
            with pytest.raises(InvalidCardNumber, match="mistyped"):
                parse_card_number(typo)


@pytest.mark.parametrize("card", CARDS)
def test_check_digit_catches_adjacent_transpositions_except_09_and_90(card):
    for position in range(len(card) - 1):
        a, b = card[position], card[position + 1]
        if a == b:
            continue
        swapped = card[:position] + b + a + card[position + 2 :]
        if {a, b} == {"0", "9"}:
            # Luhn's known blind spot: 09 <-> 90 keeps the same sum.
            assert parse_card_number(swapped) == swapped
        else:
            with pytest.raises(InvalidCardNumber):
                parse_card_number(swapped)


def test_format_card_number_groups_by_four():
    assert format_card_number("123456789015") == "1234 5678 9015"


@pytest.mark.parametrize(
    "typed",
    ["1234 5678 9015", "1234-5678-9015", "1234.5678.9015", "  123456789015 ", "1234 - 5678 - 9015"],
)
def test_parse_card_number_accepts_spaces_dashes_and_dots(typed):
    assert parse_card_number(typed) == "123456789015"


def test_format_then_parse_round_trips():
    for card in CARDS:
        assert parse_card_number(format_card_number(card)) == card


@pytest.mark.parametrize("typed", ["12345678901", "1234567890155", "1234 5678 901A", "", "card"])
def test_parse_card_number_refuses_the_wrong_shape_saying_how_many_digits(typed):
    with pytest.raises(InvalidCardNumber, match="12 digits"):
        parse_card_number(typed)


@pytest.mark.parametrize("typed", ["1²3456789015", "１２３４５６７８９０１５", "١٢٣٤٥٦٧٨٩٠١٥"])
def test_parse_card_number_refuses_non_ascii_digits_with_a_message(typed):
    with pytest.raises(InvalidCardNumber):
        parse_card_number(typed)


def test_parse_card_number_of_nothing_is_a_refusal_not_a_crash():
    with pytest.raises(InvalidCardNumber):
        parse_card_number(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1234 5678 9015", True),
        ("1234-5678-9015", True),
        ("123456789015", True),
        ("+352 621 123 456", False),
        ("621123456", False),
        ("alice@example.com", False),
        ("1234 5678 90155", False),
    ],
)
def test_looks_like_card_number(typed, expected):
    assert looks_like_card_number(typed) is expected


# --- QR tokens ---------------------------------------------------------------------------


def test_qr_token_round_trips():
    qr_secret = new_qr_secret()
    token = make_qr_token(SECRET, merchant_id=7, member_id=42, qr_secret=qr_secret)
    assert token.startswith("LY1.7.42.")
    merchant_id, member_id, signature = parse_qr_token(token)
    assert (merchant_id, member_id) == (7, 42)
    assert verify_qr_signature(
        SECRET, merchant_id=7, member_id=42, qr_secret=qr_secret, signature=signature
    )


def test_qr_token_with_a_forged_signature_is_refused():
    qr_secret = new_qr_secret()
    token = make_qr_token(SECRET, merchant_id=7, member_id=42, qr_secret=qr_secret)
    head, signature = token.rsplit(".", 1)
    forged = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not _verify(forged, merchant_id=7, qr_secret=qr_secret)


def test_qr_token_with_another_member_id_is_refused():
    qr_secret = new_qr_secret()
    token = make_qr_token(SECRET, merchant_id=7, member_id=42, qr_secret=qr_secret)
    tampered = token.replace("LY1.7.42.", "LY1.7.43.")
    assert not _verify(tampered, merchant_id=7, qr_secret=qr_secret)


def test_qr_token_of_another_merchant_id_is_refused():
    qr_secret = new_qr_secret()
    token = make_qr_token(SECRET, merchant_id=7, member_id=42, qr_secret=qr_secret)
    moved = token.replace("LY1.7.", "LY1.8.")
    assert not _verify(moved, merchant_id=8, qr_secret=qr_secret)


def test_rotating_the_member_secret_invalidates_old_tokens():
    old_secret = new_qr_secret()
    token = make_qr_token(SECRET, merchant_id=7, member_id=42, qr_secret=old_secret)
    assert not _verify(token, merchant_id=7, qr_secret=new_qr_secret())


def test_a_token_signed_with_another_platform_key_is_refused():
    qr_secret = new_qr_secret()
    token = make_qr_token(b"another-key", merchant_id=7, member_id=42, qr_secret=qr_secret)
    assert not _verify(token, merchant_id=7, qr_secret=qr_secret)


@pytest.mark.parametrize(
    "scanned",
    [
        "",
        "hello",
        "LY1.7.42",
        "LY2.7.42.sig",
        "LY1.x.42.sig",
        "LY1.7.-4.sig",
        "LY1.².42.sig",
        "LY1.7." + "9" * 30 + ".sig",
        "LY1.7.2147483648.sig",  # beyond a database integer
        "LY1.99999999999.42.sig",
    ],
)
def test_parse_qr_token_refuses_what_is_not_a_loyalty_card(scanned):
    with pytest.raises(InvalidToken, match="not a loyalty card"):
        parse_qr_token(scanned)


# --- phone numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "country", "expected"),
    [
        ("621 123 456", "LU", "+352621123456"),
        ("+352 621 123 456", "LU", "+352621123456"),
        ("00352 621 123 456", "LU", "+352621123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "fr", "+33612345678"),
        ("+33 6 12 34 56 78", "LU", "+33612345678"),
        ("+352 621 123 456", "FR", "+352621123456"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(typed, country, expected):
    assert normalize_phone(typed, country) == expected


def test_phone_default_country_is_luxembourg():
    assert normalize_phone("621 123 456") == "+352621123456"


@pytest.mark.parametrize(
    ("typed", "country"),
    [("123", "LU"), ("abc", "LU"), ("", "LU"), ("06 12 34 56 78", "LU"), ("+33 1", "FR")],
)
def test_invalid_phone_numbers_are_refused_with_a_clear_message(typed, country):
    with pytest.raises(InvalidInput, match="is not a valid phone number") as caught:
        normalize_phone(typed, country)
    assert caught.value.field == "phone"
    assert "country code" in caught.value.message


# --- e-mail and names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM ", "alice@example.com"),
        ("ALICE.DUPONT+loyalty@EXAMPLE.lu", "alice.dupont+loyalty@example.lu"),
    ],
)
def test_email_addresses_are_lower_cased_and_trimmed(typed, expected):
    assert normalize_email(typed) == expected


@pytest.mark.parametrize(
    "typed",
    ["", "alice", "alice@", "@example.com", "alice@example", "al ice@example.com", "a@@b.com"],
)
def test_invalid_email_addresses_are_refused_with_a_clear_message(typed):
    with pytest.raises(InvalidInput, match="is not a valid e-mail address") as caught:
        normalize_email(typed)
    assert caught.value.field == "email"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Éloïse", "eloise"),
        ("  François Müller ", "francois muller"),
        ("JOSÉ", "jose"),
        ("Ångström", "angstrom"),
        ("", ""),
    ],
)
def test_search_key_strips_accents_and_case(name, key):
    assert search_key(name) == key


def test_a_stored_phone_number_is_shown_as_people_write_it():
    from loyalty.identity import format_phone

    assert format_phone("+352621555321") == "+352 621 555 321"
    assert format_phone("+33612345678") == "+33 6 12 34 56 78"
    assert format_phone("not a number") == "not a number"
    assert format_phone(None) == ""
