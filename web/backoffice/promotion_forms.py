"""The promotion form: what a manager types, read into a PromotionDraft for the service."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    widgets,
)
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from loyalty.errors import InvalidInput
from loyalty.models import PromotionType
from loyalty.services.promotion_catalog import (
    MAX_COUNT,
    TYPE_LABELS,
    WEEKDAY_NAMES,
    PromotionDraft,
)
from web.staff.forms import parse_euros


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class CheckboxesField(SelectMultipleField):
    """A list of checkboxes of integer choices: easier than a multi-select on a phone."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("coerce", int)
        kwargs.setdefault("invalid_choice_message", "Choose from the list.")
        super().__init__(*args, **kwargs)


VALUE_HELP = (
    "Bonus points: points added (e.g. 50). Multiplier: e.g. 2 for double points. "
    "Percentage off: e.g. 10. Amount off: euros, e.g. 5.00. Free item: leave empty."
)


class PromotionForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired("Give the promotion a name."), Length(max=120)],
        filters=[_strip],
        description="Customers see it on the receipt, e.g. “Double points Tuesdays”.",
    )
    type = SelectField(
        "Type",
        choices=[SelectChoice(t.value, label) for t, label in TYPE_LABELS.items()],
        default="bonus_points",
        invalid_choice_message="Choose a type from the list.",
    )
    value = StringField("Value", filters=[_strip], description=VALUE_HELP)
    min_spend = StringField(
        "Minimum spend (€)",
        filters=[_strip],
        description="Leave empty to apply to any purchase.",
        render_kw={"inputmode": "decimal"},
    )
    shops = CheckboxesField("Shops", description="None ticked: every shop.")
    tiers = CheckboxesField("Tiers", description="None ticked: every member.")
    weekdays = CheckboxesField(
        "Weekdays",
        choices=[SelectChoice(str(n), day) for n, day in enumerate(WEEKDAY_NAMES)],
        description="None ticked: every day.",
    )
    starts_on = DateField("First day", validators=[Optional()], description="Empty: today.")
    ends_on = DateField("Last day", validators=[Optional()], description="Empty: no end date.")
    max_redemptions = IntegerField(
        "Total uses",
        validators=[Optional(), NumberRange(min=1, max=MAX_COUNT, message="At least 1.")],
        description="Across all members. Empty: unlimited.",
    )
    per_member_limit = IntegerField(
        "Uses per member",
        validators=[Optional(), NumberRange(min=1, max=MAX_COUNT, message="At least 1.")],
        description="Empty: unlimited.",
    )
    active = BooleanField("Active", default=True, description="Untick to pause it.")
    next = HiddenField()
    save = SubmitField("Save promotion")
    show_preview = SubmitField("Preview who qualifies")

    def draft(self) -> PromotionDraft:
        """The typed values; InvalidInput (with the field) for an unreadable amount."""
        kind = PromotionType(self.type.data)
        return PromotionDraft(
            name=self.name.data or "",
            type=kind,
            value=self._value(kind),
            min_spend_cents=(
                parse_euros(self.min_spend.data, field="min_spend") if self.min_spend.data else None
            ),
            shop_ids=tuple(self.shops.data or ()),
            tier_ids=tuple((self.tiers.data if self.tiers else None) or ()),
            weekdays=tuple(self.weekdays.data or ()),
            starts_on=self.starts_on.data,
            ends_on=self.ends_on.data,
            max_redemptions=self.max_redemptions.data,
            per_member_limit=self.per_member_limit.data,
            active=bool(self.active.data),
        )

    def _value(self, kind: PromotionType) -> Decimal:
        raw = (self.value.data or "").replace(",", ".").replace("€", "").replace("%", "").strip()
        if kind == PromotionType.FREE_ITEM:
            return Decimal(0)
        if kind == PromotionType.DISCOUNT_FIXED:
            return Decimal(parse_euros(raw, field="value"))
        if not raw:
            raise InvalidInput("Enter the promotion's value.", field="value")
        try:
            return Decimal(raw)
        except InvalidOperation:
            raise InvalidInput(f"'{raw}' is not a number.", field="value") from None

    def fill(self, draft: PromotionDraft) -> None:
        """Show a saved promotion in the form."""
        self.name.data = draft.name
        self.type.data = draft.type.value
        if draft.type == PromotionType.DISCOUNT_FIXED:
            self.value.data = f"{int(draft.value) / 100:.2f}"
        elif draft.type == PromotionType.FREE_ITEM:
            self.value.data = ""
        else:
            self.value.data = f"{Decimal(draft.value).normalize():f}"
        self.min_spend.data = f"{draft.min_spend_cents / 100:.2f}" if draft.min_spend_cents else ""
        self.shops.data = list(draft.shop_ids)
        if self.tiers:  # removed when the offering has no tiers
            self.tiers.data = list(draft.tier_ids)
        self.weekdays.data = list(draft.weekdays)
        self.starts_on.data = draft.starts_on
        self.ends_on.data = draft.ends_on
        self.max_redemptions.data = draft.max_redemptions
        self.per_member_limit.data = draft.per_member_limit
        self.active.data = draft.active


class ConfirmForm(FlaskForm):
    """A button with a CSRF token: the confirmation step of a destructive action."""

    submit = SubmitField("Confirm")
