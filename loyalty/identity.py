"""How members are recognised: card numbers with a check digit, signed QR tokens, phone and e-mail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from loyalty.errors import InvalidCardNumber, InvalidInput, InvalidToken

CARD_DIGITS = 12  # 11 random digits and a Luhn check digit
TOKEN_PREFIX = "LY1"
MAX_ID = 2**31 - 1


# --- card numbers -------------------------------------------------------------------------


def luhn_check_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: the check digit will sit to their right
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    # The body drawn as one number without a leading zero (the card survives spreadsheets):
    # 3 µs where a draw per digit took 15, which counts in an import of 200,000 members.
    smallest = 10 ** (CARD_DIGITS - 2)
    body = str(smallest + secrets.randbelow(9 * smallest))
    return body + luhn_check_digit(body)


def format_card_number(card_number: str) -> str:
    return " ".join(card_number[i : i + 4] for i in range(0, len(card_number), 4))


def parse_card_number(raw: str) -> str:
    """Accept '1234 5678 9012' or '1234-5678-9012'; refuse anything a typo could have produced."""
    raw = raw or ""
    digits = re.sub(r"[\s\-.]", "", raw)
    # ASCII only: str.isdigit() also accepts '²', which int() then refuses with a crash.
    if not re.fullmatch(rf"[0-9]{{{CARD_DIGITS}}}", digits):
        raise InvalidCardNumber(
            f"A card number has {CARD_DIGITS} digits; '{raw.strip()}' does not look like one."
        )
    if luhn_check_digit(digits[:-1]) != digits[-1]:
        raise InvalidCardNumber(
            f"Card number {format_card_number(digits)} is not valid: a digit is probably "
            "mistyped. Check the number on the card."
        )
    return digits


def looks_like_card_number(raw: str) -> bool:
    return bool(re.fullmatch(r"[\d\s\-.]{12,17}", raw or "")) and len(re.sub(r"\D", "", raw)) == 12


# --- QR tokens ----------------------------------------------------------------------------


def new_qr_secret() -> str:
    return secrets.token_hex(16)


def _signature(secret_key: bytes, qr_secret: str, merchant_id: int, member_id: int) -> str:
    key = secret_key + b"|" + qr_secret.encode()
    digest = hmac.new(key, f"{merchant_id}.{member_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def make_qr_token(secret_key: bytes, *, merchant_id: int, member_id: int, qr_secret: str) -> str:
    sig = _signature(secret_key, qr_secret, merchant_id, member_id)
    return f"{TOKEN_PREFIX}.{merchant_id}.{member_id}.{sig}"


def parse_qr_token(token: str) -> tuple[int, int, str]:
    """Split a token into (merchant id, member id, signature); the caller verifies it."""
    parts = (token or "").strip().split(".")
    if (
        len(parts) != 4
        or parts[0] != TOKEN_PREFIX
        or not all(re.fullmatch(r"[0-9]{1,10}", part) for part in parts[1:3])
        # Ids are 32-bit integer columns: a bigger one cannot be ours, and PostgreSQL would
        # refuse it in the lookup with an error instead of an answer.
        or max(int(parts[1]), int(parts[2])) > MAX_ID
    ):
        raise InvalidToken(
            "This code is not a loyalty card. Scan the QR code on the member's card."
        )
    return int(parts[1]), int(parts[2]), parts[3]


def verify_qr_signature(
    secret_key: bytes, *, merchant_id: int, member_id: int, qr_secret: str, signature: str
) -> bool:
    expected = _signature(secret_key, qr_secret, merchant_id, member_id)
    return hmac.compare_digest(expected, signature)


# --- phone, e-mail, names -----------------------------------------------------------------


def normalize_phone(raw: str, default_country: str = "LU") -> str:
    """Return the number in E.164, reading national numbers in the merchant's country."""
    try:
        number = phonenumbers.parse((raw or "").strip(), default_country.upper())
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            f"'{(raw or '').strip()}' is not a valid phone number. Include the country code, "
            "for example +352 621 123 456.",
            field="phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(stored: str | None) -> str:
    """A stored E.164 number as people write it: '+352621555321' -> '+352 621 555 321'."""
    if not stored:
        return ""
    try:
        number = phonenumbers.parse(stored, None)
    except phonenumbers.NumberParseException:
        return stored
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalize_email(raw: str) -> str:
    """Lower-cased and checked for shape (no DNS lookups: tests and tills work offline)."""
    try:
        result = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"'{(raw or '').strip()}' is not a valid e-mail address: {exc}", field="email"
        ) from exc
    return result.normalized.lower()


def search_key(name: str) -> str:
    """Lower-case, accent-free form used for name prefix search ('Éloïse' -> 'eloise')."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()
