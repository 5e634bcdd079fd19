"""Finding a member as a cashier does, and never across tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty.errors import InvalidCardNumber, InvalidInput, InvalidToken, NotFound
from loyalty.identity import format_card_number
from loyalty.models import AuditLog, Offering
from loyalty.services import lookup
from loyalty.services.actors import SYSTEM
from tests import factories


@pytest.fixture
def tenant(session):
    return factories.make_tenant(session, offering=Offering.PLUS, name="Bakery Dupont")


@pytest.fixture
def other(session):
    return factories.make_tenant(session, offering=Offering.PLUS, name="Café Martin")


@pytest.fixture
def ann(session, tenant):
    return factories.make_member(
        session, tenant, name="Ann Éloïse", email="ann@example.com", phone="+352621123456"
    )


def identify(session, tenant, query: str, secret_key: bytes):
    return lookup.identify(session, merchant=tenant.merchant, query=query, secret_key=secret_key)


def typo(card: str) -> str:
    """The same number with its first digit changed: the check digit must notice."""
    return str((int(card[0]) % 9) + 1) + card[1:]


# --- identify ----------------------------------------------------------------------------


def test_identify_by_scanned_qr_token(session, tenant, ann, secret_key):
    token = lookup.qr_token(ann, secret_key)
    assert identify(session, tenant, token, secret_key) == ann


@pytest.mark.parametrize("shape", ["plain", "spaced", "dashed"])
def test_identify_by_typed_card_number(session, tenant, ann, secret_key, shape):
    card = ann.card_number
    typed = {
        "plain": card,
        "spaced": format_card_number(card),
        "dashed": format_card_number(card).replace(" ", "-"),
    }[shape]
    assert identify(session, tenant, typed, secret_key) == ann


def test_a_mistyped_card_number_is_caught_by_the_check_digit(session, tenant, ann, secret_key):
    with pytest.raises(InvalidCardNumber, match="mistyped"):
        identify(session, tenant, typo(ann.card_number), secret_key)


@pytest.mark.parametrize("typed", ["621 123 456", "+352 621 123 456", "00352621123456"])
def test_identify_by_phone_in_any_usual_shape(session, tenant, ann, secret_key, typed):
    assert identify(session, tenant, typed, secret_key) == ann


@pytest.mark.parametrize("typed", ["ann@example.com", "  ANN@Example.com "])
def test_identify_by_email(session, tenant, ann, secret_key, typed):
    assert identify(session, tenant, typed, secret_key) == ann


@pytest.mark.parametrize("query", ["", "   "])
def test_identify_needs_something_to_look_for(session, tenant, secret_key, query):
    with pytest.raises(InvalidInput, match="Scan a card or type"):
        identify(session, tenant, query, secret_key)


def test_identify_refuses_what_is_neither_card_phone_nor_email(session, tenant, secret_key):
    with pytest.raises(InvalidCardNumber, match="neither a card number, a phone number nor"):
        identify(session, tenant, "hello", secret_key)


def test_a_name_typed_at_the_till_is_told_how_names_are_found(session, tenant, secret_key):
    with pytest.raises(InvalidCardNumber, match=r"start of the full name \(first name first\)"):
        identify(session, tenant, "kayser", secret_key)


def test_an_unknown_phone_or_email_is_not_found(session, tenant, ann, secret_key):
    with pytest.raises(NotFound, match=r"No member with phone \+352621999999 in Bakery Dupont"):
        identify(session, tenant, "621 999 999", secret_key)
    with pytest.raises(NotFound, match=r"No member with e-mail bob@example\.com"):
        identify(session, tenant, "bob@example.com", secret_key)


# --- QR tokens ---------------------------------------------------------------------------


def test_a_forged_token_is_refused_with_a_clear_message(session, tenant, ann, secret_key):
    head, signature = lookup.qr_token(ann, secret_key).rsplit(".", 1)
    forged = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(InvalidToken, match=r"not valid \(forged, or replaced by a newer card\)"):
        identify(session, tenant, forged, secret_key)


def test_a_token_pointing_at_another_member_is_refused(session, tenant, ann, secret_key):
    bob = factories.make_member(session, tenant)
    token = lookup.qr_token(ann, secret_key).replace(f".{ann.id}.", f".{bob.id}.")
    with pytest.raises(InvalidToken):
        identify(session, tenant, token, secret_key)


@pytest.mark.parametrize("member_id", ["2147483647", "2147483648", "999999999999999999"])
def test_a_token_of_an_unknown_member_is_refused(session, tenant, ann, secret_key, member_id):
    token = lookup.qr_token(ann, secret_key).replace(f".{ann.id}.", f".{member_id}.")
    with pytest.raises(InvalidToken):
        identify(session, tenant, token, secret_key)


def test_a_rotated_token_is_refused_saying_when_and_the_new_one_works(
    session, tenant, ann, secret_key
):
    old = lookup.qr_token(ann, secret_key)
    lookup.rotate_qr_token(
        session, member=ann, actor=SYSTEM, now=datetime(2026, 11, 20, tzinfo=UTC)
    )
    with pytest.raises(InvalidToken, match="replaced on 20 Nov 2026 and no longer works"):
        identify(session, tenant, old, secret_key)
    assert identify(session, tenant, lookup.qr_token(ann, secret_key), secret_key) == ann


@pytest.mark.parametrize(
    ("zone", "rotated_at", "day"),
    [
        ("Europe/Luxembourg", datetime(2026, 11, 20, 23, 30, tzinfo=UTC), "21 Nov 2026"),
        ("America/Montreal", datetime(2026, 11, 21, 2, 0, tzinfo=UTC), "20 Nov 2026"),
    ],
)
def test_the_replacement_day_is_the_merchants_local_day(
    session, tenant, ann, secret_key, zone, rotated_at, day
):
    tenant.merchant.timezone = zone
    old = lookup.qr_token(ann, secret_key)
    lookup.rotate_qr_token(session, member=ann, actor=SYSTEM, now=rotated_at)
    with pytest.raises(InvalidToken, match=f"replaced on {day} and no longer works"):
        identify(session, tenant, old, secret_key)


def test_a_token_two_rotations_old_is_still_refused(session, tenant, ann, secret_key):
    oldest = lookup.qr_token(ann, secret_key)
    lookup.rotate_qr_token(session, member=ann, actor=SYSTEM)
    lookup.rotate_qr_token(session, member=ann, actor=SYSTEM)
    with pytest.raises(InvalidToken, match="not valid"):
        identify(session, tenant, oldest, secret_key)


def test_rotating_is_audited_and_moves_the_member_for_wallet_updates(session, tenant, ann):
    before = ann.updated_at
    lookup.rotate_qr_token(session, member=ann, actor=SYSTEM)
    session.refresh(ann)
    assert ann.updated_at > before
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == "member.qr_code_rotated")
    ).one()
    assert entry.target_id == str(ann.id)


def test_the_code_age_counts_from_enrolment_then_from_the_last_rotation(session, tenant, ann):
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    ann.enrolled_at = now - timedelta(days=3, hours=1)
    tenant.program.qr_max_age_days = 2
    age = lookup.qr_age(ann, now)
    assert (age.label, age.days, age.too_old) == ("issued 3 days ago", 3, True)
    lookup.rotate_qr_token(session, member=ann, actor=SYSTEM, now=now - timedelta(hours=2))
    age = lookup.qr_age(ann, now)
    assert (age.label, age.too_old) == ("rotated today", False)
    assert lookup.qr_age(ann, now + timedelta(days=1)).label == "rotated yesterday"
    tenant.program.qr_max_age_days = None
    assert not lookup.qr_age(ann, now + timedelta(days=4000)).too_old


def test_another_merchants_token_is_refused_naming_this_programme(
    session, tenant, other, secret_key
):
    theirs = factories.make_member(session, other)
    token = lookup.qr_token(theirs, secret_key)
    with pytest.raises(InvalidToken, match="belongs to another programme, not Bakery Dupont's"):
        identify(session, tenant, token, secret_key)


def test_a_token_re_labelled_with_this_merchant_is_refused(session, tenant, other, secret_key):
    theirs = factories.make_member(session, other)
    token = lookup.qr_token(theirs, secret_key).replace(
        f"LY1.{other.merchant.id}.", f"LY1.{tenant.merchant.id}."
    )
    with pytest.raises(InvalidToken):
        identify(session, tenant, token, secret_key)


def test_a_token_signed_with_another_key_is_refused(session, tenant, ann, secret_key):
    token = lookup.qr_token(ann, b"not the platform key")
    with pytest.raises(InvalidToken):
        identify(session, tenant, token, secret_key)


# --- tenant isolation --------------------------------------------------------------------


def test_another_merchants_card_number_is_not_found(session, tenant, other, secret_key):
    theirs = factories.make_member(session, other)
    with pytest.raises(NotFound, match=r"not found in Bakery Dupont\. Check the number"):
        identify(session, tenant, theirs.card_number, secret_key)


def test_another_merchants_phone_and_email_are_not_found(session, tenant, other, secret_key):
    factories.make_member(session, other, email="zoe@example.com", phone="+352691000111")
    with pytest.raises(NotFound):
        identify(session, tenant, "zoe@example.com", secret_key)
    with pytest.raises(NotFound):
        identify(session, tenant, "691 000 111", secret_key)


def test_the_same_email_in_two_merchants_finds_each_merchants_own_member(
    session, tenant, other, ann, secret_key
):
    twin = factories.make_member(session, other, email="ann@example.com")
    assert identify(session, tenant, "ann@example.com", secret_key) == ann
    assert identify(session, other, "ann@example.com", secret_key) == twin


# --- search ------------------------------------------------------------------------------


def search(session, tenant, text: str):
    return lookup.search(session, merchant=tenant.merchant, text=text)


@pytest.mark.parametrize("typed", ["ann", "Ann É", "ANN ELO", "ann éloï"])
def test_search_by_name_prefix_ignores_case_and_accents(session, tenant, ann, typed):
    assert search(session, tenant, typed) == [ann]


def test_search_matches_names_from_the_start_only(session, tenant, ann):
    assert search(session, tenant, "loïse") == []


def test_search_by_card_prefix(session, tenant, ann):
    assert search(session, tenant, ann.card_number[:6]) == [ann]
    assert search(session, tenant, format_card_number(ann.card_number)[:9]) == [ann]


def test_search_by_email_prefix(session, tenant, ann):
    assert search(session, tenant, "ann@exa") == [ann]
    assert search(session, tenant, "ANN@EXAMPLE.COM") == [ann]


def test_search_by_phone(session, tenant, ann):
    assert search(session, tenant, "621 123 456") == [ann]


def test_search_treats_like_wildcards_literally(session, tenant, ann):
    assert search(session, tenant, "a%") == []
    assert search(session, tenant, "a_n") == []


def test_search_needs_two_characters(session, tenant, ann):
    assert search(session, tenant, "a") == []
    assert search(session, tenant, " ") == []


def test_search_is_limited_to_the_merchant(session, tenant, other, ann):
    theirs = factories.make_member(session, other, name="Ann Other", email="ann@example.com")
    assert search(session, tenant, "ann") == [ann]
    assert search(session, other, "ann") == [theirs]
    assert search(session, other, ann.card_number[:8]) == []


def test_search_returns_at_most_the_limit_sorted_by_name(session, tenant):
    for name in ["Marc Zed", "Marie Alpha", "Marc Alpha", *(f"Mars {n:02}" for n in range(12))]:
        factories.make_member(session, tenant, name=name)
    found = search(session, tenant, "mar")
    assert len(found) == lookup.SEARCH_LIMIT
    assert [m.customer.name for m in found[:3]] == ["Marc Alpha", "Marc Zed", "Marie Alpha"]


def test_after_erasure_no_old_code_is_even_recognised_as_replaced(session, tenant, ann, secret_key):
    from loyalty.services import gdpr

    rotated_away = lookup.qr_token(ann, secret_key)
    lookup.rotate_qr_token(session, member=ann, actor=SYSTEM)
    gdpr.erase_member(session, member=ann, actor=SYSTEM)
    with pytest.raises(InvalidToken, match="not valid"):
        identify(session, tenant, rotated_away, secret_key)
