"""The people of a business: invitations by e-mail, roles, shops, switching access off and on.

Rules a shop owner expects: managers run the team but cannot make (or unmake) owners; a
business always keeps at least one active owner; nobody switches off their own access. Every
change is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, InvalidToken, NotFound, PermissionDenied
from loyalty.identity import normalize_email
from loyalty.models import (
    Membership,
    Merchant,
    OutboxChannel,
    Role,
    Shop,
    StaffInvitation,
    User,
)
from loyalty.notify import outbox
from loyalty.passwords import MIN_LENGTH
from loyalty.services import audit, merchants
from loyalty.services.actors import Actor
from loyalty.services.single_use import new_token, token_hash, when

INVITATION_TTL = timedelta(days=7)
INVITATION_TEMPLATE = "staff_invitation"
AcceptUrl = Callable[[str], str]

ROLE_LABELS = {Role.OWNER: "Owner", Role.MANAGER: "Manager", Role.STAFF: "Shop staff"}


@dataclass(frozen=True)
class Sent:
    invitation: StaffInvitation
    token: str  # for the link; never stored


# --- checks shared by every change ------------------------------------------------------------


def _may_manage_team(actor: Actor) -> None:
    actor.require_role(Role.MANAGER, "manage the team")


def _may_give(actor: Actor, role: Role) -> None:
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can make someone an owner.")


def _shop_of(session: Session, merchant: Merchant, shop_id: int | None) -> Shop | None:
    if shop_id is None:
        return None
    shop = session.get(Shop, shop_id)
    if shop is None or shop.merchant_id != merchant.id:
        raise InvalidInput("Choose one of your shops.", field="shop")
    if not shop.active:
        raise InvalidInput(f"{shop.name} is closed. Choose an open shop.", field="shop")
    return shop


def _own(row: Membership | StaffInvitation | None, merchant: Merchant, what: str):
    if row is None or row.merchant_id != merchant.id:
        raise NotFound(f"That {what} does not exist in {merchant.name}.")
    return row


def active_owner_count(session: Session, merchant: Merchant) -> int:
    return (
        session.scalar(
            select(func.count(Membership.id)).where(
                Membership.merchant_id == merchant.id,
                Membership.role == Role.OWNER,
                Membership.active.is_(True),
            )
        )
        or 0
    )


# --- invitations ------------------------------------------------------------------------------


def invite(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    email: str,
    role: Role,
    shop_id: int | None = None,
    accept_url: AcceptUrl,
    now: datetime | None = None,
) -> Sent:
    """Invite `email` to work in `merchant`: an e-mail with a link valid for seven days.

    Inviting the same address again replaces the pending invitation (its old link stops
    working), which is also what "resend" does.
    """
    _may_manage_team(actor)
    role = Role(role)
    _may_give(actor, role)
    address = normalize_email(email)
    shop = _shop_of(session, merchant, shop_id)
    if role != Role.STAFF and shop is not None:
        raise InvalidInput(
            "Owners and managers work in every shop: choose a shop only for shop staff.",
            field="shop",
        )
    existing = session.scalars(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.merchant_id == merchant.id, User.email == address)
    ).one_or_none()
    if existing is not None:
        state = "works" if existing.active else "is switched off"
        raise InvalidInput(
            f"{address} already {state} in {merchant.name}. Change their role or switch them "
            "back on in the team list instead.",
            field="email",
        )
    return _send(
        session,
        merchant=merchant,
        actor=actor,
        email=address,
        role=role,
        shop=shop,
        accept_url=accept_url,
        now=now or utcnow(),
    )


def _send(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    email: str,
    role: Role,
    shop: Shop | None,
    accept_url: AcceptUrl,
    now: datetime,
) -> Sent:
    session.execute(
        update(StaffInvitation)
        .where(
            StaffInvitation.merchant_id == merchant.id,
            StaffInvitation.email == email,
            StaffInvitation.accepted_at.is_(None),
            StaffInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token, digest = new_token()
    invitation = StaffInvitation(
        merchant_id=merchant.id,
        email=email,
        role=role,
        shop_id=shop.id if shop else None,
        token_hash=digest,
        invited_by_user_id=actor.user_id,
        expires_at=now + INVITATION_TTL,
        created_at=now,
    )
    session.add(invitation)
    session.flush()
    inviter = session.get(User, actor.user_id) if actor.user_id else None
    outbox.enqueue(
        session,
        merchant_id=merchant.id,
        channel=OutboxChannel.EMAIL,
        template=INVITATION_TEMPLATE,
        address=email,
        payload={
            "program": merchant.name,
            "role": ROLE_LABELS[role],
            "shop": shop.name if shop else "",
            "invited_by": (inviter.name or inviter.email) if inviter else "",
            "link": accept_url(token),
            "expires": when(invitation.expires_at),
            # The sent-mail page shows this message's link only to the person who sent it.
            "visible_to_user_id": actor.user_id,
        },
    )
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="staff.invited",
        target_type="invitation",
        target_id=invitation.id,
        email=email,
        role=role.value,
        shop_id=invitation.shop_id,
    )
    return Sent(invitation, token)


def resend(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    invitation: StaffInvitation | None,
    accept_url: AcceptUrl,
    now: datetime | None = None,
) -> Sent:
    """A new link (and e-mail) for a pending or expired invitation; the old link stops working."""
    _may_manage_team(actor)
    invitation = _own(invitation, merchant, "invitation")
    _may_give(actor, Role(invitation.role))
    if invitation.accepted_at is not None:
        raise InvalidInput("This invitation was already accepted.")
    if invitation.revoked_at is not None:
        raise InvalidInput("This invitation was withdrawn or replaced. Invite the person again.")
    shop = _shop_of(session, merchant, invitation.shop_id)
    return _send(
        session,
        merchant=merchant,
        actor=actor,
        email=invitation.email,
        role=Role(invitation.role),
        shop=shop,
        accept_url=accept_url,
        now=now or utcnow(),
    )


def withdraw(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    invitation: StaffInvitation | None,
    now: datetime | None = None,
) -> StaffInvitation:
    _may_manage_team(actor)
    invitation = _own(invitation, merchant, "invitation")
    _may_give(actor, Role(invitation.role))
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = now or utcnow()
        audit.record(
            session,
            merchant_id=merchant.id,
            actor=actor,
            action="staff.invitation_withdrawn",
            target_type="invitation",
            target_id=invitation.id,
            email=invitation.email,
        )
        session.flush()
    return invitation


def pending_invitations(session: Session, merchant: Merchant) -> list[StaffInvitation]:
    """Invitations not yet accepted or withdrawn, newest first (expired ones too: resend them)."""
    return list(
        session.scalars(
            select(StaffInvitation)
            .where(
                StaffInvitation.merchant_id == merchant.id,
                StaffInvitation.accepted_at.is_(None),
                StaffInvitation.revoked_at.is_(None),
            )
            .order_by(StaffInvitation.created_at.desc(), StaffInvitation.id.desc())
        )
    )


_NOT_VALID = (
    "This invitation link is not valid: it may have been cut short or changed. "
    "Open it from the e-mail again, or ask the person who invited you for a new one."
)


def check_invitation(
    session: Session, *, token: str, now: datetime | None = None
) -> StaffInvitation:
    """The invitation this link opens, or InvalidToken with reason not_valid/used/replaced/expired."""
    now = now or utcnow()
    invitation = session.scalars(
        select(StaffInvitation).where(StaffInvitation.token_hash == token_hash(token))
    ).one_or_none()
    if invitation is None or not token:
        raise InvalidToken(_NOT_VALID, reason="not_valid")
    if invitation.accepted_at is not None:
        raise InvalidToken(
            "This invitation was already accepted. Sign in with the e-mail address it was sent to.",
            reason="used",
        )
    if invitation.revoked_at is not None:
        raise InvalidToken(
            "This invitation link was replaced by a newer one or withdrawn. Use the most "
            "recent e-mail, or ask for a new invitation.",
            reason="replaced",
        )
    if invitation.expires_at <= now:
        raise InvalidToken(
            f"This invitation expired on {when(invitation.expires_at)}. Ask the person who "
            "invited you to send a new one.",
            reason="expired",
        )
    return invitation


def existing_user(session: Session, invitation: StaffInvitation) -> User | None:
    return session.scalars(select(User).where(User.email == invitation.email)).one_or_none()


def accept(
    session: Session,
    *,
    token: str,
    name: str = "",
    password: str = "",
    signed_in: User | None = None,
    now: datetime | None = None,
) -> Membership:
    """Use the invitation: a new account (name, password), or the signed-in account it names.

    Someone who already has an account (in another business) accepts while signed in as that
    address, so nobody can attach a membership to an account that is not theirs.
    """
    now = now or utcnow()
    invitation = check_invitation(session, token=token, now=now)
    user = existing_user(session, invitation)
    if user is not None:
        if signed_in is None or signed_in.id != user.id:
            raise PermissionDenied(
                f"An account for {invitation.email} already exists. Sign in with it first, "
                "then open the invitation link again."
            )
    else:
        if len(password or "") < MIN_LENGTH:
            raise InvalidInput(
                f"Choose a password of at least {MIN_LENGTH} characters.", field="password"
            )
        user = merchants.create_user(session, email=invitation.email, password=password, name=name)
    claimed = session.execute(
        update(StaffInvitation)
        .where(StaffInvitation.id == invitation.id, StaffInvitation.accepted_at.is_(None))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # accepted in another tab a moment ago
        raise InvalidToken("This invitation was already accepted.", reason="used")
    session.expire(invitation, ["accepted_at"])
    membership = merchants.add_membership(
        session,
        user=user,
        merchant=invitation.merchant,
        role=Role(invitation.role),
        shop=invitation.shop,
    )
    audit.record(
        session,
        merchant_id=invitation.merchant_id,
        actor=Actor(user_id=user.id, role=Role(invitation.role)),
        action="staff.joined",
        target_type="membership",
        target_id=membership.id,
        email=invitation.email,
        role=Role(invitation.role).value,
        invitation_id=invitation.id,
    )
    return membership


# --- the team ---------------------------------------------------------------------------------


def team(session: Session, merchant: Merchant) -> list[Membership]:
    """Everyone with a membership, active first, owners before managers before staff."""
    rank = {Role.OWNER: 0, Role.MANAGER: 1, Role.STAFF: 2}
    rows = session.scalars(
        select(Membership).join(User).where(Membership.merchant_id == merchant.id)
    ).all()
    return sorted(rows, key=lambda m: (not m.active, rank[Role(m.role)], m.user.email))


def _guard_owner_change(session: Session, merchant: Merchant, actor: Actor, row: Membership):
    if Role(row.role) == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can change another owner.")


def _keeps_an_owner(session: Session, merchant: Merchant, row: Membership) -> None:
    if Role(row.role) == Role.OWNER and row.active and active_owner_count(session, merchant) <= 1:
        raise InvalidInput(
            f"{row.user.email} is the only owner of {merchant.name}. Make someone else an "
            "owner first: a business always needs one."
        )


def change(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    membership: Membership | None,
    role: Role,
    shop_id: int | None,
) -> Membership:
    """Set someone's role and shop (shop only for shop staff; None means every shop)."""
    _may_manage_team(actor)
    row = _own(membership, merchant, "team member")
    role = Role(role)
    _guard_owner_change(session, merchant, actor, row)
    _may_give(actor, role)
    shop = _shop_of(session, merchant, shop_id) if role == Role.STAFF else None
    if Role(row.role) == Role.OWNER and role != Role.OWNER:
        _keeps_an_owner(session, merchant, row)
    before = {"role": Role(row.role).value, "shop_id": row.shop_id}
    row.role = role
    row.shop_id = shop.id if shop else None
    session.flush()
    after = {"role": role.value, "shop_id": row.shop_id}
    if before != after:
        audit.record(
            session,
            merchant_id=merchant.id,
            actor=actor,
            action="staff.changed",
            target_type="membership",
            target_id=row.id,
            email=row.user.email,
            before=before,
            after=after,
        )
    return row


def set_active(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    membership: Membership | None,
    active: bool,
) -> Membership:
    """Switch someone's access to this business off (kept in the list, history intact) or on."""
    _may_manage_team(actor)
    row = _own(membership, merchant, "team member")
    _guard_owner_change(session, merchant, actor, row)
    if row.active == active:
        return row
    if not active:
        if row.user_id == actor.user_id:
            raise InvalidInput("You cannot switch off your own access. Ask another owner.")
        _keeps_an_owner(session, merchant, row)
    row.active = active
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="staff.reactivated" if active else "staff.deactivated",
        target_type="membership",
        target_id=row.id,
        email=row.user.email,
        role=Role(row.role).value,
    )
    return row
