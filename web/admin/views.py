"""Platform admin pages under /admin. To anyone else they do not exist (404)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from loyalty.errors import LoyaltyError
from loyalty.models import AuditLog, JobOutcome, Merchant, MerchantStatus, Shop
from loyalty.offerings import PLANS, plan_of
from loyalty.services import merchants, platform
from loyalty.services.actors import Actor
from web.admin.forms import OfferingForm, StatusForm
from web.extensions import db, login_manager
from web.tenancy import MAX_ID, display_timezone, page_number, signed_in_user

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

PER_PAGE = 25
# What the operator did to a merchant: shown on the merchant's admin page.
ADMIN_ACTIONS = (
    merchants.OFFERING_CHANGED,
    "merchant.suspended",
    "merchant.reactivated",
    "merchant.custom_domain_set",
    "merchant.custom_domain_cleared",
)


@blueprint.before_request
def platform_admins_only() -> object:
    user = signed_in_user()
    if user is None:
        return login_manager.unauthorized()
    if not user.is_platform_admin:
        abort(404)
    return None


def operator() -> Actor:
    user = signed_in_user()
    assert user is not None  # the blueprint guard let the request in
    return Actor.operator(user.id)


def merchant_or_404(merchant_id: int) -> Merchant:
    # Deliberately across tenants: the operator may open any merchant.
    merchant = db.session.get(Merchant, merchant_id) if 0 < merchant_id <= MAX_ID else None
    if merchant is None:
        abort(404)
    return merchant


@blueprint.get("/")
def home() -> str:
    query = request.args.get("q", "").strip()[:120]
    page = db.paginate(
        platform.merchant_search(query), page=page_number(), per_page=PER_PAGE, error_out=False
    )
    return render_template(
        "admin/home.html",
        page=page,
        query=query,
        usage=platform.usage(db.session),
        plans=PLANS,
        figures=platform.merchant_figures(db.session, [merchant.id for merchant in page.items]),
        timezone=display_timezone().key,
    )


def _merchant_page(
    merchant: Merchant,
    *,
    offering_form: OfferingForm | None = None,
    status_form: StatusForm | None = None,
    status: int = 200,
):
    if offering_form is None:
        offering_form = OfferingForm(offering=merchant.offering.value)
    shops = db.session.scalars(
        select(Shop).where(Shop.merchant_id == merchant.id).order_by(Shop.name, Shop.id)
    ).all()
    history = db.session.scalars(
        select(AuditLog)
        .where(AuditLog.merchant_id == merchant.id, AuditLog.action.in_(ADMIN_ACTIONS))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(20)
    ).all()
    return (
        render_template(
            "admin/merchant.html",
            merchant=merchant,
            plan=plan_of(merchant),
            figures=platform.merchant_figures(db.session, [merchant.id])[merchant.id],
            shops=shops,
            history=history,
            offering_form=offering_form,
            status_form=status_form or StatusForm(),
            last_change=merchants.latest_offering_change(db.session, merchant=merchant),
            held=platform.held_work(db.session, merchant)
            if merchant.status == MerchantStatus.SUSPENDED
            else None,
        ),
        status,
    )


@blueprint.get("/merchants/<int:merchant_id>")
def merchant(merchant_id: int):
    return _merchant_page(merchant_or_404(merchant_id))


@blueprint.post("/merchants/<int:merchant_id>/offering")
def change_offering(merchant_id: int):
    merchant = merchant_or_404(merchant_id)
    form = OfferingForm()
    if not form.validate_on_submit():
        return _merchant_page(merchant, offering_form=form, status=422)
    try:
        if form.confirmed.data != "yes":
            preview = merchants.preview_offering_change(
                db.session, merchant=merchant, offering=form.offering.data
            )
            if preview.offering == preview.previous:
                flash(f"{merchant.name} is already on {plan_of(merchant).label}.", "info")
                return redirect(url_for("admin.merchant", merchant_id=merchant.id))
            form.confirmed.data = "yes"
            return render_template(
                "admin/offering_confirm.html",
                merchant=merchant,
                change=preview,
                form=form,
                plans=PLANS,
            )
        change = merchants.change_offering(
            db.session, merchant=merchant, offering=form.offering.data, actor=operator()
        )
    except LoyaltyError as error:
        db.session.rollback()
        form.offering.errors = [error.message]
        return _merchant_page(merchant, offering_form=form, status=422)
    db.session.commit()
    label = PLANS[change.offering].label
    if change.is_downgrade:
        flash(
            f"{merchant.name} is now on {label}. Switched off: {', '.join(change.lost_labels)}. "
            "Nothing was deleted; the merchant sees a notice in the back-office.",
            "warning",
        )
    else:
        flash(f"{merchant.name} is now on {label}, effective immediately.", "success")
    return redirect(url_for("admin.merchant", merchant_id=merchant.id))


@blueprint.post("/merchants/<int:merchant_id>/status")
def change_status(merchant_id: int) -> Response | tuple[str, int]:
    merchant = merchant_or_404(merchant_id)
    form = StatusForm()
    suspending = MerchantStatus(merchant.status) == MerchantStatus.ACTIVE
    if not form.validate_on_submit():
        return _merchant_page(merchant, status_form=form, status=422)
    if suspending and not form.confirm.data:
        form.confirm.errors = ["Tick the box to confirm the suspension."]
        return _merchant_page(merchant, status_form=form, status=422)
    target = MerchantStatus.SUSPENDED if suspending else MerchantStatus.ACTIVE
    try:
        merchants.set_status(
            db.session,
            merchant=merchant,
            status=target,
            actor=operator(),
            reason=form.reason.data or "",
        )
    except LoyaltyError as error:
        db.session.rollback()
        form.reason.errors = [error.message]
        return _merchant_page(merchant, status_form=form, status=422)
    db.session.commit()
    if suspending:
        flash(
            f"{merchant.name} is suspended. Its data is kept and its campaigns, messages and "
            "webhooks wait; reactivate it at any time.",
            "warning",
        )
    else:
        flash(f"{merchant.name} is active again: staff and customers can use it.", "success")
    return redirect(url_for("admin.merchant", merchant_id=merchant.id))


@blueprint.get("/jobs")
def jobs() -> str:
    names = platform.job_names(db.session)
    job = request.args.get("job", "")
    raw_outcome = request.args.get("outcome", "")
    problems = []
    if job and job not in names:
        problems.append(f"No job called '{job[:60]}' has run yet; showing every job.")
        job = ""
    outcome: JobOutcome | None = None
    if raw_outcome:
        try:
            outcome = JobOutcome(raw_outcome)
        except ValueError:
            problems.append(f"'{raw_outcome[:30]}' is not an outcome; showing every outcome.")
    page = db.paginate(
        platform.job_runs(job or None, outcome),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    filters = {
        key: value for key, value in (("job", job), ("outcome", outcome and outcome.value)) if value
    }
    return render_template(
        "admin/jobs.html",
        page=page,
        names=names,
        job=job,
        outcome=outcome,
        outcomes=list(JobOutcome),
        filters=filters,
        problems=problems,
        health=platform.job_health(db.session),
        timezone=display_timezone().key,
    )


from web.admin import mail  # noqa: E402, F401  (registers /admin/mail)
