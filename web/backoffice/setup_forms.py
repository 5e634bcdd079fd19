"""Forms of the set-up pages: offering, programme settings, shops and the team."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    ColorField,
    EmailField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from loyalty.models import ExpiryPolicy, ProgramKind, RefundShortfall, Role, Rounding, StampPer
from loyalty.services.programme_settings import CURRENCIES, MAX_BONUS


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


@cache
def timezone_choices() -> list[SelectChoice]:
    names = sorted(n for n in available_timezones() if "/" in n and not n.startswith("Etc/"))
    return [SelectChoice(name, name.replace("_", " ")) for name in names]


def _shop_id(value: object) -> int | None:
    """'' (every shop) → None; a number → int; anything else → None (the service checks)."""
    try:
        return int(value) if value not in (None, "", "None") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class PlainForm(FlaskForm):
    """A button that posts: CSRF only."""


class OfferingForm(FlaskForm):
    offering = StringField(validators=[DataRequired("Choose an offering.")])


ROUNDING_LABELS = {
    Rounding.FLOOR: "Round down (12.9 → 12)",
    Rounding.ROUND: "Round to nearest (12.5 → 13)",
    Rounding.CEIL: "Round up (12.1 → 13)",
}
EXPIRY_LABELS = {
    ExpiryPolicy.NONE: "Points never expire",
    ExpiryPolicy.AFTER_DAYS: "Each purchase's points expire after a number of days",
    ExpiryPolicy.INACTIVITY: "All points expire after months without a visit",
}


KIND_LABELS = {
    ProgramKind.POINTS: "Points per euro",
    ProgramKind.STAMPS: "Stamp card",
}
STAMP_PER_LABELS = {
    StampPer.VISIT: "One per visit",
    StampPer.ITEM: "One per item bought",
}


REFUND_LABELS = {
    RefundShortfall.ABSORB: "The business absorbs them",
    RefundShortfall.CLAW_BACK: "Recover them from the member's next purchases",
}


class ProgrammeForm(FlaskForm):
    name = StringField(
        "Programme name",
        validators=[DataRequired("Give the programme a name."), Length(max=120)],
        filters=[_strip],
        description="What customers see on their card and in messages, e.g. “Dupont Rewards”.",
    )
    points_per_euro = StringField(
        "Points per euro spent",
        validators=[DataRequired("Say how many points one euro earns.")],
        filters=[_strip],
        description="1 is usual; 0.1 gives one point per 10 euros.",
        render_kw={"inputmode": "decimal"},
    )
    kind = SelectField(
        "Programme type",
        choices=[SelectChoice(k.value, KIND_LABELS[k]) for k in ProgramKind],
        validate_choice=False,  # the service says which values exist, with a clear message
        description="A stamp card: e.g. buy 9, get the 10th free. Switching is possible while "
        "no member holds points or stamps.",
    )
    stamp_card_size = IntegerField(
        "Stamps for a full card",
        default=10,
        validators=[Optional(), NumberRange(2, 50, "Between 2 and 50 stamps.")],
        description="10 for “buy 9, get the 10th free”: the 10th stamp gives the reward.",
    )
    stamp_per = SelectField(
        "Stamps given",
        choices=[SelectChoice(p.value, STAMP_PER_LABELS[p]) for p in StampPer],
        validate_choice=False,
        description="Per item: the cashier types the number of items at the till.",
    )
    stamp_reward_id = SelectField(
        "A full card gives",
        choices=[],  # the programme's rewards, set by the view
        validate_choice=False,
        description="A voucher for this reward of the catalogue, issued when the card is full.",
    )
    stamp_min_spend = StringField(
        "Minimum spend per stamp (€)",
        filters=[_strip],
        description="0: every visit (or item) counts. Per item, each stamp needs this much.",
        render_kw={"inputmode": "decimal"},
    )
    rounding = SelectField(
        "Rounding of points", choices=[SelectChoice(r.value, ROUNDING_LABELS[r]) for r in Rounding]
    )
    expiry_policy = SelectField(
        "Points expiry", choices=[SelectChoice(e.value, EXPIRY_LABELS[e]) for e in ExpiryPolicy]
    )
    expiry_days = IntegerField(
        "Days until points expire",
        validators=[Optional(), NumberRange(1, 3650, "Between 1 and 3650 days.")],
        description="Used when each purchase's points expire after a number of days.",
    )
    expiry_inactivity_months = IntegerField(
        "Months without a visit before points expire",
        validators=[Optional(), NumberRange(1, 120, "Between 1 and 120 months.")],
        description="Used when points expire after months without a visit.",
    )
    signup_bonus = IntegerField(
        "Sign-up bonus (points)",
        default=0,
        validators=[NumberRange(0, MAX_BONUS, f"Between 0 and {MAX_BONUS:,} points.")],
    )
    birthday_bonus = IntegerField(
        "Birthday bonus (points)",
        default=0,
        validators=[NumberRange(0, MAX_BONUS, f"Between 0 and {MAX_BONUS:,} points.")],
    )
    carry_over_spend = BooleanField(
        "Carry spending over to the next visit",
        description="With rounding down, what a purchase leaves below the next point counts "
        "on the next visit (€32 and then €18 at 1 point per €5 give 10 points, not 9).",
    )
    pending_days = IntegerField(
        "Return window (days)",
        default=0,
        validators=[Optional(), NumberRange(0, 60, "Between 0 and 60 days.")],
        description="Points of a purchase are shown as pending and can be spent after this "
        "many days; a refund inside the window removes them. 0: points count at once.",
    )
    refund_shortfall = SelectField(
        "When refunded points were already spent",
        choices=[SelectChoice(r.value, REFUND_LABELS[r]) for r in RefundShortfall],
        validate_choice=False,  # the service says which values exist, with a clear message
    )
    referrer_bonus = IntegerField(
        "Points for the member who invites",
        default=0,
        validators=[Optional(), NumberRange(0, MAX_BONUS, f"Between 0 and {MAX_BONUS:,} points.")],
    )
    referee_bonus = IntegerField(
        "Points for the invited friend",
        default=0,
        validators=[Optional(), NumberRange(0, MAX_BONUS, f"Between 0 and {MAX_BONUS:,} points.")],
    )
    referral_min_spend = StringField(
        "Friend's first purchase of at least (€)",
        filters=[_strip],
        description="Both rewards are given once, on the friend's first purchase of this amount.",
        render_kw={"inputmode": "decimal"},
    )
    paid_membership = BooleanField(
        "Paid membership",
        description="Cards are valid for a paid period and renewed at the till; a lapsed card "
        "earns no points (its points can still be redeemed).",
    )
    membership_price = StringField(
        "Price of a period (€)",
        filters=[_strip],
        render_kw={"inputmode": "decimal"},
    )
    membership_months = IntegerField(
        "Period (months)",
        default=12,
        validators=[Optional(), NumberRange(1, 60, "Between 1 and 60 months.")],
    )
    currency = SelectField(
        "Currency shown", choices=[SelectChoice(code, label) for code, label in CURRENCIES.items()]
    )
    primary_color = ColorField("Main colour", validators=[DataRequired()])
    secondary_color = ColorField("Background colour", validators=[DataRequired()])
    logo = FileField(
        "Logo (PNG or JPEG, up to 2 MB)",
        description="Shown on the wallet pass. Leave empty to keep the current one.",
        render_kw={"accept": "image/png,image/jpeg"},
    )


class ShopForm(FlaskForm):
    name = StringField(
        "Shop name",
        validators=[DataRequired("Give the shop a name."), Length(max=120)],
        filters=[_strip],
        description="As staff and customers call it, e.g. “Grand-Rue”.",
    )
    address = TextAreaField(
        "Address", validators=[Optional(), Length(max=300)], filters=[_strip], render_kw={"rows": 2}
    )
    timezone = SelectField(
        "Time zone",
        choices=[],
        description="Receipts and the till show times in this zone.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class _RoleAndShop:
    """Role and shop fields, with choices for the business and for what the actor may give."""

    def set_choices(self, *, may_make_owners: bool, shops: list[tuple[int, str]]) -> None:
        roles = [
            SelectChoice(Role.STAFF.value, "Shop staff (till only)"),
            SelectChoice(Role.MANAGER.value, "Manager"),
        ]
        if may_make_owners:
            roles.append(SelectChoice(Role.OWNER.value, "Owner"))
        self.role.choices = roles  # type: ignore[attr-defined]
        self.shop_id.choices = [SelectChoice("", "Every shop")] + [  # type: ignore[attr-defined]
            SelectChoice(str(shop_id), name) for shop_id, name in shops
        ]


class InviteForm(_RoleAndShop, FlaskForm):
    email = EmailField(
        "E-mail",
        validators=[
            DataRequired("Enter their e-mail address."),
            Email("Enter an e-mail address like name@example.com."),
            Length(max=254),
        ],
        filters=[_strip],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "inputmode": "email"},
    )
    role = SelectField("Role", choices=[])
    shop_id = SelectField(
        "Shop",
        choices=[],
        validate_choice=False,
        description="Only for shop staff: the shop whose till they use.",
    )

    def shop(self) -> int | None:
        return _shop_id(self.shop_id.data)


class MembershipForm(_RoleAndShop, FlaskForm):
    role = SelectField("Role", choices=[])
    shop_id = SelectField("Shop", choices=[], validate_choice=False)

    def shop(self) -> int | None:
        return _shop_id(self.shop_id.data)
