"""The back-office chat simulator: the real dialogue, in the browser, for the current business only."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Conversation,
    Offering,
    OutboxMessage,
    OutboxStatus,
    Role,
)
from tests import factories
from web.backoffice.simulator import CUSTOMER_NAME, sms_address, telegram_address


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, name="Bakery Dupont", offering=Offering.PLUS)
    tenant.program.signup_bonus = 25
    factories.make_reward(session, tenant, cost=20, name="Free croissant")
    session.flush()
    return tenant


@pytest.fixture
def owner(session, tenant, login_as):
    user = factories.make_user(session, tenant, role=Role.OWNER)
    login_as(user)
    return user


def send(client, channel="telegram", **form) -> str:
    response = client.post("/backoffice/simulator/send", data={"channel": channel, **form})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"channel={channel}#latest")
    return _text(client.get(f"/backoffice/simulator?channel={channel}"))


def choices(page: str) -> dict[str, str]:
    """The bot's buttons on the page, label -> payload."""
    found = re.findall(
        r'name="payload" value="([^"]*)"\s+class="[^"]*" data-testid="choice">([^<]*)<', page
    )
    return {label: payload for payload, label in found}


def test_owner_joins_and_checks_balance_on_telegram(client, session, tenant, owner):
    page = _text(client.get("/backoffice/simulator"))
    assert "Chat simulator" in page
    assert telegram_address(owner.id) in page

    page = send(client, text="/start")
    assert "Bakery Dupont" in page  # asked to accept this programme's terms
    buttons = choices(page)
    assert set(buttons.values()) == {"yes", "no"}

    page = send(client, payload="yes")
    assert 'data-testid="share-contact"' in page
    page = send(client, contact="1")
    assert "25 points" in page
    assert "/backoffice/simulator/card.png" in page  # the card's QR photo
    assert client.get("/backoffice/simulator/card.png").data.startswith(b"\x89PNG")

    page = send(client, payload=choices(page)["Balance"])
    assert page.count("25 points") >= 2
    page = send(client, text="help")
    assert "Bakery Dupont" in page

    identity = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.address == telegram_address(owner.id))
    ).one()
    assert identity.merchant_id == tenant.merchant.id
    assert identity.member.customer.name == CUSTOMER_NAME
    # The welcome message for the simulated customer stays in the outbox.
    welcome = session.scalars(select(OutboxMessage)).one()
    assert welcome.status == OutboxStatus.SKIPPED
    assert "Not sent (simulated customer): welcome" in page


def test_sms_uses_a_fictional_number_and_shows_plain_text(client, session, tenant, owner):
    phone = sms_address(owner.id)
    assert re.fullmatch(r"\+120255501\d\d", phone)  # 555-01xx: reserved for fiction
    page = send(client, "sms", text="JOIN")
    assert phone in page
    assert "YES" in page
    assert 'data-testid="choice"' not in page  # SMS has no buttons
    page = send(client, "sms", text="yes")
    assert "Welcome" in page
    page = send(client, "sms", text="BALANCE")
    assert "25 points" in page
    page = send(client, "sms", text="HELP")
    assert "BALANCE" in page
    member = (
        session.scalars(select(ChannelIdentity).where(ChannelIdentity.kind == ChannelKind.SMS))
        .one()
        .member
    )
    assert member.customer.phone == phone
    assert all(m.status == OutboxStatus.SKIPPED for m in session.scalars(select(OutboxMessage)))


def test_sms_refused_when_a_real_member_has_the_test_number(client, session, tenant, login_as):
    user = factories.make_user(session, tenant, role=Role.MANAGER)
    factories.make_member(session, tenant, name="Real Person", phone=sms_address(user.id))
    login_as(user)
    page = _text(client.get("/backoffice/simulator?channel=sms"))
    assert "Use the Telegram tab instead" in page
    page = send(client, "sms", text="BALANCE")
    assert "Real Person" not in page
    assert "test number" in page
    assert session.scalars(select(Conversation)).first() is None  # the engine never ran


def test_redeem_by_buttons_and_reset(client, session, tenant, owner):
    send(client, text="/start")
    send(client, payload="yes")
    page = send(client, contact="1")
    page = send(client, payload="rewards")
    assert "Free croissant" in page
    page = send(client, payload=choices(page)["Redeem: Free croissant"])
    assert "5 points" in page or "left" in page.lower()
    assert set(choices(page).values()) == {"yes", "no"}
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.state == "confirm_redeem"

    response = client.post("/backoffice/simulator/reset", data={"channel": "telegram"})
    assert response.status_code == 302
    page = _text(client.get("/backoffice/simulator"))
    assert "No messages yet" in page
    assert session.scalars(select(Conversation)).first() is None  # the question is forgotten
    member = (
        session.scalars(select(ChannelIdentity).where(ChannelIdentity.kind == ChannelKind.TELEGRAM))
        .one()
        .member
    )
    assert member.points_balance == 25  # nothing redeemed without the confirmation


def test_another_merchants_data_never_appears(client, session, tenant, owner):
    other = factories.make_tenant(session, name="Florist Weber", offering=Offering.PLUS)
    factories.make_reward(session, other, cost=5, name="Secret tulip")
    session.flush()
    # Another business's join code does not switch the simulator to that business.
    page = send(client, text=f"JOIN {other.program.join_code}")
    page += send(client, text=f"/start join_{other.program.join_code}")
    page += send(client, text="/start")
    page += send(client, payload="yes")
    page += send(client, contact="1")
    page += send(client, text="rewards")
    page += send(client, text="shops")
    assert "Florist Weber" not in page
    assert "Secret tulip" not in page
    assert "Free croissant" in page
    rows = session.scalars(select(Conversation)).all()
    assert [c.merchant_id for c in rows] == [tenant.merchant.id]
    identities = session.scalars(select(ChannelIdentity)).all()
    assert {i.merchant_id for i in identities} == {tenant.merchant.id}


def test_transcript_is_per_business_for_a_user_of_two(client, session, tenant, login_as):
    other = factories.make_tenant(session, name="Florist Weber", offering=Offering.PLUS)
    user = factories.make_user(session, tenant, role=Role.OWNER)
    from loyalty.services import merchants

    merchants.add_membership(session, user=user, merchant=other.merchant, role=Role.OWNER)
    login_as(user)
    client.post("/switch-business", data={"merchant_id": tenant.merchant.id})
    page = send(client, text="/start")
    assert "Bakery Dupont" in page
    client.post("/switch-business", data={"merchant_id": other.merchant.id})
    page = _text(client.get("/backoffice/simulator"))
    assert "No messages yet" in page
    assert "Bakery Dupont" not in page.split('data-testid="transcript"')[1]


def test_staff_cannot_open_the_simulator(client, login_as, session, tenant):
    staff = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    login_as(staff)
    for method, path in (
        ("get", "/backoffice/simulator"),
        ("post", "/backoffice/simulator/send"),
        ("post", "/backoffice/simulator/reset"),
        ("get", "/backoffice/simulator/card.png"),
    ):
        response = getattr(client, method)(
            path, data={"text": "BALANCE"} if method == "post" else None
        )
        assert response.status_code == 403, path
        assert "Only a manager or above can open this page." in _text(response)
    assert session.scalars(select(Conversation)).first() is None


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/backoffice/simulator")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_navbar_links_the_simulator_for_managers(client, session, tenant, login_as):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    assert 'href="/backoffice/simulator"' in _text(client.get("/backoffice/"))
