"""The tier form: name, threshold, window, multiplier and benefits (one per line)."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from loyalty.services.tier_catalog import (
    MAX_BENEFIT_LENGTH,
    MAX_BENEFITS,
    MAX_THRESHOLD,
    MAX_WINDOW_DAYS,
    TierDraft,
)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class TierForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired("Give the tier a name."), Length(max=60)],
        filters=[_strip],
    )
    min_points = IntegerField(
        "Threshold (points)",
        validators=[
            InputRequired("Enter the points needed to reach this tier."),
            NumberRange(min=0, max=MAX_THRESHOLD, message=f"From 0 to {MAX_THRESHOLD:,}."),
        ],
        description="Points a member needs to reach this tier. 0 makes it the entry tier.",
        render_kw={"inputmode": "numeric"},
    )
    qualification_window_days = IntegerField(
        "Qualification window (days)",
        validators=[
            Optional(),
            NumberRange(min=1, max=MAX_WINDOW_DAYS, message=f"From 1 to {MAX_WINDOW_DAYS} days."),
        ],
        description="Count points earned in the last N days. Empty: all points ever earned.",
        render_kw={"inputmode": "numeric"},
    )
    earn_multiplier = DecimalField(
        "Earn multiplier",
        places=None,
        default=Decimal(1),
        validators=[InputRequired("Enter a multiplier; 1 means normal points.")],
        description="Members of this tier earn this many times the normal points, e.g. 1.25.",
        render_kw={"inputmode": "decimal"},
    )
    benefits = TextAreaField(
        "Benefits",
        description=f"One per line, as members will read them (up to {MAX_BENEFITS}, "
        f"{MAX_BENEFIT_LENGTH} characters each).",
        validators=[Length(max=MAX_BENEFITS * (MAX_BENEFIT_LENGTH + 2))],
        render_kw={"rows": 4},
    )
    submit = SubmitField("Save tier")

    def draft(self) -> TierDraft:
        lines = (self.benefits.data or "").splitlines()
        return TierDraft(
            name=self.name.data or "",
            min_points=self.min_points.data or 0,
            earn_multiplier=self.earn_multiplier.data or Decimal(1),
            qualification_window_days=self.qualification_window_days.data,
            benefits=tuple(lines),
        )

    def fill(self, draft: TierDraft) -> None:
        self.name.data = draft.name
        self.min_points.data = draft.min_points
        self.earn_multiplier.data = Decimal(draft.earn_multiplier).normalize()
        self.qualification_window_days.data = draft.qualification_window_days
        self.benefits.data = "\n".join(draft.benefits)
