"""Sign-in, sign-out and the switch-business page; Flask-Login's user loader lives here too."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_required, login_user, logout_user

from loyalty.db import utcnow
from loyalty.models import User
from web.auth.credentials import authenticate
from web.auth.forms import ChooseBusinessForm, LoginForm
from web.errors import respond, wants_json
from web.extensions import db, limiter, login_manager
from web.tenancy import (
    MAX_ID,
    choose_merchant,
    current_membership,
    home_url,
    memberships_of,
    signed_in_user,
)

blueprint = Blueprint("auth", __name__, template_folder="templates")

# One message for an unknown e-mail and a wrong password: the page must not tell which.
BAD_CREDENTIALS = "That e-mail and password do not match an account. Check both and try again."
ACCOUNT_DISABLED = "This account is switched off. Ask the business owner to switch it back on."


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of the session; None (signed out) for a switched-off or deleted account, or
    for a session made before the account's last password reset or change (User.get_id)."""
    raw_id, _, raw_version = str(user_id).partition(":")
    try:
        key, version = int(raw_id), int(raw_version)
    except (TypeError, ValueError):
        return None
    if not 0 < key <= MAX_ID:
        return None
    user = db.session.get(User, key)
    if user is None or not user.is_active or user.session_version != version:
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    if wants_json():
        return respond(401, "Sign in first.")
    flash("Sign in to continue.", "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: `next` must not send people elsewhere."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(char) < 32 or char == "\\" for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _login_limit() -> str:
    return current_app.config.get("LOGIN_RATE_LIMIT", "10 per minute")


def _limits_switched_off() -> bool:
    # The limiter object is shared by every app in the process (tests build several), so the
    # switch is read from the app that serves this request.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def _failed_attempt(response: Response) -> bool:
    # A successful sign-in redirects; only the attempts that did not succeed use up the budget.
    return response.status_code != 302


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _login_limit,
    methods=["POST"],
    deduct_when=_failed_attempt,
    exempt_when=_limits_switched_off,
)
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        # After accepting an invitation the address is known: one field less to type.
        form.email.data = request.args.get("email", "")[:254]
    next_url = safe_next(form.next.data)
    if signed_in_user() is not None:
        return redirect(next_url or home_url())
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400 if form.errors else 200

    user = authenticate(db.session, form.email.data or "", form.password.data or "")
    if user is None or not user.is_active:
        db.session.rollback()  # an upgraded hash of a refused sign-in is not kept
        error = BAD_CREDENTIALS if user is None else ACCOUNT_DISABLED
        current_app.logger.info(
            "sign-in refused",  # no e-mail: the log must not become a list of who tried
            extra={"fields": {"event": "sign_in_refused", "account_disabled": user is not None}},
        )
        return render_template("auth/login.html", form=form, error=error), 401

    # Nothing stored before sign-in (a half-filled form, a chosen business) carries over.
    session.clear()
    # Not a permanent session: Flask-Login's "strong" protection only downgrades a permanent
    # session to non-fresh when the browser changes, but drops a browser session entirely.
    # The signed cookie still expires after PERMANENT_SESSION_LIFETIME (Flask checks its age).
    login_user(user)
    user.last_login_at = utcnow()
    db.session.commit()
    current_app.logger.info("sign-in", extra={"fields": {"event": "sign_in", "user_id": user.id}})
    if not user.is_platform_admin and current_membership() is None and memberships_of(user):
        keep = {"next": next_url} if next_url else {}
        return redirect(url_for("auth.switch_business", **keep))
    return redirect(next_url or home_url())


@blueprint.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/switch-business", methods=["GET", "POST"])
@login_required
def switch_business() -> Response | str:
    form = ChooseBusinessForm()
    if request.method == "POST":
        if not form.validate():
            abort(400, description="Choose one of the businesses listed.")
        membership = choose_merchant(form.merchant_id.data or 0)
        if membership is None:
            abort(404)  # not one of this user's businesses: indistinguishable from none at all
        flash(f"You are now working in {membership.merchant.name}.", "success")
        return redirect(safe_next(form.next.data) or home_url())
    user = signed_in_user()
    assert user is not None  # login_required
    return render_template(
        "auth/switch_business.html",
        memberships=memberships_of(user),
        current=current_membership(),
        next_url=safe_next(request.args.get("next")) or "",
    )


from web.auth import accounts  # noqa: E402, F401  (registers sign-up, password reset, invitations)
