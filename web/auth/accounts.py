"""Getting an account without being signed in: sign-up, password reset and staff invitations;
and, signed in, changing one's password.

Registered on the `auth` blueprint. Every form here is rate-limited per client address, and
the password reset form answers the same whatever the address, so none of these pages tells
a visitor who has an account.
"""

from __future__ import annotations

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_required, login_user

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, InvalidToken, PermissionDenied
from loyalty.models import User
from loyalty.services import onboarding, password_reset, staff
from web.auth.forms import (
    AcceptInvitationForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    PlainForm,
    ResetPasswordForm,
    SignUpForm,
)
from web.auth.views import blueprint
from web.extensions import db, limiter
from web.form_errors import show_on_form
from web.tenancy import choose_merchant, home_url, signed_in_user


def _form_limit() -> str:
    return current_app.config.get("ACCOUNT_FORM_RATE_LIMIT", "10 per minute;50 per hour")


def _limits_switched_off() -> bool:
    # The limiter is shared by every app in the process (tests build several): ask this one.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def _external(endpoint: str, **values: str) -> str:
    """A link for an e-mail: on the platform's public address, not the Host of this request."""
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    return base + url_for(endpoint, **values)


def _start_session(user: User, merchant_id: int | None = None) -> None:
    session.clear()  # nothing from before the sign-in carries over (as /login does)
    login_user(user)
    user.last_login_at = utcnow()
    if merchant_id is not None:
        choose_merchant(merchant_id)


# --- sign-up ----------------------------------------------------------------------------------


@blueprint.route("/signup", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"], exempt_when=_limits_switched_off)
def signup() -> Response | tuple[str, int] | str:
    if signed_in_user() is not None:
        flash("You are signed in already. Sign out to create another business.", "info")
        return redirect(home_url())
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            signed_up = onboarding.sign_up(
                db.session,
                business_name=form.business_name.data or "",
                email=form.email.data or "",
                password=form.password.data or "",
                name=form.name.data or "",
            )
        except InvalidInput as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            _start_session(signed_up.user, signed_up.merchant.id)
            db.session.commit()
            flash(f"Welcome! {signed_up.merchant.name} is set up. Choose your offering.", "success")
            return redirect(url_for("backoffice.offering"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("auth/signup.html", form=form), status


# --- forgotten password -----------------------------------------------------------------------


@blueprint.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"], exempt_when=_limits_switched_off)
def forgot_password() -> Response | tuple[str, int] | str:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_reset.request_reset(
            db.session,
            email=form.email.data or "",
            reset_url=lambda token: _external("auth.reset_password", token=token),
            platform_name=current_app.config.get("PLATFORM_NAME", "Loyalty"),
        )
        db.session.commit()
        # The same page whether or not the address has an account.
        return render_template("auth/reset_sent.html", email=form.email.data)
    return render_template("auth/forgot_password.html", form=form), 422 if form.errors else 200


def _link_problem(error: InvalidToken, *, what: str, again: str, again_label: str):
    return (
        render_template(
            "auth/link_problem.html",
            what=what,
            message=error.message,
            again=again,
            again_label=again_label,
        ),
        410 if error.details.get("reason") in {"used", "expired", "replaced"} else 404,
    )


@blueprint.route("/reset-password/<token>", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"], exempt_when=_limits_switched_off)
def reset_password(token: str) -> Response | tuple[str, int] | str:
    problem = {
        "what": "Password reset link",
        "again": url_for("auth.forgot_password"),
        "again_label": "Ask for a new link",
    }
    try:
        row = password_reset.check_token(db.session, token=token)
    except InvalidToken as error:
        return _link_problem(error, **problem)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = password_reset.reset_password(
                db.session, token=token, password=form.password.data or ""
            )
        except InvalidToken as error:
            db.session.rollback()
            return _link_problem(error, **problem)
        except InvalidInput as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            db.session.commit()
            current_app.logger.info(
                "password reset", extra={"fields": {"event": "password_reset", "user_id": user.id}}
            )
            flash("Your password is changed. Sign in with the new one.", "success")
            return redirect(url_for("auth.login"))
    return (
        render_template("auth/reset_password.html", form=form, email=row.user.email),
        422 if form.errors else 200,
    )


@blueprint.route("/account", methods=["GET", "POST"])
@login_required
@limiter.limit(_form_limit, methods=["POST"], exempt_when=_limits_switched_off)
def change_password() -> Response | tuple[str, int] | str:
    form = ChangePasswordForm()
    signed_in = signed_in_user()
    assert signed_in is not None  # login_required
    user = db.session.get(User, signed_in.id)  # the row itself: login_user must not get a proxy
    assert user is not None
    if form.validate_on_submit():
        try:
            password_reset.change_password(
                db.session, user=user, current=form.current.data or "", new=form.password.data or ""
            )
        except InvalidInput as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            db.session.commit()
            login_user(user)  # this session carries the new version; the others end
            current_app.logger.info(
                "password changed",
                extra={"fields": {"event": "password_changed", "user_id": user.id}},
            )
            flash(
                "Your password is changed. Every other session of yours is signed out.", "success"
            )
            return redirect(home_url())
    return (
        render_template("auth/change_password.html", form=form, email=user.email),
        422 if form.errors else 200,
    )


# --- staff invitations ------------------------------------------------------------------------


@blueprint.route("/invitations/<token>", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"], exempt_when=_limits_switched_off)
def accept_invitation(token: str) -> Response | tuple[str, int] | str:
    problem = {
        "what": "Invitation",
        "again": url_for("auth.login"),
        "again_label": "Go to sign-in",
    }
    try:
        invitation = staff.check_invitation(db.session, token=token)
    except InvalidToken as error:
        return _link_problem(error, **problem)
    existing = staff.existing_user(db.session, invitation)
    me = signed_in_user()
    form = PlainForm() if existing is not None else AcceptInvitationForm()
    if form.validate_on_submit():
        new_account = isinstance(form, AcceptInvitationForm)
        try:
            membership = staff.accept(
                db.session,
                token=token,
                name=(form.name.data if new_account else "") or "",
                password=(form.password.data if new_account else "") or "",
                signed_in=me,
            )
        except InvalidToken as error:
            db.session.rollback()
            return _link_problem(error, **problem)
        except PermissionDenied as error:
            db.session.rollback()
            flash(error.message, "warning")
        except InvalidInput as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            merchant_name = invitation.merchant.name
            if me is not None:
                choose_merchant(membership.merchant_id)
                db.session.commit()
                flash(f"You now work in {merchant_name}.", "success")
                return redirect(home_url())
            db.session.commit()
            flash(
                f"Your account for {merchant_name} is ready. Sign in with your e-mail and the "
                "password you just chose.",
                "success",
            )
            return redirect(url_for("auth.login", email=invitation.email))
    status = 422 if form.errors or getattr(form, "form_errors", None) else 200
    return (
        render_template(
            "auth/accept_invitation.html",
            form=form,
            invitation=invitation,
            existing=existing,
            me=me,
            role_label=staff.ROLE_LABELS[invitation.role],
            here=request.path,
        ),
        status,
    )
