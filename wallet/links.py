"""Signed, expiring links that give a member their pass: Apple .pkpass, Google save link, QR PNG.

The welcome message, the member page and the bot put these in front of the customer. They carry
only the member id and the platform, signed with the app's SECRET_KEY; nothing to guess.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from loyalty.errors import InvalidToken
from loyalty.models import LoyaltyMember

SALT = "wallet-pass-link"
KINDS = {"apple": "a", "google": "g", "qr": "q"}


def _serializer(secret_key: bytes | str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def link_token(member: LoyaltyMember, kind: str, secret_key: bytes | str) -> str:
    return _serializer(secret_key).dumps([member.id, KINDS[kind]])


def read_link_token(token: str, kind: str, secret_key: bytes | str, max_age: int) -> int:
    """The member id in a link of `kind`, or InvalidToken with a message for the customer."""
    try:
        member_id, code = _serializer(secret_key).loads(token, max_age=max_age)
    except SignatureExpired:
        raise InvalidToken(
            "This card link has expired. Ask for a new one: send CARD by SMS or /card to the bot."
        ) from None
    except (BadSignature, ValueError, TypeError):
        raise InvalidToken("This card link is not valid. Ask for a new one.") from None
    if code != KINDS[kind] or not isinstance(member_id, int):
        raise InvalidToken("This card link is not valid. Ask for a new one.")
    return member_id


def _url(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}{path}"


def apple_pass_url(member: LoyaltyMember, *, secret_key: bytes | str, base_url: str) -> str:
    """'Add to Apple Wallet': downloads the member's .pkpass."""
    return _url(base_url, f"/wallet/pass/{link_token(member, 'apple', secret_key)}.pkpass")


def google_save_url(member: LoyaltyMember, *, secret_key: bytes | str, base_url: str) -> str:
    """'Add to Google Wallet': redirects to Google's save page with a freshly signed JWT."""
    return _url(base_url, f"/wallet/google/{link_token(member, 'google', secret_key)}")


def qr_png_url(member: LoyaltyMember, *, secret_key: bytes | str, base_url: str) -> str:
    """The card's QR code as a plain PNG, for customers without a wallet app."""
    return _url(base_url, f"/wallet/qr/{link_token(member, 'qr', secret_key)}.png")


def links_for(member: LoyaltyMember, *, secret_key: bytes | str, base_url: str) -> dict[str, str]:
    return {
        "apple": apple_pass_url(member, secret_key=secret_key, base_url=base_url),
        "google": google_save_url(member, secret_key=secret_key, base_url=base_url),
        "qr": qr_png_url(member, secret_key=secret_key, base_url=base_url),
    }
