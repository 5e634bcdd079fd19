"""Segments: each filter of the builder, the live count, validation and Plus gating."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from loyalty.errors import FeatureNotInOffering, InvalidInput
from loyalty.models import ChannelKind, LoyaltyMember, Offering
from loyalty.services import segments
from loyalty.services.earn import earn
from tests import factories
from tests.factories import Tenant

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def ids(session: Session, tenant: Tenant, **definition) -> set[int]:
    cleaned = segments.clean_definition(session, merchant=tenant.merchant, raw=definition)
    return set(session.scalars(segments.member_ids(tenant.merchant, cleaned, now=NOW)))


def buy(session: Session, member: LoyaltyMember, cents: int, shop, key: str) -> None:
    earn(session, member=member, amount_cents=cents, idempotency_key=key, shop=shop)


def test_filters_select_the_right_members(session: Session, tenant: Tenant) -> None:
    gold = factories.make_tier(session, tenant, name="Gold", min_points=1000)
    second_shop = factories.make_tenant(session).shop  # another merchant's shop
    a = factories.make_member(session, tenant)
    b = factories.make_member(session, tenant)
    c = factories.make_member(session, tenant)
    a.tier_id = gold.id
    a.points_balance = 1500
    a.customer.birthday = date(1990, 3, 14)
    a.customer.consents = {"marketing_sms": {"granted": True}}
    b.points_balance = 50
    b.last_activity_at = NOW - timedelta(days=100)
    b.enrolled_at = datetime(2025, 1, 10, tzinfo=UTC)
    c.last_activity_at = NOW - timedelta(days=1)
    factories.add_channel(session, b, ChannelKind.EMAIL, "b@x.io")
    for n in range(3):
        buy(session, c, 2000, tenant.shop, f"c-{n}")
    c.last_activity_at = NOW - timedelta(days=1)
    session.flush()

    assert ids(session, tenant, tier_ids=[gold.id]) == {a.id}
    assert ids(session, tenant, points_min="100", points_max="2000") == {a.id}
    assert ids(session, tenant, no_visit_for_days="30") == {b.id}
    assert c.id in ids(session, tenant, last_visit_within_days="7")
    assert ids(session, tenant, visits_min="2") == {c.id}
    assert c.id not in ids(session, tenant, visits_max="2")
    assert a.id in ids(session, tenant, visits_max="2")  # no purchase: 0 visits
    assert ids(session, tenant, spend_min_cents="5000") == {c.id}
    assert ids(session, tenant, shop_ids=[tenant.shop.id]) == {c.id}
    assert ids(session, tenant, enrolled_to="2025-12-31") == {b.id}
    assert ids(session, tenant, birthday_months=["3"]) == {a.id}
    assert ids(session, tenant, channels=["email"]) == {b.id}
    assert ids(session, tenant, consents=["marketing_sms"]) == {a.id}
    with pytest.raises(InvalidInput):  # another merchant's shop is not in the list
        ids(session, tenant, shop_ids=[second_shop.id])


def test_live_count_counts_only_this_merchants_active_members(
    session: Session, tenant: Tenant
) -> None:
    other = factories.make_tenant(session)
    factories.make_member(session, other)
    factories.make_member(session, tenant)
    closed = factories.make_member(session, tenant)
    closed.status = "closed"
    session.flush()
    assert segments.count(session, merchant=tenant.merchant, definition={}) == 1


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"points_min": "ten"}, "points_min"),
        ({"points_min": "-1"}, "points_min"),
        ({"points_min": "10", "points_max": "5"}, "points_min"),
        ({"enrolled_from": "31/12/2025"}, "enrolled_from"),
        ({"birthday_months": ["13"]}, "birthday_months"),
        ({"channels": ["fax"]}, "channels"),
        ({"consents": ["marketing_pigeon"]}, "consents"),
        ({"tier_ids": ["x"]}, "tier_ids"),
    ],
)
def test_bad_filters_are_refused_with_the_field(
    session: Session, tenant: Tenant, definition: dict, field: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        segments.save_segment(session, merchant=tenant.merchant, name="X", definition=definition)
    assert error.value.field == field


def test_basic_merchant_has_no_segments(session: Session) -> None:
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    with pytest.raises(FeatureNotInOffering):
        segments.save_segment(session, merchant=basic.merchant, name="All", definition={})
    with pytest.raises(FeatureNotInOffering):
        segments.count(session, merchant=basic.merchant, definition={})
