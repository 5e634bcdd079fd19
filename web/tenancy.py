"""Which merchant a request works for, and the one road every tenant query takes.

A signed-in user belongs to merchants through active `Membership` rows (a switched-off one
opens nothing); the merchant they are working in is kept in the Flask session under
`MERCHANT_SESSION_KEY`. Views never filter by
`merchant_id` themselves: they call `tenant_select` or `tenant_get_or_404`, so a forgotten
filter cannot leak another tenant's row. Another tenant's id gives 404, never 403 and never
the row (DESIGN.md, "Tenancy").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from sqlalchemy import Select, select

from loyalty.models import Membership, Merchant, MerchantStatus, Role, Shop, User
from loyalty.services.actors import Actor
from web.extensions import db, login_manager

MERCHANT_SESSION_KEY = "merchant_id"

# Largest id an INTEGER primary key holds on PostgreSQL. Larger numbers in a URL cannot name
# a row, and passing them to the database would fail with an overflow (a 500) instead of a 404.
MAX_ID = 2**31 - 1

# Keeps ?page=… inside what OFFSET accepts on every database, far beyond any real list.
MAX_PAGE = 100_000

P = ParamSpec("P")
R = TypeVar("R")
_NO_MEMBERSHIP = object()


# --- who is working, for whom -------------------------------------------------------------


def signed_in_user() -> User | None:
    return current_user if current_user.is_authenticated else None  # type: ignore[return-value]


def memberships_of(user: User) -> list[Membership]:
    """Every business the user works for, by name: the choices of the switch-business page."""
    return list(
        db.session.scalars(
            select(Membership)
            .join(Merchant, Merchant.id == Membership.merchant_id)
            .where(Membership.user_id == user.id, Membership.active.is_(True))
            .order_by(Merchant.name, Merchant.id)
        )
    )


def current_membership() -> Membership | None:
    """The signed-in user's membership in the merchant chosen for this session, if any.

    A user with exactly one membership needs no choice, so it is picked (and remembered)
    for them. A stale choice (the membership was removed) counts as no choice.
    """
    cached = g.get("_current_membership", _NO_MEMBERSHIP)
    if cached is not _NO_MEMBERSHIP:
        return cached  # type: ignore[return-value]
    membership = _resolve_membership()
    g._current_membership = membership
    return membership


def _resolve_membership() -> Membership | None:
    user = signed_in_user()
    if user is None:
        return None
    chosen = session.get(MERCHANT_SESSION_KEY)
    if isinstance(chosen, int):
        membership = db.session.scalars(
            select(Membership).where(
                Membership.user_id == user.id,
                Membership.merchant_id == chosen,
                Membership.active.is_(True),
            )
        ).one_or_none()
        if membership is not None:
            return membership
    session.pop(MERCHANT_SESSION_KEY, None)
    memberships = memberships_of(user)
    if len(memberships) == 1:
        session[MERCHANT_SESSION_KEY] = memberships[0].merchant_id
        return memberships[0]
    return None


def choose_merchant(merchant_id: int) -> Membership | None:
    """Switch the session to `merchant_id` if the user works there; None (and no change) if not."""
    user = signed_in_user()
    if user is None:
        return None
    membership = db.session.scalars(
        select(Membership).where(
            Membership.user_id == user.id,
            Membership.merchant_id == merchant_id,
            Membership.active.is_(True),
        )
    ).one_or_none()
    if membership is not None:
        session[MERCHANT_SESSION_KEY] = membership.merchant_id
        g._current_membership = membership
    return membership


def current_merchant() -> Merchant | None:
    membership = current_membership()
    return membership.merchant if membership is not None else None


def current_merchant_id() -> int | None:
    membership = current_membership()
    return membership.merchant_id if membership is not None else None


def current_role() -> Role | None:
    membership = current_membership()
    return Role(membership.role) if membership is not None else None


def current_shop_id() -> int | None:
    """The shop a shop-bound staff member works in; None for people who see every shop."""
    membership = current_membership()
    return membership.shop_id if membership is not None else None


def current_shop() -> Shop | None:
    shop_id = current_shop_id()
    return tenant_get_or_404(Shop, shop_id) if shop_id is not None else None


def current_actor() -> Actor | None:
    """The signed-in person as the services see them: user, role and shop in this business."""
    user = signed_in_user()
    membership = current_membership()
    if user is None or membership is None:
        return None
    return Actor(user_id=user.id, role=Role(membership.role), shop_id=membership.shop_id)


def display_timezone(zone: str | None = None) -> ZoneInfo:
    """Times are stored in UTC and shown in the shop's zone, else the merchant's, else UTC."""
    name = zone or "UTC"
    membership = current_membership() if zone is None and signed_in_user() is not None else None
    if membership is not None:
        name = membership.shop.timezone if membership.shop else membership.merchant.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def home_url() -> str:
    """Where a signed-in person starts: platform admin, back-office or the staff page."""
    user = signed_in_user()
    if user is None:
        return url_for("auth.login")
    if user.is_platform_admin:
        return url_for("admin.home")
    membership = current_membership()
    if membership is None:
        return url_for("auth.switch_business")
    if Role(membership.role) in (Role.OWNER, Role.MANAGER):
        return url_for("backoffice.home")
    return url_for("staff.home")


def page_number() -> int:
    """The `?page=` of a list, clamped: a bad or huge value shows a page, never a 500."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


