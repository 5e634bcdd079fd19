"""Signed, expiring "Add to Wallet" links."""

from __future__ import annotations

import time

import pytest

from loyalty.errors import InvalidToken
from loyalty.models import LoyaltyMember
from wallet import links

SECRET = b"link-secret"


def member(id: int = 42) -> LoyaltyMember:
    return LoyaltyMember(id=id)


def test_links_point_at_the_wallet_endpoints() -> None:
    urls = links.links_for(member(), secret_key=SECRET, base_url="https://x.example/")
    assert urls["apple"].startswith("https://x.example/wallet/pass/")
    assert urls["apple"].endswith(".pkpass")
    assert urls["google"].startswith("https://x.example/wallet/google/")
    assert urls["qr"].endswith(".png")


def test_a_link_token_reads_back_as_the_member_for_its_kind_only() -> None:
    token = links.link_token(member(7), "apple", SECRET)
    assert links.read_link_token(token, "apple", SECRET, max_age=60) == 7
    with pytest.raises(InvalidToken):
        links.read_link_token(token, "google", SECRET, max_age=60)
    with pytest.raises(InvalidToken):
        links.read_link_token(token, "apple", b"another-secret", max_age=60)
    with pytest.raises(InvalidToken):
        links.read_link_token(token[:-2], "apple", SECRET, max_age=60)


def test_an_old_link_has_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    token = links.link_token(member(), "qr", SECRET)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        links.read_link_token(token, "qr", SECRET, max_age=60)
