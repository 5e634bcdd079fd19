"""Inviting people, accepting invitations, and changing the team: the staff service's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, InvalidToken, NotFound, PermissionDenied
from loyalty.models import AuditLog, Offering, OutboxMessage, Role, StaffInvitation
from loyalty.services import staff
from tests import factories


def link(token: str) -> str:
    return f"http://test/invitations/{token}"


@pytest.fixture
def owner(session, tenant):
    return factories.make_user(session, tenant, role=Role.OWNER)


def _invite(session, tenant, owner, email="anna@example.com", role=Role.STAFF, **kw):
    return staff.invite(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner, Role.OWNER),
        email=email,
        role=role,
        accept_url=link,
        **kw,
    )


def test_invitation_queues_an_email_with_the_link_and_accepting_creates_the_account(
    session, tenant, owner
):
    sent = _invite(session, tenant, owner, shop_id=tenant.shop.id)
    mail = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "staff_invitation")
    ).one()
    assert mail.address == "anna@example.com"
    assert mail.merchant_id == tenant.merchant.id
    assert mail.payload["link"] == link(sent.token)
    assert mail.payload["visible_to_user_id"] == owner.id
    membership = staff.accept(session, token=sent.token, name="Anna", password="long enough pw")
    assert membership.role == Role.STAFF
    assert membership.shop_id == tenant.shop.id
    assert membership.user.email == "anna@example.com"
    actions = set(session.scalars(select(AuditLog.action)))
    assert {"staff.invited", "staff.joined"} <= actions


def test_invitation_link_works_once(session, tenant, owner):
    sent = _invite(session, tenant, owner)
    staff.accept(session, token=sent.token, name="Anna", password="long enough pw")
    with pytest.raises(InvalidToken) as refused:
        staff.accept(session, token=sent.token, name="Eve", password="another password")
    assert refused.value.details["reason"] == "used"


def test_expired_invitation_is_refused_with_its_date(session, tenant, owner):
    sent = _invite(session, tenant, owner)
    later = utcnow() + staff.INVITATION_TTL + timedelta(minutes=1)
    with pytest.raises(InvalidToken) as refused:
        staff.check_invitation(session, token=sent.token, now=later)
    assert refused.value.details["reason"] == "expired"
    assert "expired on" in refused.value.message


def test_a_changed_token_is_not_valid(session, tenant, owner):
    sent = _invite(session, tenant, owner)
    with pytest.raises(InvalidToken) as refused:
        staff.check_invitation(session, token=sent.token[:-2] + "xx")
    assert refused.value.details["reason"] == "not_valid"


def test_resending_replaces_the_old_link(session, tenant, owner):
    first = _invite(session, tenant, owner)
    second = staff.resend(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner),
        invitation=first.invitation,
        accept_url=link,
    )
    with pytest.raises(InvalidToken) as refused:
        staff.check_invitation(session, token=first.token)
    assert refused.value.details["reason"] == "replaced"
    assert staff.check_invitation(session, token=second.token).id == second.invitation.id


def test_another_merchants_invitation_cannot_be_resent_or_withdrawn(session, tenant, owner):
    other = factories.make_tenant(session, name="Florist")
    other_owner = factories.make_user(session, other, role=Role.OWNER)
    theirs = _invite(session, other, other_owner)
    for action in (staff.resend, staff.withdraw):
        kwargs = {"accept_url": link} if action is staff.resend else {}
        with pytest.raises(NotFound):
            action(
                session,
                merchant=tenant.merchant,
                actor=factories.actor_for(owner),
                invitation=theirs.invitation,
                **kwargs,
            )
    assert theirs.invitation.revoked_at is None


def test_an_existing_account_accepts_only_while_signed_in_as_itself(session, tenant, owner):
    other = factories.make_tenant(session, name="Florist")
    person = factories.make_user(session, other, role=Role.MANAGER)
    sent = _invite(session, tenant, owner, email=person.email)
    with pytest.raises(PermissionDenied):
        staff.accept(session, token=sent.token, signed_in=None)
    with pytest.raises(PermissionDenied):
        staff.accept(session, token=sent.token, signed_in=owner)
    membership = staff.accept(session, token=sent.token, signed_in=person)
    assert membership.merchant_id == tenant.merchant.id


def test_managers_cannot_invite_or_make_owners(session, tenant, owner):
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    with pytest.raises(PermissionDenied):
        staff.invite(
            session,
            merchant=tenant.merchant,
            actor=factories.actor_for(manager, Role.MANAGER),
            email="boss@example.com",
            role=Role.OWNER,
            accept_url=link,
        )
    clerk = factories.make_user(session, tenant, role=Role.STAFF)
    membership = clerk.memberships[0]
    with pytest.raises(PermissionDenied):
        staff.change(
            session,
            merchant=tenant.merchant,
            actor=factories.actor_for(manager, Role.MANAGER),
            membership=membership,
            role=Role.OWNER,
            shop_id=None,
        )
    assert membership.role == Role.STAFF


def test_staff_cannot_invite(session, tenant):
    clerk = factories.make_user(session, tenant, role=Role.STAFF)
    with pytest.raises(PermissionDenied):
        staff.invite(
            session,
            merchant=tenant.merchant,
            actor=factories.actor_for(clerk, Role.STAFF),
            email="x@example.com",
            role=Role.STAFF,
            accept_url=link,
        )
    assert session.scalar(select(StaffInvitation.id)) is None


def test_the_last_owner_cannot_be_demoted(session, tenant, owner):
    membership = owner.memberships[0]
    with pytest.raises(InvalidInput, match="only owner"):
        staff.change(
            session,
            merchant=tenant.merchant,
            actor=factories.actor_for(owner),
            membership=membership,
            role=Role.MANAGER,
            shop_id=None,
        )
    assert membership.role == Role.OWNER


def test_an_owner_can_step_down_once_there_is_another_owner(session, tenant, owner):
    factories.make_user(session, tenant, role=Role.OWNER)
    membership = staff.change(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner),
        membership=owner.memberships[0],
        role=Role.MANAGER,
        shop_id=None,
    )
    assert membership.role == Role.MANAGER


def test_managers_cannot_switch_off_an_owner(session, tenant, owner):
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    with pytest.raises(PermissionDenied):
        staff.set_active(
            session,
            merchant=tenant.merchant,
            actor=factories.actor_for(manager, Role.MANAGER),
            membership=owner.memberships[0],
            active=False,
        )
    assert owner.memberships[0].active is True


def test_switching_someone_off_is_audited_and_they_can_be_switched_back_on(session, tenant, owner):
    clerk = factories.make_user(session, tenant, role=Role.STAFF)
    membership = clerk.memberships[0]
    staff.set_active(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner),
        membership=membership,
        active=False,
    )
    assert membership.active is False
    staff.set_active(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner),
        membership=membership,
        active=True,
    )
    actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-2:] == ["staff.deactivated", "staff.reactivated"]


def test_nobody_switches_off_their_own_access(session, tenant, owner):
    factories.make_user(session, tenant, role=Role.OWNER)
    with pytest.raises(InvalidInput, match="your own access"):
        staff.set_active(
            session,
            merchant=tenant.merchant,
            actor=factories.actor_for(owner),
            membership=owner.memberships[0],
            active=False,
        )


def test_inviting_someone_already_in_the_team_is_refused(session, tenant, owner):
    with pytest.raises(InvalidInput, match="already works"):
        _invite(session, tenant, owner, email=owner.email)


def test_invitation_for_basic_merchant_needs_no_feature(session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    owner = factories.make_user(session, basic, role=Role.OWNER)
    assert _invite(session, basic, owner).invitation.id
