"""The set-up pages through the Flask client: sign-up, roles, limits, invitations, sent mail, resets."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.models import (
    Membership,
    Merchant,
    Offering,
    OutboxChannel,
    OutboxMessage,
    Role,
    StaffInvitation,
    User,
)
from loyalty.notify.delivery import Deliverer
from loyalty.notify.senders import LocalLogSender
from loyalty.passwords import verify_password
from loyalty.services.merchants import program_of
from tests import factories

LINK = re.compile(r"http://[^\s<\"]+")


def deliver(session) -> None:
    """What the worker does: here, the local log (no SMTP settings)."""
    Deliverer({OutboxChannel.EMAIL: LocalLogSender("email")}).run(session)


def settings_form(**changes):
    form = {
        "name": "Dupont Rewards",
        "points_per_euro": "2",
        "rounding": "floor",
        "expiry_policy": "none",
        "signup_bonus": "10",
        "birthday_bonus": "20",
        "currency": "EUR",
        "primary_color": "#123456",
        "secondary_color": "#fafafa",
    }
    form.update(changes)
    return form


def test_sign_up_creates_the_business_and_leads_to_the_offering(client, session):
    response = client.post(
        "/signup",
        data={
            "business_name": "Boulangerie Test",
            "email": "owner@test.example.com",
            "password": "croissant-42-beurre",
            "confirm": "croissant-42-beurre",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/backoffice/offering"
    page = client.get("/backoffice/offering")
    assert page.status_code == 200
    assert "Choose your offering" in page.text
    merchant = session.scalars(select(Merchant).where(Merchant.name == "Boulangerie Test")).one()
    assert merchant.offering == Offering.BASIC


def test_sign_up_with_mismatched_passwords_changes_nothing(client, session):
    response = client.post(
        "/signup",
        data={
            "business_name": "Nope",
            "email": "nope@example.com",
            "password": "croissant-42-beurre",
            "confirm": "something else entirely",
        },
    )
    assert response.status_code == 422
    assert "not the same" in response.text
    assert session.scalar(select(User.id).where(User.email == "nope@example.com")) is None


def test_staff_cannot_open_programme_settings(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    assert client.get("/backoffice/settings").status_code == 403
    assert client.post("/backoffice/settings", data=settings_form()).status_code == 403


def test_managers_see_settings_read_only_and_cannot_change_them(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    page = client.get("/backoffice/settings")
    assert page.status_code == 200
    assert "Only an owner can change these settings" in page.text
    assert client.post("/backoffice/settings", data=settings_form()).status_code == 403
    assert program_of(session, tenant.merchant).name != "Dupont Rewards"


def test_owner_saves_programme_settings(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = client.post("/backoffice/settings", data=settings_form())
    assert response.status_code == 302
    session.expire_all()  # the request wrote through its own session
    program = program_of(session, tenant.merchant)
    assert program.name == "Dupont Rewards"
    assert program.primary_color == "#123456"


def test_bad_settings_show_the_problem_next_to_the_field(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = client.post(
        "/backoffice/settings", data=settings_form(expiry_policy="after_days", expiry_days="")
    )
    assert response.status_code == 422
    assert "after how many days" in response.text


def test_managers_cannot_change_the_offering(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    page = client.get("/backoffice/offering")
    assert "Only an owner" in page.text
    response = client.post("/backoffice/offering", data={"offering": "enterprise"})
    assert response.status_code == 422
    assert tenant.merchant.offering == Offering.PLUS


def test_basic_merchant_sees_the_shop_limit_and_cannot_add_a_second_shop(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    login_as(factories.make_user(session, basic, role=Role.OWNER))
    page = client.get("/backoffice/shops")
    assert "includes up to 1 shop" in page.text
    response = client.post(
        "/backoffice/shops/new", data={"name": "Second", "timezone": "Europe/Luxembourg"}
    )
    assert response.status_code == 422
    assert "Upgrade the offering" in response.text
    assert len(basic.merchant.shops) == 1


def test_closing_a_shop_needs_a_post_and_is_reversible(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    assert client.post(f"/backoffice/shops/{tenant.shop.id}/close").status_code == 302
    session.refresh(tenant.shop)
    assert tenant.shop.active is False
    assert client.post(f"/backoffice/shops/{tenant.shop.id}/reopen").status_code == 302
    session.refresh(tenant.shop)
    assert tenant.shop.active is True


def _invite(client, email="anna@example.com", role="staff", shop=""):
    return client.post("/backoffice/staff", data={"email": email, "role": role, "shop_id": shop})


def test_invitation_link_shows_only_to_the_inviter_on_the_sent_mail_page(
    client, login_as, session, tenant
):
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    login_as(owner)
    assert _invite(client, shop=str(tenant.shop.id)).status_code == 302
    deliver(session)
    mine = client.get("/backoffice/mail").text
    links = [link for link in LINK.findall(mine) if "/invitations/" in link]
    assert len(links) == 1
    login_as.logout()
    login_as(manager)
    theirs = client.get("/backoffice/mail").text
    assert "you are invited to join the team" in theirs
    assert "/invitations/" not in theirs
    assert "[link hidden" in theirs


def test_invited_person_accepts_sets_a_password_and_signs_in(client, login_as, session, tenant):
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    login_as(owner)
    _invite(client, shop=str(tenant.shop.id))
    deliver(session)
    link = next(
        link
        for link in LINK.findall(client.get("/backoffice/mail").text)
        if "/invitations/" in link
    )
    path = link.split("127.0.0.1:5000", 1)[-1]
    login_as.logout()
    page = client.get(path)
    assert page.status_code == 200
    assert f"Join {tenant.merchant.name}" in page.text
    done = client.post(
        path, data={"name": "Anna", "password": "a long password", "confirm": "a long password"}
    )
    assert done.status_code == 302
    anna = session.scalars(select(User).where(User.email == "anna@example.com")).one()
    assert login_as(anna, password="a long password").headers["Location"] == "/staff/"
    again = client.get(path)
    assert again.status_code == 410
    assert "already accepted" in again.text


def test_an_expired_invitation_gives_a_clear_page(client, session, tenant):
    from loyalty.services import staff

    owner = factories.make_user(session, tenant, role=Role.OWNER)
    sent = staff.invite(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner),
        email="late@example.com",
        role=Role.STAFF,
        accept_url=lambda token: token,
        now=utcnow() - staff.INVITATION_TTL - timedelta(hours=1),
    )
    page = client.get(f"/invitations/{sent.token}")
    assert page.status_code == 410
    assert "expired on" in page.text
    assert client.get("/invitations/not-a-real-token").status_code == 404


def test_managers_cannot_invite_owners_through_the_page(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    response = _invite(client, email="boss@example.com", role="owner")
    assert response.status_code == 422
    assert session.scalar(select(StaffInvitation.id)) is None


def test_a_switched_off_person_can_no_longer_work_in_the_business(
    client, login_as, session, tenant
):
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    clerk = factories.make_user(session, tenant, role=Role.STAFF)
    membership = clerk.memberships[0]
    login_as(owner)
    assert client.post(f"/backoffice/staff/{membership.id}/deactivate").status_code == 302
    session.refresh(membership)
    assert membership.active is False
    login_as.logout()
    login_as(clerk)
    blocked = client.get("/staff/")
    assert blocked.status_code == 302  # signed out at once, with the reason on the sign-in page
    assert "switched off, so you are signed out" in client.get("/login").text


def test_password_reset_answers_the_same_for_unknown_addresses(client, session, tenant):
    user = factories.make_user(session, tenant, role=Role.OWNER)
    known = client.post("/forgot-password", data={"email": user.email})
    unknown = client.post("/forgot-password", data={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(user.email, "X") == unknown.text.replace("nobody@example.com", "X")
    assert session.scalars(select(OutboxMessage.template)).all() == ["password_reset"]


def test_password_reset_mail_is_on_no_merchant_page_but_on_the_admin_page(
    client, login_as, session, tenant
):
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    client.post("/forgot-password", data={"email": owner.email})
    deliver(session)
    login_as(manager)
    assert "password" not in client.get("/backoffice/mail").text.lower().split("sent mail", 1)[-1]
    login_as.logout()
    login_as(factories.make_user(session, platform_admin=True))
    admin_page = client.get("/admin/mail").text
    assert "/reset-password/" in admin_page


def test_reset_link_sets_the_new_password_once(client, session, tenant):
    user = factories.make_user(session, tenant, role=Role.OWNER)
    client.post("/forgot-password", data={"email": user.email})
    message = session.scalars(select(OutboxMessage)).one()
    path = message.payload["link"].split("127.0.0.1:5000", 1)[-1]
    assert client.get(path).status_code == 200
    done = client.post(path, data={"password": "new password 42", "confirm": "new password 42"})
    assert done.status_code == 302
    session.refresh(user)
    assert verify_password(user.password_hash, "new password 42")
    used = client.get(path)
    assert used.status_code == 410
    assert "already used" in used.text


@pytest.mark.parametrize("path", ["/signup", "/forgot-password"])
def test_account_pages_are_reachable_from_sign_in(client, path):
    assert path in client.get("/login").text
    assert client.get(path).status_code == 200


def test_go_live_from_the_checklist(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    program = program_of(session, basic.merchant)
    program.launched_at = None
    login_as(factories.make_user(session, basic, role=Role.OWNER))
    page = client.get("/backoffice/launch")
    assert "Missing" in page.text
    assert client.post("/backoffice/launch").status_code == 422
    client.post("/backoffice/offering", data={"offering": "basic"})
    client.post("/backoffice/settings", data=settings_form())
    response = client.post("/backoffice/launch")
    assert response.status_code == 302
    session.refresh(program)
    assert program.launched_at is not None
    assert "Live since" in client.get("/backoffice/launch").text


def test_memberships_of_a_deactivated_user_are_not_offered(session, tenant):
    clerk = factories.make_user(session, tenant, role=Role.STAFF)
    clerk.memberships[0].active = False
    session.flush()
    rows = session.scalars(
        select(Membership).where(Membership.user_id == clerk.id, Membership.active.is_(True))
    ).all()
    assert rows == []


def test_resending_an_invitation_replaces_its_link(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    _invite(client)
    first = session.scalars(select(StaffInvitation)).one()
    first_link = session.scalars(select(OutboxMessage)).one().payload["link"]
    assert client.post(f"/backoffice/staff/invitations/{first.id}/resend").status_code == 302
    links = [m.payload["link"] for m in session.scalars(select(OutboxMessage))]
    assert len(links) == 2
    old = client.get(first_link.split("127.0.0.1:5000", 1)[-1])
    assert old.status_code == 410
    assert "replaced by a newer one" in old.text
    assert client.get(links[1].split("127.0.0.1:5000", 1)[-1]).status_code == 200


def test_someone_with_an_account_accepts_while_signed_in(client, login_as, session, tenant):
    from loyalty.services import staff

    other = factories.make_tenant(session, name="Florist")
    person = factories.make_user(session, other, role=Role.MANAGER)
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    sent = staff.invite(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner),
        email=person.email,
        role=Role.MANAGER,
        accept_url=lambda token: token,
    )
    signed_out = client.get(f"/invitations/{sent.token}")
    assert "Sign in to accept" in signed_out.text
    login_as(person)
    page = client.get(f"/invitations/{sent.token}")
    assert "Accept and join" in page.text
    assert client.post(f"/invitations/{sent.token}").status_code == 302
    memberships = session.scalars(select(Membership).where(Membership.user_id == person.id))
    assert {m.merchant_id for m in memberships} == {tenant.merchant.id, other.merchant.id}


def test_back_office_pages_point_to_the_checklist_until_live(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    assert 'data-testid="setup-notice"' in client.get("/backoffice/members").text
    assert 'data-testid="setup-notice"' not in client.get("/backoffice/settings").text
    program = program_of(session, tenant.merchant)
    program.launched_at = utcnow()
    session.flush()
    assert 'data-testid="setup-notice"' not in client.get("/backoffice/members").text


def test_owner_sets_carry_over_return_window_and_refund_rule(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = client.post(
        "/backoffice/settings",
        data=settings_form(carry_over_spend="y", pending_days="14", refund_shortfall="claw_back"),
    )
    assert response.status_code == 302
    session.expire_all()
    program = program_of(session, tenant.merchant)
    assert program.carry_over_spend is True
    assert program.pending_days == 14
    assert program.refund_shortfall == "claw_back"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pending_days": "61"}, "Between 0 and 60 days"),
        ({"refund_shortfall": "forgive"}, "Choose one of the refund rules offered"),
    ],
)
def test_bad_mechanics_settings_change_nothing(client, login_as, session, tenant, changes, message):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = client.post("/backoffice/settings", data=settings_form(**changes))
    assert response.status_code == 422
    assert message in response.text
    session.expire_all()
    program = program_of(session, tenant.merchant)
    assert (program.pending_days, program.refund_shortfall) == (0, "absorb")


def test_a_plus_owner_sets_the_referral_rewards(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    assert "Invite a friend" in client.get("/backoffice/settings").text
    response = client.post(
        "/backoffice/settings",
        data=settings_form(referrer_bonus="50", referee_bonus="30", referral_min_spend="10,00"),
    )
    assert response.status_code == 302
    session.expire_all()
    program = program_of(session, tenant.merchant)
    assert (program.referrer_bonus, program.referee_bonus) == (50, 30)
    assert program.referral_min_spend_cents == 1000


def test_basic_merchants_see_no_referral_settings(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    login_as(factories.make_user(session, basic, role=Role.OWNER))
    assert "Invite a friend" not in client.get("/backoffice/settings").text
    response = client.post("/backoffice/settings", data=settings_form(referrer_bonus="50"))
    assert response.status_code == 302  # the field is not theirs: ignored, not an error
    session.expire_all()
    assert program_of(session, basic.merchant).referrer_bonus == 0
