"""Setting up tenants: shop limits per offering, users and their passwords."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty.errors import InvalidInput, LimitReached
from loyalty.models import LoyaltyProgram, Offering, Role, Shop, User
from loyalty.passwords import verify_password
from loyalty.services import merchants
from tests import factories


def shop_count(session, merchant) -> int:
    return session.scalar(select(func.count(Shop.id)).where(Shop.merchant_id == merchant.id))


def add_shops(session, merchant, how_many: int) -> None:
    for n in range(how_many):
        merchants.create_shop(session, merchant=merchant, name=f"Shop {n + 1}")


def test_a_merchant_comes_with_its_programme(session):
    merchant = merchants.create_merchant(session, name="Boulangerie Éclair")
    program = merchants.program_of(session, merchant)
    assert isinstance(program, LoyaltyProgram)
    assert program.name == "Boulangerie Éclair Rewards"
    assert merchant.slug == "boulangerie-eclair"
    assert len(program.join_code) == 6


def test_two_merchants_with_the_same_name_get_distinct_slugs(session):
    first = merchants.create_merchant(session, name="Café Central")
    second = merchants.create_merchant(session, name="Café Central")
    assert first.slug != second.slug


def test_a_merchant_needs_a_name(session):
    with pytest.raises(InvalidInput, match="name"):
        merchants.create_merchant(session, name="   ")


def test_plus_allows_ten_shops_and_refuses_the_eleventh(session):
    merchant = merchants.create_merchant(session, name="Chain", offering=Offering.PLUS)
    add_shops(session, merchant, 10)
    assert shop_count(session, merchant) == 10
    with pytest.raises(LimitReached) as caught:
        merchants.create_shop(session, merchant=merchant, name="Shop 11")
    assert "Plus offering includes up to 10 shops" in caught.value.message
    assert "Upgrade" in caught.value.message
    assert shop_count(session, merchant) == 10


def test_basic_allows_exactly_one_shop(session):
    merchant = merchants.create_merchant(session, name="Corner shop", offering=Offering.BASIC)
    merchants.create_shop(session, merchant=merchant, name="The shop")
    with pytest.raises(LimitReached, match="Basic offering includes up to 1 shop,"):
        merchants.create_shop(session, merchant=merchant, name="Second shop")
    assert shop_count(session, merchant) == 1


def test_enterprise_has_no_shop_limit(session):
    merchant = merchants.create_merchant(session, name="Big chain", offering=Offering.ENTERPRISE)
    add_shops(session, merchant, 12)
    assert shop_count(session, merchant) == 12


def test_shops_of_other_merchants_do_not_count_towards_the_limit(session):
    factories.make_tenant(session, offering=Offering.BASIC)
    merchant = merchants.create_merchant(session, name="Corner shop", offering=Offering.BASIC)
    merchants.create_shop(session, merchant=merchant, name="The shop")
    assert shop_count(session, merchant) == 1


def test_a_shop_takes_the_merchant_time_zone_unless_told(session):
    merchant = merchants.create_merchant(
        session, name="Paris", offering=Offering.PLUS, timezone="Europe/Paris"
    )
    default = merchants.create_shop(session, merchant=merchant, name="Rivoli")
    lisbon = merchants.create_shop(
        session, merchant=merchant, name="Lisbon", timezone="Europe/Lisbon"
    )
    assert (default.timezone, lisbon.timezone) == ("Europe/Paris", "Europe/Lisbon")


def test_a_shop_needs_a_name(session):
    merchant = merchants.create_merchant(session, name="Chain", offering=Offering.PLUS)
    with pytest.raises(InvalidInput, match="name"):
        merchants.create_shop(session, merchant=merchant, name=" ")
    assert shop_count(session, merchant) == 0


def test_create_user_normalises_the_email_and_hashes_the_password(session):
    user = merchants.create_user(
        session, email="  Anna@Example.COM ", password="long enough password"
    )
    assert user.email == "anna@example.com"
    assert user.password_hash != "long enough password"
    assert verify_password(user.password_hash, "long enough password")


def test_a_second_user_with_the_same_email_is_refused(session):
    merchants.create_user(session, email="anna@example.com", password="long enough password")
    with pytest.raises(InvalidInput, match="already exists") as caught:
        merchants.create_user(session, email="ANNA@example.com", password="another password!")
    assert caught.value.field == "email"
    assert session.scalar(select(func.count(User.id))) == 1


def test_a_short_password_is_refused(session):
    with pytest.raises(InvalidInput, match="at least 10 characters") as caught:
        merchants.create_user(session, email="anna@example.com", password="short")
    assert caught.value.field == "password"
    assert session.scalar(select(func.count(User.id))) == 0


def test_an_invalid_user_email_is_refused(session):
    with pytest.raises(InvalidInput, match="not a valid e-mail"):
        merchants.create_user(session, email="anna", password="long enough password")


def test_a_membership_cannot_point_at_another_merchants_shop(session):
    tenant = factories.make_tenant(session)
    other = factories.make_tenant(session)
    user = factories.make_user(session)
    with pytest.raises(InvalidInput, match="another business"):
        merchants.add_membership(
            session, user=user, merchant=tenant.merchant, role=Role.STAFF, shop=other.shop
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "x" * 121}, "name"),
        ({"name": "Bakery", "program_name": "p" * 121}, "program_name"),
        ({"name": "Bakery", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "Bakery", "timezone": "../../etc/passwd"}, "timezone"),
    ],
)
def test_a_merchant_with_text_that_cannot_be_stored_is_refused_clearly(session, kwargs, field):
    with pytest.raises(InvalidInput) as caught:
        merchants.create_merchant(session, **kwargs)
    assert caught.value.field == field


def test_a_long_merchant_name_still_gets_a_programme_name_that_fits(session):
    merchant = merchants.create_merchant(session, name="x" * 120)
    program = merchants.program_of(session, merchant)
    assert len(program.name) <= 120
    assert program.name.endswith(" Rewards")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "s" * 121}, "name"),
        ({"name": "Station", "address": "a" * 301}, "address"),
        ({"name": "Station", "timezone": "Europe/Atlantis"}, "timezone"),
    ],
)
def test_a_shop_with_text_that_cannot_be_stored_is_refused_clearly(session, kwargs, field):
    merchant = merchants.create_merchant(session, name="Chain", offering=Offering.PLUS)
    with pytest.raises(InvalidInput) as caught:
        merchants.create_shop(session, merchant=merchant, **kwargs)
    assert caught.value.field == field
    assert shop_count(session, merchant) == 0


def test_a_user_name_that_cannot_be_stored_is_refused_clearly(session):
    with pytest.raises(InvalidInput, match="at most 120 characters") as caught:
        merchants.create_user(
            session, email="anna@example.com", password="long enough password", name="n" * 121
        )
    assert caught.value.field == "name"
