"""Stamp cards through HTTP: the settings page, the till, its receipt, the member pages, notices."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalty.models import (
    ChannelKind,
    LoyaltyTransaction,
    OutboxMessage,
    ProgramKind,
    RedemptionLimit,
    Role,
    Voucher,
)
from loyalty.notify.texts import short_text
from loyalty.services.earn import earn
from loyalty.services.merchants import program_of
from tests import factories
from tests.e2e.test_public_member import sign_in

JSON = {"Accept": "application/json"}


def settings_form(**changes):
    return {
        "name": "Café Lune",
        "points_per_euro": "1",
        "rounding": "floor",
        "expiry_policy": "none",
        "signup_bonus": "0",
        "birthday_bonus": "0",
        "currency": "EUR",
        "primary_color": "#123456",
        "secondary_color": "#fafafa",
        "kind": "stamps",
        "stamp_card_size": "8",
        "stamp_per": "item",
        "stamp_min_spend": "2.00",
        **changes,
    }


@pytest.fixture
def coffee(session, tenant):
    return factories.make_reward(session, tenant, cost=1, name="Free coffee")


@pytest.fixture
def stamp_tenant(session, tenant, coffee):
    factories.make_stamp_card(session, tenant, reward=coffee)
    return tenant


@pytest.fixture
def member(session, stamp_tenant):
    member = factories.make_member(session, stamp_tenant, name="Ana", email="ana@example.com")
    factories.add_channel(session, member, ChannelKind.TELEGRAM, "4242")
    return member


@pytest.fixture
def cashier(session, stamp_tenant, login_as):
    user = factories.make_user(session, stamp_tenant, role=Role.STAFF, shop=stamp_tenant.shop)
    login_as(user)
    return user


def test_owner_turns_the_programme_into_a_stamp_card(client, login_as, session, tenant, coffee):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    page = client.get("/backoffice/settings")
    assert "Points or stamp card" in page.text
    assert "Free coffee" in page.text  # the catalogue's rewards to choose from
    response = client.post(
        "/backoffice/settings", data=settings_form(stamp_reward_id=str(coffee.id))
    )
    assert response.status_code == 302
    session.expire_all()
    program = program_of(session, tenant.merchant)
    assert (program.kind, program.stamp_card_size, program.stamp_per) == ("stamps", 8, "item")
    assert (program.stamp_reward_id, program.stamp_min_spend_cents) == (coffee.id, 200)


def test_switching_with_points_outstanding_is_refused_next_to_the_field(
    client, login_as, session, tenant, coffee
):
    member = factories.make_member(session, tenant)
    earn(session, member=member, amount_cents=1_000, idempotency_key="points")
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = client.post(
        "/backoffice/settings", data=settings_form(stamp_reward_id=str(coffee.id))
    )
    assert response.status_code == 422
    assert "1 member still holds 10 points" in response.text
    session.expire_all()
    assert program_of(session, tenant.merchant).kind == ProgramKind.POINTS


def test_the_till_counts_items_shows_the_grid_and_the_full_cards_voucher(
    client, session, member, cashier
):
    page = client.get(f"/staff/members/{member.id}")
    assert 'data-testid="stamp-grid"' in page.text
    assert 'name="items"' in page.text
    assert "Rewards</h2>" not in page.text  # a stamp card has no catalogue to spend on
    preview = client.get(f"/staff/members/{member.id}/preview?amount=9&items=3", headers=JSON)
    assert preview.json["summary"] == "+3 stamps → 3 of 10"
    response = client.post(
        f"/staff/members/{member.id}/earn",
        data={"amount": "30", "items": "12", "idempotency_key": "k1"},
        headers=JSON,
    )
    assert response.status_code == 200
    assert (response.json["points"], response.json["balance"]) == (12, 2)  # a full card and 2
    assert len(response.json["card_vouchers"]) == 1
    receipt = client.get(response.json["redirect"])
    assert "Stamps credited" in receipt.text
    assert 'data-stamps="2"' in receipt.text  # the new card after the full one
    assert "Free coffee" in receipt.text
    again = client.post(
        f"/staff/members/{member.id}/earn",
        data={"amount": "30", "items": "12", "idempotency_key": "k1"},
        headers=JSON,
    )
    assert (again.json["replayed"], again.json["balance"]) == (True, 2)
    assert session.scalars(select(Voucher)).all().__len__() == 1
    notice = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "points_changed")
    ).one()
    assert short_text(notice) == (
        f"{member.program.name}: +12 stamps at {member.program.merchant.shops[0].name}. "
        "●●○○○○○○○○ 2 of 10 stamps: 8 more stamps for Free coffee. "
        f"Full card! Your voucher for Free coffee: {response.json['card_vouchers'][0]}."
    )


def test_the_till_says_why_a_full_card_keeps_its_stamps_when_the_reward_limit_is_reached(
    client, session, member, cashier, coffee
):
    coffee.redemption_limit = RedemptionLimit.ONCE
    session.flush()
    for key in ("first", "second"):
        response = client.post(
            f"/staff/members/{member.id}/earn",
            data={"amount": "30", "items": "10", "idempotency_key": key},
            headers=JSON,
        )
        assert response.status_code == 200
    assert (response.json["balance"], response.json["card_vouchers"]) == (10, [])
    assert "can be redeemed once per member" in response.json["message"]
    assert "The full card keeps its stamps." in response.json["message"]
    assert len(session.scalars(select(Voucher)).all()) == 1


@pytest.mark.parametrize("items", ["abc", "0", "12345"])
def test_a_bad_items_count_is_refused_and_writes_nothing(client, session, member, cashier, items):
    response = client.post(
        f"/staff/members/{member.id}/earn",
        data={"amount": "5", "items": items, "idempotency_key": "bad"},
        headers=JSON,
    )
    assert response.status_code == 422
    assert response.json["field"] == "items"
    assert session.scalars(select(LoyaltyTransaction)).all() == []


def test_member_pages_show_the_stamp_grid(app, client, login_as, session, stamp_tenant, member):
    earn(session, member=member, amount_cents=900, items=3, idempotency_key="v")
    sign_in(app, client, session, member)
    card = client.get(f"/p/{member.program.slug}")
    assert "3 of 10 stamps" in card.text
    assert 'data-stamps="3"' in card.text
    assert "7 more stamps for Free coffee" in card.text
    client.get("/logout")
    login_as(factories.make_user(session, stamp_tenant, role=Role.MANAGER))
    office = client.get(f"/backoffice/members/{member.id}")
    assert office.status_code == 200
    assert 'data-stamps="3"' in office.text


def test_the_customers_card_page_says_why_a_full_card_waits(app, client, session, member, coffee):
    coffee.stock = 0
    session.flush()
    earn(session, member=member, amount_cents=3000, items=10, idempotency_key="full")
    sign_in(app, client, session, member)
    card = client.get(f"/p/{member.program.slug}")
    assert 'data-stamps="10"' in card.text
    assert (
        "the card is full. Free coffee is out of stock: it comes with your next visit once it "
        "is back." in card.text
    )
    assert "on its way" not in card.text


def test_the_api_says_why_a_full_card_keeps_its_stamps(client, session):
    from tests.e2e.api_support import make_api_tenant

    api = make_api_tenant(session, name="Café API")
    coffee = factories.make_stamp_card(session, api.tenant, size=5)
    coffee.stock = 0
    member = factories.make_member(session, api.tenant)
    session.flush()
    answer = client.post(
        "/api/v1/transactions",
        json={"member_id": member.id, "amount_cents": 1_400, "items": 5},
        headers={**api.headers, "Idempotency-Key": "order-1"},
    )
    assert answer.status_code == 201
    assert (answer.json["balance"], answer.json["card_vouchers"]) == (5, [])
    assert "out of stock" in answer.json["card_held"]


def test_the_api_earns_stamps_per_item_and_returns_the_full_cards_vouchers(client, session):
    from tests.e2e.api_support import make_api_tenant

    api = make_api_tenant(session, name="Café API")
    factories.make_stamp_card(session, api.tenant, size=5)
    member = factories.make_member(session, api.tenant)
    session.flush()
    headers = {**api.headers, "Idempotency-Key": "order-1"}
    body = {"member_id": member.id, "amount_cents": 1_400, "items": 7}
    first = client.post("/api/v1/transactions", json=body, headers=headers)
    assert first.status_code == 201
    assert (first.json["points"], first.json["balance"]) == (7, 2)
    assert len(first.json["card_vouchers"]) == 1
    again = client.post("/api/v1/transactions", json=body, headers=headers)
    assert again.json == first.json
    bad = client.post(
        "/api/v1/transactions",
        json={**body, "items": 0},
        headers={**api.headers, "Idempotency-Key": "order-2"},
    )
    assert bad.status_code == 422
