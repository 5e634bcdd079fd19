"""Who may still use the till: staff of a closed shop are refused with a clear message, and a
person whose access was switched off is signed out on their next request."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty.models import LoyaltyTransaction, Offering, Role
from loyalty.services import shops, staff
from loyalty.services.actors import Actor
from tests import factories

JSON = {"Accept": "application/json"}


@pytest.fixture
def tenant(session):
    return factories.make_tenant(session, offering=Offering.PLUS, name="Bakery Dupont")


@pytest.fixture
def owner(session, tenant):
    user = factories.make_user(session, tenant, role=Role.OWNER)
    return Actor(user_id=user.id, role=Role.OWNER)


@pytest.fixture
def cashier(session, tenant, login_as):
    user = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    login_as(user)
    return user


def _close_the_shop(session, tenant, owner) -> None:
    shops.set_active(session, merchant=tenant.merchant, actor=owner, shop=tenant.shop, active=False)
    session.flush()


def test_staff_of_a_closed_shop_cannot_open_the_till(client, session, tenant, owner, cashier):
    _close_the_shop(session, tenant, owner)

    page = client.get("/staff/")

    assert page.status_code == 403
    assert f"{tenant.shop.name} is closed, so its till is closed too" in page.get_data(as_text=True)


def test_staff_of_a_closed_shop_cannot_credit_points(client, session, tenant, owner, cashier):
    member = factories.make_member(session, tenant)
    _close_the_shop(session, tenant, owner)

    response = client.post(
        f"/staff/members/{member.id}/earn",
        data={"amount": "12.50", "idempotency_key": "closed-1"},
        headers=JSON,
    )

    assert response.status_code == 403
    assert "is closed" in response.json["detail"]
    written = session.scalar(
        select(func.count())
        .select_from(LoyaltyTransaction)
        .where(LoyaltyTransaction.member_id == member.id)
    )
    assert written == 0


def test_reopening_the_shop_opens_its_till_again(client, session, tenant, owner, cashier):
    _close_the_shop(session, tenant, owner)
    shops.set_active(session, merchant=tenant.merchant, actor=owner, shop=tenant.shop, active=True)

    assert client.get("/staff/").status_code == 200


def test_switching_someone_off_ends_their_signed_in_session(
    client, session, tenant, owner, cashier
):
    assert client.get("/staff/").status_code == 200
    membership = cashier.memberships[0]

    staff.set_active(
        session, merchant=tenant.merchant, actor=owner, membership=membership, active=False
    )
    session.flush()
    response = client.get("/staff/")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    login_page = client.get("/login").get_data(as_text=True)
    assert "switched off, so you are signed out" in login_page
    assert client.get("/staff/").status_code == 302  # signed out: sent to sign in
