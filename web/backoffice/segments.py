"""Back-office segment pages: the list, the builder with its live count (JSON for the page's script)."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.models import Segment
from loyalty.offerings import Feature
from loyalty.services import segments
from web.backoffice.campaign_forms import SegmentForm
from web.backoffice.catalog_pages import (
    feature_gap,
    merchant_and_actor,
    shop_choices,
    tier_choices,
)
from web.backoffice.form_errors import show_on_form
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import page_number, tenant_get_or_404, tenant_select

FORM_FIELDS = {"spend_min_cents": "spend_min", "spend_max_cents": "spend_max"}


def _form(formdata: MultiDict | None = None) -> SegmentForm:
    form = SegmentForm(formdata=formdata) if formdata is not None else SegmentForm()
    form.tier_ids.choices = tier_choices()
    form.shop_ids.choices = shop_choices()
    return form


@blueprint.get("/segments")
def segment_list() -> str:
    merchant, _ = merchant_and_actor()
    statement = tenant_select(Segment).order_by(Segment.name, Segment.id)
    page = db.paginate(statement, page=page_number(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "backoffice/segments.html",
        page=page,
        describe=lambda s: segments.describe(db.session, s.definition),
        gap=feature_gap(merchant, Feature.SEGMENTATION),
    )


@blueprint.route("/segments/new", methods=["GET", "POST"])
def segment_new() -> ResponseReturnValue:
    return _edit(None)


@blueprint.route("/segments/<int:segment_id>", methods=["GET", "POST"])
def segment_edit(segment_id: int) -> ResponseReturnValue:
    return _edit(tenant_get_or_404(Segment, segment_id))


def _edit(segment: Segment | None) -> ResponseReturnValue:
    merchant, _ = merchant_and_actor()
    gap = feature_gap(merchant, Feature.SEGMENTATION)
    form = _form()
    count = None
    if request.method == "GET" and segment is not None:
        form.fill(segment.name, segment.definition)
    if form.validate_on_submit():
        try:
            saved = segments.save_segment(
                db.session,
                merchant=merchant,
                name=form.name.data,
                definition=form.definition(),
                segment=segment,
            )
            db.session.commit()
            flash(f"Segment “{saved.name}” saved.", "success")
            return redirect(url_for("backoffice.segment_edit", segment_id=saved.id))
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error, FORM_FIELDS)
    if gap is None and not form.errors:
        try:
            count = segments.count(
                db.session,
                merchant=merchant,
                definition=segments.clean_definition(
                    db.session, merchant=merchant, raw=form.definition()
                ),
            )
        except InvalidInput:
            count = None
    status = 422 if form.errors and request.method == "POST" else 200
    return render_template(
        "backoffice/segment_form.html", form=form, segment=segment, count=count, gap=gap
    ), status


@blueprint.get("/segments/count")
def segment_count() -> ResponseReturnValue:
    """The builder's live count for the filters in the query string (read only, no CSRF)."""
    merchant, _ = merchant_and_actor()
    form = _form(formdata=request.args)
    form.validate()  # fills .data; the service judges the values
    typed = {k: v for k, v in form.errors.items() if k not in ("name", "csrf_token")}
    if typed:
        field, messages = next(iter(typed.items()))
        return jsonify(error=f"{form[field].label.text}: {messages[0]}", field=field), 422
    try:
        definition = segments.clean_definition(db.session, merchant=merchant, raw=form.definition())
        count = segments.count(db.session, merchant=merchant, definition=definition)
    except InvalidInput as error:
        field = FORM_FIELDS.get(error.field or "", error.field)
        return jsonify(error=error.message, field=field), 422
    except LoyaltyError as error:
        return jsonify(error=error.message), 403
    return jsonify(count=count, label=f"{count:,} member" + ("" if count == 1 else "s"))
