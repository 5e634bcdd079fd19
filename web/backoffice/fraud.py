"""Fraud controls in the back-office: the velocity rules (owners) and the alert list (managers)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import Length, Optional

from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.models import AlertStatus, FraudAction, FraudAlert, Role, Shop, User
from loyalty.services import fraud
from loyalty.services.merchants import program_of
from web.backoffice.catalog_pages import merchant_and_actor
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.form_errors import has_errors, show_on_form
from web.staff.forms import parse_euros
from web.tenancy import current_role, page_number, tenant_get_or_404

ACTIONS = [
    SelectChoice(FraudAction.FLAG.value, "Flag for a manager"),
    SelectChoice(FraudAction.BLOCK.value, "Block at the till"),
]
STATUS_TABS = {
    "open": ("Open", AlertStatus.OPEN),
    "acknowledged": ("Acknowledged", AlertStatus.ACKNOWLEDGED),
    "dismissed": ("Dismissed", AlertStatus.DISMISSED),
    "all": ("All", None),
}


class FraudRulesForm(FlaskForm):
    member_daily_earns = IntegerField(
        "Earns per card in 24 hours, at most",
        validators=[Optional()],
        description="The next earn on the same card crosses the limit. Empty: no limit.",
    )
    member_daily_action = SelectField("When crossed", choices=ACTIONS)
    max_earn = StringField(
        "Largest purchase (€)",
        validators=[Optional(), Length(max=20)],
        description="A purchase above this amount crosses the limit. Empty: no limit.",
    )
    max_earn_action = SelectField("When crossed", choices=ACTIONS)
    staff_hourly_earns = IntegerField(
        "Earns per staff member in an hour, at most",
        validators=[Optional()],
        description="Counts each person's purchases at the till. Empty: no limit.",
    )
    staff_hourly_action = SelectField("When crossed", choices=ACTIONS)
    qr_max_age_days = IntegerField(
        "Warn at the till when a card's QR code is older than (days)",
        validators=[Optional()],
        description="An old code may live on in screenshots: give the member a new one. Empty: never warn.",
    )
    submit = SubmitField("Save fraud controls")


class ResolveForm(FlaskForm):
    status = SelectField(
        "Decision",
        choices=[
            SelectChoice(AlertStatus.ACKNOWLEDGED.value, "Acknowledge"),
            SelectChoice(AlertStatus.DISMISSED.value, "Dismiss"),
        ],
    )
    note = TextAreaField("Note", validators=[Length(max=fraud.MAX_NOTE)])


@blueprint.route("/fraud/settings", methods=["GET", "POST"])
def fraud_settings() -> ResponseReturnValue:
    merchant, actor = merchant_and_actor()
    program = program_of(db.session, merchant)
    may_edit = current_role() == Role.OWNER
    form = FraudRulesForm()
    if not form.is_submitted():
        form.member_daily_earns.data = program.fraud_member_daily_earns
        form.member_daily_action.data = program.fraud_member_daily_action.value
        form.max_earn.data = (
            f"{program.fraud_max_earn_cents / 100:.2f}" if program.fraud_max_earn_cents else ""
        )
        form.max_earn_action.data = program.fraud_max_earn_action.value
        form.staff_hourly_earns.data = program.fraud_staff_hourly_earns
        form.staff_hourly_action.data = program.fraud_staff_hourly_action.value
        form.qr_max_age_days.data = program.qr_max_age_days
    elif not may_edit:
        abort(403, description="Only an owner can change the fraud controls.")
    if may_edit and form.validate_on_submit():
        try:
            raw_amount = (form.max_earn.data or "").strip()
            fraud.update_rules(
                db.session,
                program=program,
                actor=actor,
                rules=fraud.FraudRules(
                    member_daily_earns=form.member_daily_earns.data,
                    member_daily_action=form.member_daily_action.data or "",
                    max_earn_cents=parse_euros(raw_amount, field="max_earn")
                    if raw_amount
                    else None,
                    max_earn_action=form.max_earn_action.data or "",
                    staff_hourly_earns=form.staff_hourly_earns.data,
                    staff_hourly_action=form.staff_hourly_action.data or "",
                    qr_max_age_days=form.qr_max_age_days.data,
                ),
            )
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error)
        else:
            db.session.commit()
            flash("Fraud controls saved.", "success")
            return redirect(url_for("backoffice.fraud_settings"))
    return render_template(
        "backoffice/fraud_settings.html", form=form, may_edit=may_edit
    ), 422 if has_errors(form) else 200


@blueprint.get("/fraud/alerts")
def fraud_alerts() -> ResponseReturnValue:
    merchant, _ = merchant_and_actor()
    tab = request.args.get("status", "open")
    if tab not in STATUS_TABS:
        tab = "open"
    page = db.paginate(
        fraud.alerts(merchant, status=STATUS_TABS[tab][1]),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template("backoffice/fraud_alerts.html", **_listing(page, tab))


def _listing(page, tab: str, form: ResolveForm | None = None, failed: int | None = None) -> dict:
    """What the list shows beside each alert: names of the people and shops involved."""
    alerts: list[FraudAlert] = list(page.items)
    user_ids = {a.staff_user_id for a in alerts} | {a.resolved_by for a in alerts}
    people = {
        u.id: u.name or u.email
        for u in db.session.scalars(select(User).where(User.id.in_(user_ids - {None})))
    }
    shop_ids = {a.shop_id for a in alerts} - {None}
    shops = {s.id: s.name for s in db.session.scalars(select(Shop).where(Shop.id.in_(shop_ids)))}
    return {
        "page": page,
        "tab": tab,
        "tabs": STATUS_TABS,
        "people": people,
        "shops": shops,
        "labels": fraud.RULE_LABELS,
        "currency": program_of(db.session, merchant_and_actor()[0]).currency,
        "form": form,
        "failed": failed,
        "open_count": fraud.open_count(db.session, merchant_and_actor()[0]),
    }


@blueprint.post("/fraud/alerts/<int:alert_id>")
def fraud_alert_resolve(alert_id: int) -> ResponseReturnValue:
    alert = tenant_get_or_404(FraudAlert, alert_id)
    merchant, actor = merchant_and_actor()
    form = ResolveForm()
    try:
        if not form.validate():
            raise InvalidInput(
                " ".join(e for errors in form.errors.values() for e in errors), field="note"
            )
        fraud.resolve(
            db.session,
            alert=alert,
            actor=actor,
            status=form.status.data or "",
            note=form.note.data or "",
        )
    except LoyaltyError as error:
        db.session.rollback()
        show_on_form(form, error)
        page = db.paginate(
            fraud.alerts(merchant), page=page_number(), per_page=PER_PAGE, error_out=False
        )
        return render_template(
            "backoffice/fraud_alerts.html", **_listing(page, "open", form, alert_id)
        ), 422
    db.session.commit()
    flash(f"Alert {alert.status.value}.", "success")
    return redirect(url_for("backoffice.fraud_alerts"), 303)
