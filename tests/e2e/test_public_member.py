"""The member page: opened by a single-use link, per programme, with rewards, data and deletion."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import (
    ExpiryPolicy,
    LoyaltyMember,
    MemberStatus,
    OutboxMessage,
    RedemptionLimit,
    Voucher,
    VoucherStatus,
)
from loyalty.models.access import MemberAccessToken
from loyalty.services import member_access
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from loyalty.services.vouchers import use_voucher
from tests import factories
from web.public.views import CARDS_KEY


def text(response) -> str:
    return response.get_data(as_text=True)


def join(session: Session, tenant: factories.Tenant, email: str, cents: int) -> LoyaltyMember:
    member = enroll(
        session,
        program=tenant.program,
        idempotency_key=f"join-{email}",
        terms_accepted=True,
        name="Ann Weber",
        email=email,
    )
    earn(
        session,
        member=member,
        amount_cents=cents,
        idempotency_key=f"earn-{email}",
        shop=tenant.shop,
    )
    return member


@pytest.fixture
def tenant(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, name="Boulangerie Dupont")


@pytest.fixture
def other(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, name="Café Lux")


@pytest.fixture
def ann(session: Session, tenant) -> LoyaltyMember:
    return join(session, tenant, "ann@example.com", 25_000)


@pytest.fixture
def ann_elsewhere(session: Session, other) -> LoyaltyMember:
    """The same person at another merchant: an unrelated membership."""
    return join(session, other, "ann@example.com", 98_700)


def link_path(app: Flask, session: Session, member: LoyaltyMember, **kw) -> str:
    token = member_access.issue_link(
        session, member=member, secret_key=app.config["SECRET_KEY"], **kw
    )
    return f"/p/{member.program.slug}/in/{token}"


def sign_in(app: Flask, client: FlaskClient, session: Session, member: LoyaltyMember) -> None:
    response = client.post(link_path(app, session, member))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/p/{member.program.slug}")


def test_without_a_link_the_member_page_offers_to_send_one(client, tenant, ann):
    response = client.get(f"/p/{tenant.program.slug}")
    assert response.status_code == 200
    assert "Send me a link" in text(response)
    assert "250 pts" not in text(response)


def test_a_link_shows_a_button_then_opens_the_card_once(app, client, session, tenant, ann):
    path = link_path(app, session, ann)
    shown = client.get(path)
    assert shown.status_code == 200
    assert "Open my card" in text(shown)
    assert client.get(path).status_code == 200  # looking (a mail scanner) does not use it up
    assert client.post(path).status_code == 303
    page = client.get(f"/p/{tenant.program.slug}")
    assert "250 pts" in text(page)
    assert ann.card_number[:4] in text(page)

    reused = client.get(path)
    assert reused.status_code == 410
    assert "already used" in text(reused)
    assert client.post(path).status_code == 410


def test_an_expired_link_is_refused_with_a_clear_page(app, client, session, tenant, ann):
    path = link_path(app, session, ann, now=utcnow() - timedelta(hours=2))
    response = client.get(path)
    assert response.status_code == 410
    assert "This sign-in link expired on" in text(response)
    assert "Send me a link" in text(response)
    assert client.post(path).status_code == 410


def test_a_tampered_link_is_refused(app, client, session, tenant, ann):
    path = link_path(app, session, ann)
    for bad in (path[:-3], path + "A", path.replace("/in/", "/in/x")):
        response = client.get(bad)
        assert response.status_code == 404
        assert "not valid" in text(response)
        assert client.post(bad).status_code == 404
    assert client.post(path).status_code == 303  # the real one still works


def test_a_link_from_another_merchant_is_refused(app, client, session, tenant, other, ann):
    token = link_path(app, session, ann).rsplit("/", 1)[1]
    response = client.get(f"/p/{other.program.slug}/in/{token}")
    assert response.status_code == 404
    assert f"not for {other.program.name}" in text(response)
    assert tenant.program.name not in text(response)
    assert client.post(f"/p/{other.program.slug}/in/{token}").status_code == 404
    assert "Send me a link" in text(client.get(f"/p/{other.program.slug}"))


def test_two_memberships_of_one_person_never_show_each_other(
    app, client, session, tenant, other, ann, ann_elsewhere
):
    sign_in(app, client, session, ann)
    mine = text(client.get(f"/p/{tenant.program.slug}"))
    assert "250 pts" in mine
    assert "987" not in mine
    assert other.merchant.name not in mine
    # Signed in at one merchant is not signed in at the other.
    theirs = text(client.get(f"/p/{other.program.slug}"))
    assert "Send me a link" in theirs
    assert "250 pts" not in theirs
    # A session doctored to claim the other programme's card with this member id gets nothing.
    with client.session_transaction() as cookie:
        cookie[CARDS_KEY] = {str(other.program.id): ann.id}
    assert "250 pts" not in text(client.get(f"/p/{other.program.slug}"))
    assert client.get(f"/p/{other.program.slug}/my-data.json").status_code == 303


def test_asking_for_a_link_answers_the_same_for_members_and_strangers(client, session, tenant, ann):
    known = client.post(f"/p/{tenant.program.slug}/link", data={"contact": "ann@example.com"})
    unknown = client.post(f"/p/{tenant.program.slug}/link", data={"contact": "who@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert "a link to it is on its way" in text(known)
    assert "a link to it is on its way" in text(unknown)
    sent = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "sign_in_link")
    ).all()
    assert [m.address for m in sent] == ["ann@example.com"]
    bad = client.post(f"/p/{tenant.program.slug}/link", data={"contact": "12"})
    assert bad.status_code == 400
    assert "is not a valid phone number" in text(bad)


def test_redeem_gives_a_voucher_with_code_and_qr_that_the_till_accepts(
    app, client, session, tenant, ann
):
    reward = factories.make_reward(session, tenant, cost=100, name="Free croissant")
    sign_in(app, client, session, ann)
    page = text(client.get(f"/p/{tenant.program.slug}"))
    assert "Redeem Free croissant" in page
    response = client.post(
        f"/p/{tenant.program.slug}/redeem", data={"reward_id": reward.id, "key": "k-12345678"}
    )
    assert response.status_code == 303
    voucher = session.scalars(select(Voucher)).one()
    assert response.headers["Location"].endswith(
        f"/p/{tenant.program.slug}/vouchers/{voucher.code}"
    )
    shown = client.get(response.headers["Location"])
    assert f"{voucher.code[:4]}-{voucher.code[4:]}" in text(shown)
    qr = client.get(f"/p/{tenant.program.slug}/vouchers/{voucher.code}/qr.png")
    assert qr.mimetype == "image/png"
    assert qr.data[:8] == b"\x89PNG\r\n\x1a\n"
    # A replayed form spends nothing more.
    client.post(
        f"/p/{tenant.program.slug}/redeem", data={"reward_id": reward.id, "key": "k-12345678"}
    )
    session.refresh(ann)
    assert ann.points_balance == 150
    # At the till, the voucher is used (service level, as the staff scanner calls it).
    used = use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="till-1",
        actor=factories.actor_for(factories.make_user(session, tenant)),
        shop=tenant.shop,
    )
    assert used.status == VoucherStatus.USED
    assert "Used" in text(client.get(f"/p/{tenant.program.slug}/vouchers/{voucher.code}"))


def test_the_card_shows_the_reward_ladder_with_used_rewards(app, client, session, tenant, ann):
    welcome = factories.make_reward(
        session, tenant, cost=100, name="Welcome coffee", limit=RedemptionLimit.ONCE
    )
    factories.make_reward(session, tenant, cost=200, name="Croissant box")
    factories.make_reward(session, tenant, cost=500, name="Birthday cake")
    sign_in(app, client, session, ann)
    client.post(
        f"/p/{tenant.program.slug}/redeem", data={"reward_id": welcome.id, "key": "k-welcome1"}
    )
    page = text(client.get(f"/p/{tenant.program.slug}"))  # 150 points left
    assert "Next reward: <strong>Croissant box</strong> in 50 pts" in page
    assert 'max="100" value="75"' in page  # 150 of 200
    assert page.count('data-state="used"') == 1
    assert "once per member" in page
    assert page.count('data-state="ready"') == 0  # 150 < 200
    assert page.count('data-state="ahead"') == 2
    again = client.post(
        f"/p/{tenant.program.slug}/redeem",
        data={"reward_id": welcome.id, "key": "k-welcome2"},
        follow_redirects=True,
    )
    assert "can be redeemed once per member" in text(again)
    assert len(session.scalars(select(Voucher)).all()) == 1


def test_redeem_without_enough_points_explains_and_spends_nothing(
    app, client, session, tenant, ann
):
    reward = factories.make_reward(session, tenant, cost=1_000, name="Cake")
    sign_in(app, client, session, ann)
    response = client.post(
        f"/p/{tenant.program.slug}/redeem",
        data={"reward_id": reward.id, "key": "k-12345678"},
        follow_redirects=True,
    )
    assert "costs 1000 points; the card has 250" in text(response)
    assert session.scalars(select(Voucher)).all() == []


def test_another_merchants_reward_or_voucher_is_not_reachable(
    app, client, session, tenant, other, ann, ann_elsewhere
):
    foreign_reward = factories.make_reward(session, other, cost=10)
    sign_in(app, client, session, ann)
    response = client.post(
        f"/p/{tenant.program.slug}/redeem",
        data={"reward_id": foreign_reward.id, "key": "k-12345678"},
        follow_redirects=True,
    )
    assert "not in this programme" in text(response)
    from loyalty.services.rewards import redeem

    theirs = redeem(session, member=ann_elsewhere, reward=foreign_reward, idempotency_key="r")
    assert client.get(f"/p/{tenant.program.slug}/vouchers/{theirs.code}").status_code == 404
    assert client.get(f"/p/{other.program.slug}/vouchers/{theirs.code}").status_code == 303


def test_marketing_choices_are_saved(app, client, session, tenant, ann):
    sign_in(app, client, session, ann)
    client.post(f"/p/{tenant.program.slug}/preferences", data={"marketing_sms": "y"})
    session.refresh(ann.customer)
    consents = ann.customer.consents
    assert consents["marketing_sms"]["granted"] is True
    assert consents["marketing_email"]["granted"] is False


def test_download_my_data_is_json_of_this_membership_only(
    app, client, session, tenant, other, ann, ann_elsewhere
):
    sign_in(app, client, session, ann)
    response = client.get(f"/p/{tenant.program.slug}/my-data.json")
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["card"]["card_number"] == ann.card_number
    assert other.merchant.name not in response.get_data(as_text=True)
    assert ann_elsewhere.card_number not in response.get_data(as_text=True)


def test_delete_asks_for_confirmation_then_anonymises_and_signs_out(
    app, client, session, tenant, ann
):
    sign_in(app, client, session, ann)
    confirm = client.get(f"/p/{tenant.program.slug}/delete")
    assert "Type DELETE to confirm" in text(confirm)
    wrong = client.post(f"/p/{tenant.program.slug}/delete", data={"confirm": "yes"})
    assert wrong.status_code == 400
    session.refresh(ann)
    assert ann.status == MemberStatus.ACTIVE
    done = client.post(f"/p/{tenant.program.slug}/delete", data={"confirm": "DELETE"})
    assert done.status_code == 200
    assert "Your account is deleted" in text(done)
    session.refresh(ann)
    session.refresh(ann.customer)
    assert ann.status == MemberStatus.CLOSED
    assert ann.customer.email is None
    assert ann.points_balance == 250  # the ledger total stays
    assert "Send me a link" in text(client.get(f"/p/{tenant.program.slug}"))
    assert session.scalars(select(MemberAccessToken)).all() == []


def test_pages_that_need_a_card_send_strangers_to_the_sign_in_page(client, tenant, ann):
    for path in ("my-data.json", "delete", "vouchers/ABCD2345"):
        response = client.get(f"/p/{tenant.program.slug}/{path}")
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/p/{tenant.program.slug}")


def test_sign_out_forgets_the_card_on_this_device(app, client, session, tenant, ann):
    sign_in(app, client, session, ann)
    client.post(f"/p/{tenant.program.slug}/sign-out")
    assert "Send me a link" in text(client.get(f"/p/{tenant.program.slug}"))


def test_the_card_shows_spend_already_counting_towards_the_next_point(app, client, session, tenant):
    tenant.program.points_per_euro = Decimal("0.2")
    tenant.program.carry_over_spend = True
    member = join(session, tenant, "carl@example.com", 3_250)
    sign_in(app, client, session, member)
    page = text(client.get(f"/p/{tenant.program.slug}"))
    assert "6 pts" in page
    assert "€2.50 of spending already counts towards your next point" in page


def test_the_card_shows_pending_points_and_the_next_expiry(app, client, session, tenant):
    tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    tenant.program.expiry_days = 365
    member = join(session, tenant, "dora@example.com", 4_000)
    tenant.program.pending_days = 14
    earn(session, member=member, amount_cents=1_000, idempotency_key="dora-2", shop=tenant.shop)
    sign_in(app, client, session, member)
    page = text(client.get(f"/p/{tenant.program.slug}"))
    assert "10 more points become available on" in page
    assert "Next expiry: 40 points on" in page  # pending points do not expire before release


def test_an_invite_link_on_the_card_brings_a_friend_who_joins_as_invited(
    app, client, session, tenant, ann
):
    tenant.program.referrer_bonus = 50
    tenant.program.referee_bonus = 30
    session.flush()
    sign_in(app, client, session, ann)
    card = text(client.get(f"/p/{tenant.program.slug}"))
    assert 'data-testid="invite"' in card
    session.refresh(ann)  # the request gave the code through its own session
    code = ann.referral_code
    assert code
    assert code in card
    join_page = text(client.get(f"/j/{tenant.program.slug}?ref={code}"))
    assert 'data-testid="invited"' in join_page
    assert f'value="{code}"' in join_page
    assert 'data-testid="invited"' not in text(client.get(f"/j/{tenant.program.slug}?ref=NOPE1234"))


def test_a_vouchers_last_day_is_the_merchants_calendar_day(app, client, session, tenant, ann):
    from datetime import UTC, datetime

    tenant.merchant.timezone = "Europe/Luxembourg"
    reward = factories.make_reward(session, tenant, cost=100, name="Free croissant")
    sign_in(app, client, session, ann)
    client.post(
        f"/p/{tenant.program.slug}/redeem", data={"reward_id": reward.id, "key": "k-12345678"}
    )
    voucher = session.scalars(select(Voucher)).one()
    voucher.valid_until = datetime(2027, 4, 1, 23, 30, tzinfo=UTC)  # 2 April, 01:30 in Luxembourg
    session.flush()
    assert "valid until 02 Apr 2027" in text(client.get(f"/p/{tenant.program.slug}"))
    shown = text(client.get(f"/p/{tenant.program.slug}/vouchers/{voucher.code}"))
    assert "before 02 Apr 2027" in shown
