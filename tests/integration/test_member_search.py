"""The back-office member search: every road (card, phone, e-mail, name) and every filter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.models import MemberStatus
from loyalty.services import member_search
from loyalty.services.earn import earn
from loyalty.services.member_search import MemberFilters
from tests import factories


def _find(session: Session, tenant: factories.Tenant, **filters) -> list[int]:
    page = member_search.find_members(
        session, merchant=tenant.merchant, filters=MemberFilters(**filters)
    )
    return [m.id for m in page.items]


@pytest.fixture
def people(session: Session, tenant: factories.Tenant) -> dict:
    eloise = factories.make_member(
        session, tenant, name="Éloïse Muller", email="eloise@example.com", phone="+352621123456"
    )
    marc = factories.make_member(session, tenant, name="Marc Weber", email="marc@weber.lu")
    other = factories.make_tenant(session, name="Florist Weber")
    stranger = factories.make_member(
        session, other, name="Marc Elsewhere", email="marc@elsewhere.lu", phone="+352621999999"
    )
    return {"eloise": eloise, "marc": marc, "stranger": stranger}


def test_name_prefix_ignores_case_and_accents(session, tenant, people) -> None:
    assert _find(session, tenant, q="elo") == [people["eloise"].id]
    assert _find(session, tenant, q="MARC") == [people["marc"].id]


def test_email_prefix_finds_the_member(session, tenant, people) -> None:
    assert _find(session, tenant, q="Marc@we") == [people["marc"].id]
    assert _find(session, tenant, q="eloise@") == [people["eloise"].id]


def test_one_word_finds_names_and_email_addresses_starting_with_it(session, tenant, people) -> None:
    factories.make_member(session, tenant, name="Zoé Klein", email="webmaster@example.com")
    marc_weber = people["marc"]  # name "Marc Weber", e-mail marc@weber.lu
    assert _find(session, tenant, q="marc") == [marc_weber.id]
    assert len(_find(session, tenant, q="web")) == 1  # webmaster@, not "Marc Weber"


def test_phone_in_national_or_international_form_finds_the_member(session, tenant, people) -> None:
    assert _find(session, tenant, q="621 123 456") == [people["eloise"].id]
    assert _find(session, tenant, q="+352 621123456") == [people["eloise"].id]


def test_card_number_prefix_with_spaces_finds_the_member(session, tenant, people) -> None:
    card = people["marc"].card_number
    assert people["marc"].id in _find(session, tenant, q=f"{card[:4]} {card[4:8]}")
    assert _find(session, tenant, q=card) == [people["marc"].id]


def test_another_merchants_members_are_never_found(session, tenant, people) -> None:
    assert _find(session, tenant, q="marc@elsewhere") == []
    assert _find(session, tenant, q="+352621999999") == []
    assert _find(session, tenant, q=people["stranger"].card_number) == []
    assert set(_find(session, tenant)) == {people["eloise"].id, people["marc"].id}


def test_like_wildcards_in_the_search_match_literally(session, tenant, people) -> None:
    assert _find(session, tenant, q="%") == []
    assert _find(session, tenant, q="_arc") == []


def test_filters_by_tier_balance_status_and_last_visit(session, tenant, people) -> None:
    gold = factories.make_tier(session, tenant, name="Gold", min_points=100)
    eloise, marc = people["eloise"], people["marc"]
    eloise.tier_id = gold.id
    eloise.points_balance = 500
    marc.status = MemberStatus.SUSPENDED
    marc.last_activity_at = utcnow() - timedelta(days=200)
    session.flush()
    assert _find(session, tenant, tier_id=gold.id) == [eloise.id]
    assert _find(session, tenant, min_balance=100) == [eloise.id]
    assert _find(session, tenant, max_balance=100) == [marc.id]
    assert _find(session, tenant, status="suspended") == [marc.id]
    assert _find(session, tenant, last_visit="30d") == [eloise.id]
    assert _find(session, tenant, last_visit="over90d") == [marc.id]


def test_shop_filter_keeps_members_who_earned_there(session, tenant, people) -> None:
    earn(session, member=people["marc"], amount_cents=500, idempotency_key="s-1", shop=tenant.shop)
    assert _find(session, tenant, shop_id=tenant.shop.id) == [people["marc"].id]


def test_pages_count_every_match_and_clamp_past_the_end(session, tenant) -> None:
    for n in range(7):
        factories.make_member(session, tenant, name=f"Page Person {n}")
    page = member_search.find_members(
        session,
        merchant=tenant.merchant,
        filters=MemberFilters(q="page person"),
        page=99,
        per_page=3,
    )
    assert (page.total, page.pages, page.page, len(page.items)) == (7, 3, 3, 1)
    assert list(page.iter_pages()) == [1, 2, 3]
    assert page.args == {"q": "page person"}


def test_parse_reads_the_query_string_and_explains_bad_balances() -> None:
    filters = member_search.parse(
        {"q": " anna ", "tier": "3", "min": "1,000", "visit": "30d", "status": "active"}
    )
    assert filters == MemberFilters(
        q="anna", tier_id=3, min_balance=1000, last_visit="30d", status="active"
    )
    assert member_search.parse({"tier": "x", "visit": "bogus", "shop": "99999999999"}) == (
        MemberFilters()
    )
    with pytest.raises(InvalidInput, match="Minimum balance"):
        member_search.parse({"min": "lots"})
    with pytest.raises(InvalidInput, match="above the maximum"):
        member_search.parse({"min": "10", "max": "5"})


def test_past_the_count_limit_the_page_says_more_and_pages_through_the_first(
    session, tenant, people, monkeypatch
) -> None:
    for n in range(3):
        factories.make_member(session, tenant, name=f"Zoe {n}", email=f"zoe{n}@example.com")
    monkeypatch.setattr(member_search, "COUNT_UP_TO", 3)
    page = member_search.find_members(
        session, merchant=tenant.merchant, filters=MemberFilters(), per_page=2, page=9
    )
    assert (page.total, page.more, page.pages, page.page) == (3, True, 2, 2)
    assert len(page.items) == 2  # the last page runs on past the counted ones
    found = member_search.find_members(
        session, merchant=tenant.merchant, filters=MemberFilters(q="zoe")
    )
    assert (found.total, found.more) == (3, False)
