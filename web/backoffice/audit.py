"""Back-office audit log: who did what, filtered by person, action and day, in the merchant's time."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SubmitField
from wtforms.fields import SelectChoice
from wtforms.validators import Optional

from loyalty.services import audit_log
from loyalty.services.calendar import zone_of
from web.backoffice.catalog_pages import merchant_and_actor
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import page_number


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    user = SelectField(
        "Person", validators=[Optional()], invalid_choice_message="Choose a person from the list."
    )
    action = SelectField(
        "Action", validators=[Optional()], invalid_choice_message="Choose an action from the list."
    )
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])
    submit = SubmitField("Filter")


@blueprint.get("/audit")
def audit() -> ResponseReturnValue:
    merchant, _ = merchant_and_actor()
    form = AuditFilterForm(request.args)
    people = audit_log.people(db.session, merchant)
    form.user.choices = [SelectChoice("", "Anyone")] + [
        SelectChoice(str(p.id), p.name or p.email) for p in people
    ]
    form.action.choices = [SelectChoice("", "Any action")] + [
        SelectChoice(a, audit_log.action_label(a)) for a in audit_log.actions(db.session, merchant)
    ]
    valid = form.validate()
    wanted = audit_log.AuditFilter()
    params: dict[str, Any] = {}
    if valid:
        wanted = audit_log.AuditFilter(
            user_id=int(form.user.data) if form.user.data else None,
            action=form.action.data or None,
            since=form.since.data,
            until=form.until.data,
        )
        params = {
            k: v for k, v in request.args.items() if k in form._fields and k != "submit" and v
        }
    page = db.paginate(
        audit_log.entries(merchant, wanted), page=page_number(), per_page=PER_PAGE, error_out=False
    )
    names = {p.id: p.name or p.email for p in people}
    return render_template(
        "backoffice/audit.html",
        form=form,
        page=page,
        params=params,
        names=names,
        label=audit_log.action_label,
        detail_items=audit_log.detail_items,
        zone=zone_of(merchant).key,
        filtered=any(params.values()),
    ), (200 if valid else 422)
