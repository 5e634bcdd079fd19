"""Sign-in, sign-up, password reset, invitation and business-choice forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional

from loyalty.passwords import MIN_LENGTH
from web.tenancy import MAX_ID


class LoginForm(FlaskForm):
    email = EmailField(
        "E-mail",
        validators=[
            DataRequired("Enter your e-mail address."),
            Email("Enter an e-mail address like name@example.com."),
            Length(max=254),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        "Password",
        # A cap keeps a megabyte-long "password" from tying up argon2.
        validators=[DataRequired("Enter your password."), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    submit = SubmitField("Sign in")


class ChooseBusinessForm(FlaskForm):
    merchant_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
    next = HiddenField()


# --- sign-up, password reset and invitations ----------------------------------------------------


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _new_password(label: str = "Password") -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_LENGTH,
                max=1024,
                message=f"Choose a password of at least {MIN_LENGTH} characters.",
            ),
        ],
        description=f"At least {MIN_LENGTH} characters. A short sentence is easy to remember.",
        render_kw={"autocomplete": "new-password"},
    )


def _repeat() -> PasswordField:
    return PasswordField(
        "Repeat the password",
        validators=[
            DataRequired("Type the password again."),
            EqualTo("password", "The two passwords are not the same."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class SignUpForm(FlaskForm):
    business_name = StringField(
        "Business name",
        validators=[DataRequired("Enter the name of your business."), Length(max=120)],
        filters=[_strip],
        render_kw={"autocomplete": "organization"},
    )
    name = StringField(
        "Your name",
        validators=[Optional(), Length(max=120)],
        filters=[_strip],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        "Your e-mail",
        validators=[
            DataRequired("Enter your e-mail address."),
            Email("Enter an e-mail address like name@example.com."),
            Length(max=254),
        ],
        filters=[_strip],
        description="You sign in with it; password reset links go there.",
        render_kw={"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = _new_password()
    confirm = _repeat()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "E-mail",
        validators=[
            DataRequired("Enter your e-mail address."),
            Email("Enter an e-mail address like name@example.com."),
            Length(max=254),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )


class ResetPasswordForm(FlaskForm):
    password = _new_password("New password")
    confirm = _repeat()


class ChangePasswordForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired("Type your current password.")],
        render_kw={"autocomplete": "current-password"},
    )
    password = _new_password("New password")
    confirm = _repeat()


class AcceptInvitationForm(FlaskForm):
    name = StringField(
        "Your name",
        validators=[DataRequired("Enter your name, as colleagues know you."), Length(max=120)],
        filters=[_strip],
        render_kw={"autocomplete": "name"},
    )
    password = _new_password()
    confirm = _repeat()


class PlainForm(FlaskForm):
    """A button that posts: CSRF only."""
