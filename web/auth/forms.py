"""Sign-in and business-choice forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, IntegerField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Email, Length, NumberRange

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
