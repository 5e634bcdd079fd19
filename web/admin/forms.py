"""The operator's forms: a merchant's offering and status. Flask-WTF gives each its CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from loyalty.offerings import PLANS


class OfferingForm(FlaskForm):
    offering = SelectField(
        "Offering",
        choices=[SelectChoice(plan.offering.value, plan.label) for plan in PLANS.values()],
        validators=[DataRequired(message="Choose an offering.")],
    )
    # Set by the confirmation page: the first post only shows what would change.
    confirmed = HiddenField(default="")


class StatusForm(FlaskForm):
    reason = StringField(
        "Reason (kept in the audit log)",
        validators=[Optional(), Length(max=300, message="At most 300 characters.")],
    )
    confirm = BooleanField(
        "I understand: staff lose access to the back-office and the till, customers see the "
        "programme as paused, and campaigns, messages and webhooks are held (not failed) until "
        "reactivation; all data is kept."
    )
