"""Back-office API keys page (Enterprise, owners only): create a key (shown once), revoke one."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, StringField, SubmitField
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, Length

from loyalty.errors import LoyaltyError
from loyalty.models import ApiKey, ApiScope, Role, User
from loyalty.offerings import Feature
from loyalty.services import api_keys
from web.backoffice.catalog_pages import feature_gap, merchant_and_actor
from web.backoffice.views import blueprint
from web.extensions import db
from web.tenancy import tenant_get_or_404


class ApiKeyForm(FlaskForm):
    name = StringField(
        "What is it for?",
        validators=[InputRequired("Name the key, e.g. Till software."), Length(max=80)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        description="Shown in this list only, to tell keys apart: the till, the web shop…",
    )
    scope = RadioField(
        "Access",
        choices=[
            SelectChoice(ApiScope.WRITE.value, "Read and write: earn, redeem, enrol, refund"),
            SelectChoice(ApiScope.READ.value, "Read only: look-ups and reports"),
        ],
        default=ApiScope.WRITE.value,
    )
    submit = SubmitField("Create key")


class RevokeForm(FlaskForm):
    submit = SubmitField("Revoke key")


def _owners_only() -> None:
    _, actor = merchant_and_actor()
    actor.require_role(Role.OWNER, "manage API keys")


def _page(
    form: ApiKeyForm, new_secret: str | None = None, status: int = 200
) -> ResponseReturnValue:
    merchant, _ = merchant_and_actor()
    keys = api_keys.keys_of(db.session, merchant=merchant)
    creators = {
        user.id: user.name or user.email
        for user in db.session.scalars(
            select(User).where(User.id.in_({k.created_by for k in keys if k.created_by}))
        )
    }
    return render_template(
        "backoffice/api_keys.html",
        form=form,
        keys=keys,
        creators=creators,
        new_secret=new_secret,
        gap=feature_gap(merchant, Feature.API_ACCESS),
    ), status


@blueprint.get("/api-keys")
def api_keys_page() -> ResponseReturnValue:
    _owners_only()
    return _page(ApiKeyForm())


@blueprint.post("/api-keys")
def api_key_create() -> ResponseReturnValue:
    _owners_only()
    merchant, actor = merchant_and_actor()
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    try:
        new = api_keys.create_key(
            db.session,
            merchant=merchant,
            actor=actor,
            scope=ApiScope(form.scope.data),
            name=form.name.data,
        )
    except LoyaltyError as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
        return _page(form, status=409)
    db.session.commit()
    # Rendered, not redirected: the secret must not travel through the session or a flash.
    return _page(ApiKeyForm(formdata=None), new_secret=new.secret, status=201)


@blueprint.route("/api-keys/<int:api_key_id>/revoke", methods=["GET", "POST"])
def api_key_revoke(api_key_id: int) -> ResponseReturnValue:
    _owners_only()
    key = tenant_get_or_404(ApiKey, api_key_id)
    merchant, actor = merchant_and_actor()
    form = RevokeForm()
    if form.validate_on_submit():
        api_keys.revoke_key(db.session, merchant=merchant, key_id=key.id, actor=actor)
        db.session.commit()
        flash(f"Key {key.prefix}… revoked: requests with it are refused from now on.", "success")
        return redirect(url_for("backoffice.api_keys_page"))
    return render_template("backoffice/api_key_revoke.html", form=form, key=key)
