"""The team page: who works here, inviting people, changing roles and shops, switching access off."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from loyalty.db import utcnow
from loyalty.errors import LoyaltyError
from loyalty.models import Membership, Role, Shop, StaffInvitation
from loyalty.services import staff as team
from web.backoffice.onboarding import next_step_url
from web.backoffice.setup_forms import InviteForm, MembershipForm, PlainForm
from web.backoffice.views import blueprint
from web.extensions import db
from web.form_errors import has_errors, show_on_form
from web.tenancy import (
    current_actor,
    current_merchant,
    current_role,
    signed_in_user,
    tenant_get_or_404,
    tenant_select,
)


def _accept_url(token: str) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    return base + url_for("auth.accept_invitation", token=token)


def _open_shops() -> list[tuple[int, str]]:
    rows = db.session.execute(
        tenant_select(Shop, Shop.id, Shop.name).where(Shop.active.is_(True)).order_by(Shop.name)
    )
    return [(shop_id, name) for shop_id, name in rows]


def _with_choices(form: InviteForm | MembershipForm) -> InviteForm | MembershipForm:
    form.set_choices(may_make_owners=current_role() == Role.OWNER, shops=_open_shops())
    return form


@blueprint.route("/staff", methods=["GET", "POST"])
def staff() -> Response | tuple[str, int]:
    """The team list, with the invitation form: POST sends an invitation."""
    merchant = current_merchant()
    assert merchant is not None
    form = _with_choices(InviteForm())
    if form.validate_on_submit():
        try:
            sent = team.invite(
                db.session,
                merchant=merchant,
                actor=current_actor(),
                email=form.email.data or "",
                role=Role(form.role.data),
                shop_id=form.shop(),
                accept_url=_accept_url,
            )
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            db.session.commit()
            flash(
                f"Invitation sent to {sent.invitation.email}. The link works for 7 days; "
                "you find the e-mail under Sent mail.",
                "success",
            )
            return redirect(next_step_url("staff") or url_for("backoffice.staff"))
    me = signed_in_user()
    return (
        render_template(
            "backoffice/staff.html",
            form=form,
            members=team.team(db.session, merchant),
            invitations=team.pending_invitations(db.session, merchant),
            action_form=PlainForm(),
            role_labels=team.ROLE_LABELS,
            me=me,
            now=utcnow(),
            may_manage_owners=current_role() == Role.OWNER,
        ),
        422 if has_errors(form) else 200,
    )


@blueprint.route("/staff/<int:membership_id>", methods=["GET", "POST"])
def staff_member(membership_id: int) -> Response | tuple[str, int]:
    membership = tenant_get_or_404(Membership, membership_id)
    form = _with_choices(MembershipForm(obj=membership))
    if not form.is_submitted():
        form.role.data = Role(membership.role).value
        form.shop_id.data = str(membership.shop_id) if membership.shop_id else ""
    if form.validate_on_submit():
        try:
            team.change(
                db.session,
                merchant=current_merchant(),
                actor=current_actor(),
                membership=membership,
                role=Role(form.role.data),
                shop_id=form.shop(),
            )
        except LoyaltyError as error:
            db.session.rollback()
            membership = tenant_get_or_404(Membership, membership_id)
            show_on_form(form, error)
        else:
            db.session.commit()
            flash(f"{membership.user.email} is saved.", "success")
            return redirect(url_for("backoffice.staff"))
    return (
        render_template(
            "backoffice/staff_member.html",
            form=form,
            membership=membership,
            action_form=PlainForm(),
            role_labels=team.ROLE_LABELS,
            may_change=Role(membership.role) != Role.OWNER or current_role() == Role.OWNER,
            is_me=membership.user_id == signed_in_user().id,
        ),
        422 if has_errors(form) else 200,
    )


def _posted() -> bool:
    if PlainForm().validate_on_submit():
        return True
    flash("The form expired. Try again.", "warning")
    return False


def _switch(membership_id: int, *, active: bool) -> Response:
    membership = tenant_get_or_404(Membership, membership_id)
    if _posted():
        try:
            team.set_active(
                db.session,
                merchant=current_merchant(),
                actor=current_actor(),
                membership=membership,
                active=active,
            )
        except LoyaltyError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            state = "can sign in again" if active else "can no longer sign in to this business"
            flash(f"{membership.user.email} {state}.", "success")
    return redirect(url_for("backoffice.staff"))


@blueprint.post("/staff/<int:membership_id>/deactivate")
def staff_deactivate(membership_id: int) -> Response:
    return _switch(membership_id, active=False)


@blueprint.post("/staff/<int:membership_id>/reactivate")
def staff_reactivate(membership_id: int) -> Response:
    return _switch(membership_id, active=True)


@blueprint.post("/staff/invitations/<int:invitation_id>/resend")
def invitation_resend(invitation_id: int) -> Response:
    invitation = tenant_get_or_404(StaffInvitation, invitation_id)
    if _posted():
        try:
            team.resend(
                db.session,
                merchant=current_merchant(),
                actor=current_actor(),
                invitation=invitation,
                accept_url=_accept_url,
            )
        except LoyaltyError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            flash(
                f"A new invitation is on its way to {invitation.email}; the old link no longer "
                "works.",
                "success",
            )
    return redirect(url_for("backoffice.staff"))


@blueprint.post("/staff/invitations/<int:invitation_id>/withdraw")
def invitation_withdraw(invitation_id: int) -> Response:
    invitation = tenant_get_or_404(StaffInvitation, invitation_id)
    if _posted():
        try:
            team.withdraw(
                db.session,
                merchant=current_merchant(),
                actor=current_actor(),
                invitation=invitation,
            )
        except LoyaltyError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            flash(f"The invitation to {invitation.email} is withdrawn.", "success")
    return redirect(url_for("backoffice.staff"))
