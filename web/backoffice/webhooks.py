"""Back-office webhook pages (owners, Enterprise): endpoints, their secret, test events, delivery log.

The services decide (offering, role, URL rules); these views only translate. An endpoint id is
looked up through the tenant road first, so another business's id is a 404 whatever its
offering; the offering's refusal comes after, as a page saying which offering includes it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import Length

from loyalty.errors import LoyaltyError
from loyalty.models import (
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Role,
    WebhookDelivery,
    WebhookEndpoint,
)
from loyalty.offerings import Feature
from loyalty.services import events, webhooks
from web.backoffice.catalog_pages import feature_gap, merchant_and_actor
from web.backoffice.form_errors import show_on_form
from web.backoffice.promotion_forms import CheckboxesField, ConfirmForm
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import page_number, require_role, tenant_get_or_404, tenant_select


class EventTypesField(CheckboxesField):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["coerce"] = str
        super().__init__(*args, **kwargs)


class EndpointForm(FlaskForm):
    url = StringField(
        "URL",
        description="Where your system receives events: https://…",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )
    description = TextAreaField(
        "Description (optional)",
        validators=[Length(max=200, message="200 characters at most.")],
        description="For your own reference, e.g. “E-shop order sync”.",
    )
    event_types = EventTypesField(
        "Events to send",
        choices=[SelectChoice(name, name) for name in events.EVENT_TYPES],
        description="Each is described in the webhooks guide.",
    )


def _allow_local_http() -> bool:
    """Plain http to this machine is for development and tests only."""
    return current_app.config.get("LOYALTY_ENV") != "production"


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return tenant_get_or_404(WebhookEndpoint, endpoint_id)


def _back(endpoint: WebhookEndpoint) -> ResponseReturnValue:
    return redirect(url_for("backoffice.webhook", endpoint_id=endpoint.id))


@blueprint.get("/webhooks")
@require_role(Role.OWNER)
def webhooks_list() -> str:
    merchant, _ = merchant_and_actor()
    gap = feature_gap(merchant, Feature.WEBHOOKS)
    endpoints = [] if gap else webhooks.list_endpoints(db.session, merchant=merchant)
    return render_template(
        "backoffice/webhooks.html",
        gap=gap,
        endpoints=endpoints,
        max_endpoints=webhooks.MAX_ENDPOINTS,
    )


@blueprint.route("/webhooks/new", methods=["GET", "POST"])
@require_role(Role.OWNER)
def webhook_new() -> ResponseReturnValue:
    merchant, actor = merchant_and_actor()
    webhooks.require_feature(merchant)
    form = EndpointForm()
    if not form.is_submitted():
        form.event_types.data = list(events.EVENT_TYPES)
    if form.validate_on_submit():
        try:
            endpoint = webhooks.create_endpoint(
                db.session,
                merchant=merchant,
                actor=actor,
                url=form.url.data or "",
                event_types=form.event_types.data or [],
                description=form.description.data or "",
                allow_local_http=_allow_local_http(),
            )
            db.session.commit()
            flash(
                "Endpoint added. Copy its signing secret into your receiver, then send a "
                "test event.",
                "success",
            )
            return _back(endpoint)
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error)
    status = 422 if form.is_submitted() else 200
    return render_template("backoffice/webhook_form.html", form=form, endpoint=None), status


@blueprint.route("/webhooks/<int:endpoint_id>/edit", methods=["GET", "POST"])
@require_role(Role.OWNER)
def webhook_edit(endpoint_id: int) -> ResponseReturnValue:
    endpoint = _endpoint(endpoint_id)
    merchant, actor = merchant_and_actor()
    webhooks.require_feature(merchant)
    form = EndpointForm(obj=endpoint)
    if form.validate_on_submit():
        try:
            webhooks.update_endpoint(
                db.session,
                merchant=merchant,
                actor=actor,
                endpoint=endpoint,
                url=form.url.data or "",
                event_types=form.event_types.data or [],
                description=form.description.data or "",
                allow_local_http=_allow_local_http(),
            )
            db.session.commit()
            flash("Endpoint saved.", "success")
            return _back(endpoint)
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error)
    status = 422 if form.is_submitted() else 200
    return render_template("backoffice/webhook_form.html", form=form, endpoint=endpoint), status


@blueprint.get("/webhooks/<int:endpoint_id>")
@require_role(Role.OWNER)
def webhook(endpoint_id: int) -> str:
    """The endpoint, its secret, its actions and its delivery log (newest first)."""
    endpoint = _endpoint(endpoint_id)
    merchant, _ = merchant_and_actor()
    webhooks.require_feature(merchant)
    statement = (
        tenant_select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    )
    page = db.paginate(statement, page=page_number(), per_page=PER_PAGE, error_out=False)
    waiting = db.session.scalar(
        tenant_select(OutboxMessage, db.func.count(OutboxMessage.id)).where(
            OutboxMessage.channel == OutboxChannel.WEBHOOK,
            OutboxMessage.address == f"webhook:{endpoint.id}",
            OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
        )
    )
    return render_template(
        "backoffice/webhook.html",
        endpoint=endpoint,
        page=page,
        waiting=waiting or 0,
        form=ConfirmForm(),
        event_labels=events.EVENT_TYPES,
    )


def _one_button(endpoint_id: int, action: Callable[..., object], done: str) -> ResponseReturnValue:
    """A confirmed button on the endpoint's page: the service, one commit, a flash, back."""
    endpoint = _endpoint(endpoint_id)
    merchant, actor = merchant_and_actor()
    if ConfirmForm().validate_on_submit():
        action(db.session, merchant=merchant, actor=actor, endpoint=endpoint)
        db.session.commit()
        flash(done, "success")
    return _back(endpoint)


