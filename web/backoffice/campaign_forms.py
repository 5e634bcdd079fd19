"""The segment builder, campaign editor, test-send and automation forms, read into service input."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from loyalty.models import CampaignSchedule
from loyalty.notify import campaign_texts
from loyalty.services.campaigns import CHANNEL_LABELS, CHANNELS, CampaignDraft
from loyalty.services.segments import MARKETING_CONSENTS
from web.backoffice.promotion_forms import CheckboxesField


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class StringCheckboxes(CheckboxesField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["coerce"] = str
        super().__init__(*args, **kwargs)


CHANNEL_CHOICES = [SelectChoice(c.value, CHANNEL_LABELS[c]) for c in CHANNELS]
CONSENT_LABELS = {
    "marketing_email": "E-mail offers",
    "marketing_sms": "SMS offers",
    "marketing_telegram": "Telegram offers",
}
WHOLE = "Write a whole number."


def _count(label: str, description: str = "") -> IntegerField:
    return IntegerField(
        label,
        validators=[Optional(), NumberRange(min=0, max=2_000_000_000, message="0 or more.")],
        description=description,
        render_kw={"inputmode": "numeric", "min": 0},
    )


class SegmentForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired("Give the segment a name."), Length(max=120)],
        filters=[_strip],
        description="For you only, e.g. “Gold members who have not come back”.",
    )
    tier_ids = CheckboxesField("Tier", description="None ticked: any tier (or none).")
    points_min = _count("Points from")
    points_max = _count("Points up to")
    last_visit_within_days = _count("Visited in the last … days")
    no_visit_for_days = _count("No visit for at least … days")
    visits_min = _count("Visits from", "Purchases recorded at the till.")
    visits_max = _count("Visits up to")
    spend_min = _count("Total spend from (€)")
    spend_max = _count("Total spend up to (€)")
    shop_ids = CheckboxesField("Bought at", description="None ticked: any shop.")
    enrolled_from = DateField("Joined from", validators=[Optional()])
    enrolled_to = DateField("Joined until", validators=[Optional()])
    birthday_months = CheckboxesField(
        "Birthday in",
        choices=[SelectChoice(str(m), calendar.month_abbr[m]) for m in range(1, 13)],
    )
    channels = StringCheckboxes(
        "Reachable by", choices=CHANNEL_CHOICES, description="At least one of those ticked."
    )
    consents = StringCheckboxes(
        "Agreed to",
        choices=[SelectChoice(c, CONSENT_LABELS[c]) for c in MARKETING_CONSENTS],
        description="Every one ticked.",
    )
    save = SubmitField("Save segment")

    def definition(self) -> dict[str, Any]:
        """The service's raw definition (it checks everything again)."""
        raw: dict[str, Any] = {
            key: getattr(self, key).data
            for key in (
                "points_min",
                "points_max",
                "last_visit_within_days",
                "no_visit_for_days",
                "visits_min",
                "visits_max",
                "tier_ids",
                "shop_ids",
                "birthday_months",
                "channels",
                "consents",
            )
        }
        for key in ("spend_min", "spend_max"):
            value = getattr(self, key).data
            raw[f"{key}_cents"] = value * 100 if value is not None else None
        for key in ("enrolled_from", "enrolled_to"):
            value = getattr(self, key).data
            raw[key] = value.isoformat() if value else None
        return raw

    def fill(self, name: str, definition: dict[str, Any]) -> None:
        self.name.data = name
        for key, value in definition.items():
            if key.endswith("_cents"):
                getattr(self, key.removesuffix("_cents")).data = value // 100
            elif key in ("enrolled_from", "enrolled_to"):
                getattr(self, key).data = date.fromisoformat(value)
            elif key in self._fields:
                self._fields[key].data = value


FALLBACK_CHOICES = [SelectChoice("", "—"), *CHANNEL_CHOICES]


class CampaignForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired("Give the campaign a name."), Length(max=120)],
        filters=[_strip],
    )
    segment_id = SelectField("Send to", coerce=str, validate_choice=False)
    channel_1 = SelectField("First try", choices=CHANNEL_CHOICES, default="telegram")
    channel_2 = SelectField("Else", choices=FALLBACK_CHOICES, default="sms")
    channel_3 = SelectField("Else", choices=FALLBACK_CHOICES, default="email")
    subject = StringField("E-mail subject", filters=[_strip], validators=[Length(max=200)])
    message = TextAreaField(
        "Message",
        filters=[_strip],
        description=campaign_texts.PLACEHOLDER_HINT,
        render_kw={"rows": 4},
    )
    message_telegram = TextAreaField("Telegram text", filters=[_strip], render_kw={"rows": 3})
    message_sms = TextAreaField("SMS text", filters=[_strip], render_kw={"rows": 3})
    message_email = TextAreaField("E-mail text", filters=[_strip], render_kw={"rows": 3})
    bonus_points = IntegerField(
        "Bonus points",
        validators=[Optional(), NumberRange(min=0, max=100_000, message="Between 0 and 100,000.")],
        description="Credited to each member when their message goes out.",
        render_kw={"inputmode": "numeric", "min": 0},
    )
    reward_id = SelectField("Attach a voucher for", coerce=str, validate_choice=False)
    schedule = RadioField(
        "When",
        choices=[
            SelectChoice(CampaignSchedule.NOW.value, "When I press Send now"),
            SelectChoice(CampaignSchedule.AT.value, "At a date and time"),
            SelectChoice(CampaignSchedule.RECURRING.value, "Repeatedly"),
        ],
        default=CampaignSchedule.NOW.value,
    )
    send_at = DateTimeLocalField(
        "Date and time", validators=[Optional()], format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
    )
    repeat_days = IntegerField(
        "Repeat every … days",
        validators=[Optional(), NumberRange(min=1, max=365, message="Between 1 and 365.")],
        description="7 for weekly.",
        render_kw={"inputmode": "numeric", "min": 1},
    )
    frequency_cap_days = IntegerField(
        "At most one campaign message per member every … days",
        validators=[Optional(), NumberRange(min=1, max=365, message="Between 1 and 365.")],
        description="Members who had another campaign's message within this time are left out.",
        render_kw={"inputmode": "numeric", "min": 1},
    )
    save = SubmitField("Save")
    show_preview = SubmitField("Preview")

    def draft(self) -> CampaignDraft:
        channels = [c for c in (self.channel_1.data, self.channel_2.data, self.channel_3.data) if c]
        return CampaignDraft(
            name=self.name.data or "",
            channels=channels,
            message=self.message.data or "",
            channel_messages={
                c.value: getattr(self, f"message_{c.value}").data or "" for c in CHANNELS
            },
            subject=self.subject.data or "",
            segment_id=int(self.segment_id.data)
            if (self.segment_id.data or "").isdigit()
            else None,
            bonus_points=self.bonus_points.data or 0,
            reward_id=int(self.reward_id.data) if (self.reward_id.data or "").isdigit() else None,
            schedule=self.schedule.data or CampaignSchedule.NOW.value,
            send_at_local=self.send_at.data,
            repeat_days=self.repeat_days.data,
            frequency_cap_days=self.frequency_cap_days.data,
        )


class SendTestForm(FlaskForm):
    channel = SelectField(
        "Channel",
        choices=[SelectChoice("email", "E-mail"), SelectChoice("sms", "SMS")],
        default="email",
    )
    address = StringField(
        "Send to",
        validators=[InputRequired("Enter your e-mail address or mobile number.")],
        filters=[_strip],
    )
    send = SubmitField("Send me a test")


class ConfirmForm(FlaskForm):
    pass


class AutomationForm(FlaskForm):
    key = HiddenField()
    enabled = BooleanField("On")
    text = TextAreaField(
        "Message",
        filters=[_strip],
        description=campaign_texts.PLACEHOLDER_HINT,
        render_kw={"rows": 2},
    )
    days = IntegerField(
        "Days",
        validators=[Optional(), NumberRange(min=1, max=730, message="Between 1 and 730.")],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    save = SubmitField("Save")
