"""Branding forms: the brand (colours, logo, sender name) and the custom domain."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import Length

from loyalty.services.branding import BrandingDraft
from loyalty.services.images import MAX_UPLOAD_BYTES


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class BrandingForm(FlaskForm):
    primary_color = StringField(
        "Main colour",
        validators=[Length(max=7)],
        filters=[_strip],
        description="Hex code like #b3261e: cards, buttons, page header. Empty: the programme's.",
        render_kw={"placeholder": "#7a4b2a", "autocapitalize": "none", "spellcheck": "false"},
    )
    secondary_color = StringField(
        "Background colour",
        validators=[Length(max=7)],
        filters=[_strip],
        description="A light tint for page backgrounds and the card strip. Empty: the programme's.",
        render_kw={"placeholder": "#f5efe6", "autocapitalize": "none", "spellcheck": "false"},
    )
    sender_name = StringField(
        "Sender name",
        validators=[Length(max=60)],
        filters=[_strip],
        description="The name members see on e-mails, e.g. “Wagner Bonus Card”. Empty: the programme's name.",
    )
    logo = FileField(
        "Logo",
        description=f"PNG or JPEG, square works best, at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
        render_kw={"accept": "image/png,image/jpeg,image/webp"},
    )
    remove_logo = BooleanField("Remove the current logo")
    save = SubmitField("Save brand")

    def draft(self) -> BrandingDraft:
        return BrandingDraft(
            primary_color=self.primary_color.data or "",
            secondary_color=self.secondary_color.data or "",
            sender_name=self.sender_name.data or "",
        )

    def fill(self, draft: BrandingDraft) -> None:
        self.primary_color.data = draft.primary_color
        self.secondary_color.data = draft.secondary_color
        self.sender_name.data = draft.sender_name

    def logo_bytes(self) -> bytes | None:
        upload = self.logo.data
        if upload is None or not getattr(upload, "filename", ""):
            return None
        return upload.read(MAX_UPLOAD_BYTES + 1)


class DomainForm(FlaskForm):
    custom_domain = StringField(
        "Custom domain",
        validators=[Length(max=253)],
        filters=[_strip],
        description="A name your business owns, like rewards.example.com. Empty: none.",
        render_kw={"autocapitalize": "none", "spellcheck": "false", "inputmode": "url"},
    )
    save_domain = SubmitField("Save domain")
