"""Putting a domain refusal next to the form field it is about."""

from __future__ import annotations

from flask_wtf import FlaskForm

from loyalty.errors import LoyaltyError


def show_on_form(form: FlaskForm, error: LoyaltyError) -> None:
    """The message under its field when the error names one, else at the top of the form."""
    field = getattr(form, getattr(error, "field", None) or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def has_errors(form: FlaskForm) -> bool:
    return bool(form.errors or form.form_errors)
