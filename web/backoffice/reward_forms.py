"""The reward form: what it costs, what it gives, how many there are, its picture."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from loyalty.errors import InvalidInput
from loyalty.models import RedemptionLimit, RewardType
from loyalty.services.images import MAX_UPLOAD_BYTES
from loyalty.services.reward_catalog import (
    MAX_COST,
    MAX_STOCK,
    MAX_VALIDITY_DAYS,
    TYPE_LABELS,
    RewardDraft,
)
from loyalty.services.reward_limits import LIMIT_LABELS, MAX_LIMIT_DAYS
from web.staff.forms import parse_euros


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class RewardForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired("Give the reward a name."), Length(max=120)],
        filters=[_strip],
        description="What customers choose, e.g. “€5 off” or “Free coffee”.",
    )
    type = SelectField("Type", invalid_choice_message="Choose a type from the list.")
    value = StringField(
        "Value",
        filters=[_strip],
        description="Amount off: euros, e.g. 5.00. Percentage off: e.g. 10. "
        "Free item and custom: leave empty.",
        render_kw={"inputmode": "decimal"},
    )
    points_cost = IntegerField(
        "Cost in points",
        validators=[
            InputRequired("Enter what the reward costs in points."),
            NumberRange(min=1, max=MAX_COST, message=f"From 1 to {MAX_COST:,}."),
        ],
        render_kw={"inputmode": "numeric"},
    )
    description = TextAreaField(
        "Description", validators=[Length(max=500)], filters=[_strip], render_kw={"rows": 2}
    )
    stock = IntegerField(
        "Stock",
        validators=[Optional(), NumberRange(min=0, max=MAX_STOCK, message="0 or more.")],
        description="How many can still be redeemed. Empty: unlimited.",
        render_kw={"inputmode": "numeric"},
    )
    validity_days = IntegerField(
        "Voucher valid for (days)",
        default=30,
        validators=[
            InputRequired("Enter how many days the voucher stays valid."),
            NumberRange(min=1, max=MAX_VALIDITY_DAYS, message=f"From 1 to {MAX_VALIDITY_DAYS}."),
        ],
        render_kw={"inputmode": "numeric"},
    )
    redemption_limit = SelectField(
        "How often per member",
        choices=[SelectChoice(limit.value, label) for limit, label in LIMIT_LABELS.items()],
        default=RedemptionLimit.REPEATABLE.value,
        invalid_choice_message="Choose how often a member may redeem it.",
        description="Calendar months and years follow your business's time zone. "
        "A cancelled or returned redemption does not count.",
    )
    limit_days = IntegerField(
        "N days",
        validators=[
            Optional(),
            NumberRange(min=1, max=MAX_LIMIT_DAYS, message=f"From 1 to {MAX_LIMIT_DAYS}."),
        ],
        description="Only for “every N days”, e.g. 30.",
        render_kw={"inputmode": "numeric"},
    )
    image = FileField(
        "Picture",
        description=f"PNG or JPEG, at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
        render_kw={"accept": "image/png,image/jpeg,image/webp,image/gif"},
    )
    remove_image = BooleanField("Remove the current picture")
    active = BooleanField("Offered", default=True, description="Untick to stop offering it.")
    submit = SubmitField("Save reward")

    def set_types(self, types: list[RewardType]) -> None:
        self.type.choices = [SelectChoice(t.value, TYPE_LABELS[t]) for t in types]

    def draft(self) -> RewardDraft:
        kind = RewardType(self.type.data)
        return RewardDraft(
            name=self.name.data or "",
            type=kind,
            points_cost=self.points_cost.data or 0,
            value=self._value(kind),
            description=self.description.data or "",
            stock=self.stock.data,
            validity_days=self.validity_days.data or 0,
            active=bool(self.active.data),
            redemption_limit=RedemptionLimit(self.redemption_limit.data),
            limit_days=self.limit_days.data,
        )

    def _value(self, kind: RewardType) -> int | None:
        raw = (self.value.data or "").replace("%", "").strip()
        if kind == RewardType.DISCOUNT_FIXED:
            return parse_euros(raw, field="value", what="the amount off")
        if kind == RewardType.DISCOUNT_PERCENT:
            if not raw.isdigit():
                raise InvalidInput(
                    "Enter the percentage off as a whole number from 1 to 100, like 10.",
                    field="value",
                )
            return int(raw)
        return None

    def picture(self) -> bytes | None:
        """The uploaded file's bytes (at most one byte over the limit), or None."""
        upload = self.image.data
        if upload is None or not getattr(upload, "filename", ""):
            return None
        return upload.read(MAX_UPLOAD_BYTES + 1)

    def fill(self, draft: RewardDraft) -> None:
        self.name.data = draft.name
        self.type.data = draft.type.value
        if draft.type == RewardType.DISCOUNT_FIXED and draft.value is not None:
            self.value.data = f"{draft.value / 100:.2f}"
        elif draft.type == RewardType.DISCOUNT_PERCENT and draft.value is not None:
            self.value.data = str(draft.value)
        else:
            self.value.data = ""
        self.points_cost.data = draft.points_cost
        self.description.data = draft.description
        self.stock.data = draft.stock
        self.validity_days.data = draft.validity_days
        self.active.data = draft.active
        self.redemption_limit.data = draft.redemption_limit.value
        self.limit_days.data = draft.limit_days
