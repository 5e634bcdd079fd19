"""The customer's forms: join, ask for a sign-in link, marketing choices, redeem, delete."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TelField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from web.tenancy import MAX_ID


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


LANGUAGE_CHOICES = [
    SelectChoice("en", "English"),
    SelectChoice("fr", "Français"),
    SelectChoice("de", "Deutsch"),
]


class JoinForm(FlaskForm):
    name = StringField(
        "Your name",
        validators=[Optional(), Length(max=120)],
        filters=[_strip],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        "E-mail",
        validators=[Optional(), Length(max=254)],
        filters=[_strip],
        description="Your card and its link arrive here.",
        render_kw={
            "autocomplete": "email",
            "autocapitalize": "none",
            "spellcheck": "false",
            "inputmode": "email",
        },
    )
    phone = TelField(
        "Mobile phone",
        validators=[Optional(), Length(max=30)],
        filters=[_strip],
        description="With the country code, for example +352 621 123 456. E-mail or phone: one is enough.",
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    birthday = DateField(
        "Birthday (optional)",
        validators=[Optional()],
        description="For a birthday treat.",
        render_kw={"autocomplete": "bday"},
    )
    language = SelectField("Language", choices=LANGUAGE_CHOICES, default="en")
    terms = BooleanField(
        "I accept the programme terms",
        validators=[DataRequired("Accept the programme terms to join.")],
    )
    marketing_email = BooleanField("Offers by e-mail")
    marketing_sms = BooleanField("Offers by SMS")
    marketing_telegram = BooleanField("Offers in Telegram")
    # Bots fill every field they see and post at once: a hidden field and a signed start time.
    website = StringField(
        "Leave this field empty", render_kw={"autocomplete": "off", "tabindex": "-1"}
    )
    started = HiddenField()
    key = HiddenField()
    # From an invite link (?ref=CODE): the friend who invited this customer.
    ref = HiddenField(validators=[Optional(), Length(max=32)])


class ContactForm(FlaskForm):
    contact = StringField(
        "E-mail or mobile phone",
        validators=[
            InputRequired("Enter the e-mail address or phone number you joined with."),
            Length(max=254),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"},
    )


class PreferencesForm(FlaskForm):
    marketing_email = BooleanField("Offers by e-mail")
    marketing_sms = BooleanField("Offers by SMS")
    marketing_telegram = BooleanField("Offers in Telegram")


class RedeemForm(FlaskForm):
    reward_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])
    key = HiddenField(validators=[InputRequired(), Length(min=8, max=64)])


class DeleteForm(FlaskForm):
    confirm = StringField(
        "Type DELETE to confirm",
        validators=[InputRequired("Type DELETE to confirm.")],
        filters=[_strip],
        render_kw={"autocomplete": "off", "autocapitalize": "characters"},
    )


class PlainForm(FlaskForm):
    """A button that posts: the CSRF token is all it carries (open link, sign out)."""