# --- guards ----------------------------------------------------------------------------


def enforce_role(minimum: Role) -> Any:
    """Return a response that refuses the request, or None to let it through.

    Used as a blueprint `before_request` (so a new route cannot forget it) and by the
    `require_role` decorator. A role too low for a page of one's own business is a 403 with
    an explanation (raised as PermissionDenied): nothing is hidden by it, the page exists for
    everyone of that business.
    """
    if signed_in_user() is None:
        return login_manager.unauthorized()
    membership = current_membership()
    if membership is None:
        if memberships_of(current_user):  # several businesses and none chosen yet
            return redirect(url_for("auth.switch_business", next=_here()))
        if _switched_off_everywhere(current_user):
            # Deactivated while signed in: the session ends rather than lingering on a 403.
            logout_user()
            session.clear()
            flash(SWITCHED_OFF, "warning")
            return redirect(url_for("auth.login"))
        return render_template("errors/no_business.html"), 403
    if membership.merchant.status == MerchantStatus.SUSPENDED:
        # The operator suspended the business: nothing of it is usable, but nothing is lost.
        return render_template("errors/suspended.html", merchant=membership.merchant), 403
    actor = current_actor()
    assert actor is not None  # signed in, with a membership
    # The domain's own rank check and wording; PermissionDenied becomes the 403 page.
    actor.require_role(minimum, "open this page")
    return None


SWITCHED_OFF = (
    "Your access to the business was switched off, so you are signed out. Ask the owner to "
    "switch it back on."
)


def _switched_off_everywhere(user: User) -> bool:
    """Had a membership, and every one of them is switched off now."""
    return bool(
        db.session.scalar(select(Membership.id).where(Membership.user_id == user.id).limit(1))
    )


def _here() -> str:
    return request.full_path.rstrip("?")


def require_role(minimum: Role) -> Callable[[Callable[P, R]], Callable[P, R | Any]]:
    """Decorator: the view runs only for members of the current merchant with `minimum` or above."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Any]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Any:
            refusal = enforce_role(minimum)
            if refusal is not None:
                return refusal
            return view(*args, **kwargs)

        return guarded

    return decorator


# --- the tenant query road -----------------------------------------------------------------

M = TypeVar("M")


def _merchant_id_or_404() -> int:
    # An API request has no signed-in user: its key names the merchant (web/api).
    merchant_id = g.get("api_merchant_id") or current_merchant_id()
    if merchant_id is None:
        abort(404)
    return merchant_id


def tenant_select(model: type[M], *columns: Any) -> Select[Any]:
    """`select(model)` (or `select(*columns)`) already restricted to the current merchant."""
    column = getattr(model, "merchant_id", None)
    if column is None:
        raise TypeError(f"{model.__name__} has no merchant_id: it is not tenant data")
    return select(*(columns or (model,))).where(column == _merchant_id_or_404())


def tenant_get_or_404(model: type[M], object_id: int | None) -> M:
    """The row with this id if it belongs to the current merchant; otherwise abort(404).

    The merchant filter is part of the SQL, so another tenant's row is never loaded, and
    the answer for "not yours" is the same as for "does not exist".
    """
    if object_id is None or not 0 < object_id <= MAX_ID:
        abort(404)
    row = db.session.scalars(
        tenant_select(model).where(model.id == object_id)  # type: ignore[attr-defined]
    ).one_or_none()
    if row is None:
        abort(404)
    return row
