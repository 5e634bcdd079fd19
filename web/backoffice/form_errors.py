"""Showing a domain refusal on the form that caused it: beside the field it names, else on top."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from loyalty.errors import InvalidInput, LoyaltyError


def show_on_form(
    form: FlaskForm, error: LoyaltyError, fields: dict[str, str] | None = None
) -> None:
    """Attach `error` to the form field it is about (`fields` maps service names to form names)."""
    field_name = error.field if isinstance(error, InvalidInput) else None
    if field_name and fields:
        field_name = fields.get(field_name, field_name)
    field = form._fields.get(field_name) if field_name else None
    if field is not None:
        # WTForms keeps errors in a tuple until validation ran; a list lets us add to it.
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")
