"""Setting up a new business in the back-office: the offering, the go-live checklist, launch.

While the programme is not live, each set-up page sends the owner on to the next missing
step (`next_step_url`), so the checklist doubles as the wizard; once live, the pages behave
as ordinary settings pages.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from loyalty import offerings
from loyalty.errors import LoyaltyError
from loyalty.models import Offering, Role
from loyalty.services import onboarding
from loyalty.services.merchants import program_of
from web.backoffice.setup_forms import OfferingForm, PlainForm
from web.backoffice.views import blueprint
from web.extensions import db
from web.form_errors import has_errors, show_on_form
from web.tenancy import current_actor, current_merchant, current_role

# Where each checklist step is done. The promotion form belongs to the catalog pages: linked by
# endpoint once it exists, by its path until then.
STEP_ENDPOINTS = {
    "offering": "backoffice.offering",
    "programme": "backoffice.settings",
    "shop": "backoffice.shop_new",
    "staff": "backoffice.staff",
    "promotion": "backoffice.promotion_new",
}
PROMOTION_PATH = "/backoffice/promotions/new"


def step_url(key: str) -> str:
    endpoint = STEP_ENDPOINTS[key]
    if endpoint not in current_app.view_functions:
        return PROMOTION_PATH
    if key == "promotion":  # the promotion form comes back here once saved
        return url_for(endpoint, next=url_for("backoffice.launch"))
    return url_for(endpoint)


def next_step_url(after: str) -> str | None:
    """While setting up: the first step still to do after `after`, else the checklist."""
    merchant = current_merchant()
    assert merchant is not None
    if onboarding.is_live(db.session, merchant):
        return None
    steps = onboarding.checklist(db.session, merchant)
    keys = [step.key for step in steps]
    later = steps[keys.index(after) + 1 :] if after in keys else steps
    for step in later:
        if not step.done and step.key != "promotion":  # the promotion is chosen on the checklist
            return step_url(step.key)
    return url_for("backoffice.launch")


# The set-up pages themselves need no reminder of the set-up.
SETUP_PAGES = frozenset(
    {"backoffice.launch", "backoffice.offering", "backoffice.settings", "backoffice.shop_new"}
    | {"backoffice.staff"}
)


@blueprint.app_context_processor
def setup_navigation() -> dict[str, object]:
    def setup_notice() -> int | None:
        """Required steps left while the business is not live, on other back-office pages."""
        if request.blueprint != "backoffice" or request.endpoint in SETUP_PAGES:
            return None
        merchant = current_merchant()
        if merchant is None or onboarding.is_live(db.session, merchant):
            return None
        steps = onboarding.checklist(db.session, merchant)
        return sum(1 for step in steps if step.required and not step.done)

    return {"setup_notice": setup_notice}


def _plans() -> list[dict[str, object]]:
    return [
        {
            "plan": plan,
            "features": [feature in plan.features for feature in offerings.Feature],
        }
        for plan in offerings.PLANS.values()
    ]


@blueprint.route("/offering", methods=["GET", "POST"])
def offering() -> Response | str | tuple[str, int]:
    merchant = current_merchant()
    assert merchant is not None
    form = OfferingForm()
    if form.validate_on_submit():
        try:
            onboarding.choose_offering(
                db.session,
                merchant=merchant,
                actor=current_actor(),
                offering=form.offering.data or "",
            )
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            db.session.commit()
            flash(f"{offerings.plan_of(merchant).label} it is.", "success")
            return redirect(next_step_url("offering") or url_for("backoffice.offering"))
    return render_template(
        "backoffice/offering.html",
        form=form,
        merchant=merchant,
        current=Offering(merchant.offering),
        plans=_plans(),
        feature_labels=[offerings.FEATURE_LABELS[f] for f in offerings.Feature],
        live=onboarding.is_live(db.session, merchant),
        may_choose=current_role() == Role.OWNER,
    ), 422 if has_errors(form) else 200


@blueprint.route("/launch", methods=["GET", "POST"])
def launch() -> Response | str | tuple[str, int]:
    merchant = current_merchant()
    assert merchant is not None
    form = PlainForm()
    if form.validate_on_submit():
        try:
            onboarding.go_live(db.session, merchant=merchant, actor=current_actor())
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            db.session.commit()
            flash(f"{merchant.name} is live. Customers can join now.", "success")
            return redirect(url_for("backoffice.launch"))
    steps = onboarding.checklist(db.session, merchant)
    program = program_of(db.session, merchant)
    return render_template(
        "backoffice/launch.html",
        form=form,
        merchant=merchant,
        program=program,
        steps=[(step, step_url(step.key)) for step in steps],
        ready=all(step.done for step in steps if step.required),
        may_launch=current_role() == Role.OWNER,
    ), 422 if has_errors(form) else 200
