"""The programme settings page: how points are earned and expire, bonuses, currency, look.

Owners change them; managers see them read-only; shop staff never reach the back-office
(the blueprint's role guard answers 403, as for every back-office page).
"""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, send_file, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from loyalty import offerings
from loyalty.errors import LoyaltyError
from loyalty.models import LoyaltyProgram, Reward, Role
from loyalty.offerings import Feature
from loyalty.services import programme_settings
from loyalty.services.merchants import program_of
from web.backoffice.onboarding import next_step_url
from web.backoffice.setup_forms import ProgrammeForm
from web.backoffice.views import blueprint
from web.extensions import db
from web.form_errors import has_errors, show_on_form
from web.staff.forms import parse_euros
from web.tenancy import current_actor, current_merchant, current_role


def _upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"]) / "logos"


def _referral_terms(form: ProgrammeForm, program: LoyaltyProgram) -> dict[str, int | None]:
    """The referral fields, when the offering shows them (None keeps what is set)."""
    if not offerings.has(program.merchant, Feature.REFERRALS):
        return {}
    return {
        "referrer_bonus": form.referrer_bonus.data,
        "referee_bonus": form.referee_bonus.data,
        "referral_min_spend_cents": parse_euros(
            form.referral_min_spend.data or "0", field="referral_min_spend"
        ),
    }


def _stamp_card_terms(form: ProgrammeForm) -> dict[str, object]:
    """The programme type and stamp card fields (None keeps what is set)."""
    raw_reward = str(form.stamp_reward_id.data or "").strip()
    return {
        "kind": form.kind.data or None,
        "stamp_card_size": form.stamp_card_size.data,
        "stamp_per": form.stamp_per.data or None,
        "stamp_reward_id": int(raw_reward)
        if raw_reward.isdigit() and len(raw_reward) < 10
        else None,
        "stamp_min_spend_cents": parse_euros(
            form.stamp_min_spend.data or "0", field="stamp_min_spend"
        ),
    }


def _reward_choices(program: LoyaltyProgram) -> list[tuple[str, str]]:
    catalogue = db.session.scalars(
        select(Reward)
        .where(Reward.program_id == program.id, Reward.active.is_(True))
        .order_by(Reward.name)
    )
    return [("", "Choose a reward of the catalogue…")] + [
        (str(reward.id), reward.name) for reward in catalogue
    ]


@blueprint.route("/settings", methods=["GET", "POST"])
def settings() -> Response | tuple[str, int]:
    merchant = current_merchant()
    assert merchant is not None
    program = program_of(db.session, merchant)
    may_edit = current_role() == Role.OWNER
    form = ProgrammeForm(obj=program)
    form.stamp_reward_id.choices = _reward_choices(program)
    if not form.is_submitted():
        # 1.0000 as stored reads better as 1.
        form.points_per_euro.data = format(program.points_per_euro.normalize(), "f")
        form.referral_min_spend.data = f"{program.referral_min_spend_cents / 100:.2f}"
        form.membership_price.data = f"{program.membership_price_cents / 100:.2f}"
        form.stamp_min_spend.data = f"{program.stamp_min_spend_cents / 100:.2f}"
        form.stamp_reward_id.data = str(program.stamp_reward_id or "")
    if may_edit and form.validate_on_submit():
        try:
            programme_settings.update(
                db.session,
                program=program,
                actor=current_actor(),
                settings=programme_settings.ProgrammeSettings(
                    name=form.name.data or "",
                    points_per_euro=form.points_per_euro.data or "",
                    rounding=form.rounding.data or "",
                    expiry_policy=form.expiry_policy.data or "",
                    expiry_days=form.expiry_days.data,
                    expiry_inactivity_months=form.expiry_inactivity_months.data,
                    signup_bonus=form.signup_bonus.data or 0,
                    birthday_bonus=form.birthday_bonus.data or 0,
                    currency=form.currency.data or "",
                    primary_color=form.primary_color.data or "",
                    secondary_color=form.secondary_color.data or "",
                    carry_over_spend=bool(form.carry_over_spend.data),
                    pending_days=form.pending_days.data,
                    refund_shortfall=form.refund_shortfall.data or None,
                    **_referral_terms(form, program),
                    paid_membership=bool(form.paid_membership.data),
                    membership_price_cents=parse_euros(
                        form.membership_price.data or "0", field="membership_price"
                    ),
                    membership_months=form.membership_months.data,
                    **_stamp_card_terms(form),
                ),
            )
            upload = form.logo.data
            if upload and getattr(upload, "filename", ""):
                programme_settings.store_logo(
                    db.session,
                    program=program,
                    actor=current_actor(),
                    data=upload.read(programme_settings.MAX_LOGO_BYTES + 1),
                    directory=_upload_dir(),
                )
        except LoyaltyError as error:
            db.session.rollback()
            program = program_of(db.session, merchant)
            show_on_form(form, error)
        else:
            db.session.commit()
            flash("Programme settings saved.", "success")
            return redirect(next_step_url("programme") or url_for("backoffice.settings"))
    elif not may_edit and form.is_submitted():
        abort(403, description="Only an owner can change the programme settings.")
    return (
        render_template(
            "backoffice/settings.html",
            form=form,
            program=program,
            may_edit=may_edit,
            referrals=offerings.has(merchant, Feature.REFERRALS),
        ),
        422 if has_errors(form) else 200,
    )


@blueprint.get("/settings/logo.png")
def settings_logo() -> Response:
    program = program_of(db.session, current_merchant())
    path = Path(program.logo_path) if program.logo_path else None
    if path is None or not path.is_file():
        abort(404)
    return send_file(path, mimetype="image/png", max_age=0)