@blueprint.post("/webhooks/<int:endpoint_id>/disable")
@require_role(Role.OWNER)
def webhook_disable(endpoint_id: int) -> ResponseReturnValue:
    return _one_button(
        endpoint_id,
        webhooks.disable_endpoint,
        "Endpoint disabled: no events are sent to it until you enable it.",
    )


@blueprint.post("/webhooks/<int:endpoint_id>/enable")
@require_role(Role.OWNER)
def webhook_enable(endpoint_id: int) -> ResponseReturnValue:
    return _one_button(
        endpoint_id, webhooks.enable_endpoint, "Endpoint enabled: new events are sent to it again."
    )


@blueprint.post("/webhooks/<int:endpoint_id>/test")
@require_role(Role.OWNER)
def webhook_test(endpoint_id: int) -> ResponseReturnValue:
    return _one_button(
        endpoint_id,
        webhooks.send_test_event,
        "Test event queued. It is sent within a minute; its result appears in the "
        "delivery log below (reload the page).",
    )


@blueprint.route("/webhooks/<int:endpoint_id>/rotate", methods=["GET", "POST"])
@require_role(Role.OWNER)
def webhook_rotate(endpoint_id: int) -> ResponseReturnValue:
    """A confirmation page, then a new secret: the receiver must be updated at once."""
    endpoint = _endpoint(endpoint_id)
    merchant, actor = merchant_and_actor()
    webhooks.require_feature(merchant)
    form = ConfirmForm()
    if form.validate_on_submit():
        webhooks.rotate_secret(db.session, merchant=merchant, actor=actor, endpoint=endpoint)
        db.session.commit()
        flash("New signing secret made. Put it in your receiver now.", "success")
        return _back(endpoint)
    return render_template(
        "backoffice/webhook_confirm.html", endpoint=endpoint, form=form, action="rotate"
    )


@blueprint.route("/webhooks/<int:endpoint_id>/delete", methods=["GET", "POST"])
@require_role(Role.OWNER)
def webhook_delete(endpoint_id: int) -> ResponseReturnValue:
    endpoint = _endpoint(endpoint_id)
    merchant, actor = merchant_and_actor()
    webhooks.require_feature(merchant)
    form = ConfirmForm()
    if form.validate_on_submit():
        url = endpoint.url
        webhooks.delete_endpoint(db.session, merchant=merchant, actor=actor, endpoint=endpoint)
        db.session.commit()
        flash(f"Endpoint {url} deleted.", "success")
        return redirect(url_for("backoffice.webhooks_list"))
    return render_template(
        "backoffice/webhook_confirm.html", endpoint=endpoint, form=form, action="delete"
    )


@blueprint.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@require_role(Role.OWNER)
def webhook_resend(endpoint_id: int, delivery_id: int) -> ResponseReturnValue:
    endpoint = _endpoint(endpoint_id)
    delivery = tenant_get_or_404(WebhookDelivery, delivery_id)
    if delivery.endpoint_id != endpoint.id:
        abort(404)
    merchant, actor = merchant_and_actor()
    if ConfirmForm().validate_on_submit():
        webhooks.resend(db.session, merchant=merchant, actor=actor, delivery=delivery)
        db.session.commit()
        flash(f"Event {delivery.event_id} queued again; it is sent within a minute.", "success")
    return _back(endpoint)
