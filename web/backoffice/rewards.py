"""Back-office rewards catalogue: list, create, edit (with picture), and the pictures themselves."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from loyalty.errors import LoyaltyError
from loyalty.models import CUSTOM_REWARD_TYPES, Reward, RewardType
from loyalty.offerings import Feature
from loyalty.services import images, reward_catalog, reward_limits
from web.backoffice.catalog_pages import feature_gap, merchant_and_actor
from web.backoffice.form_errors import show_on_form
from web.backoffice.reward_forms import RewardForm
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import page_number, tenant_get_or_404, tenant_select

# A 1×1 transparent PNG: what a reward without a picture shows, so an <img> never breaks.
BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4"
    "890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)


def upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


@blueprint.get("/rewards")
def rewards() -> str:
    merchant, _ = merchant_and_actor()
    statement = tenant_select(Reward).order_by(Reward.active.desc(), Reward.points_cost, Reward.id)
    page = db.paginate(statement, page=page_number(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "backoffice/rewards.html",
        page=page,
        value_label=reward_catalog.value_label,
        limit_label=reward_limits.limit_label,
        type_labels=reward_catalog.TYPE_LABELS,
        custom_types=CUSTOM_REWARD_TYPES,
        gap=feature_gap(merchant, Feature.CUSTOM_REWARDS),
    )


def _form(reward: Reward | None) -> RewardForm:
    merchant, _ = merchant_and_actor()
    form = RewardForm()
    types = reward_catalog.allowed_types(merchant)
    if reward is not None and RewardType(reward.type) not in types:
        types.append(RewardType(reward.type))  # a downgraded merchant's custom reward
    form.set_types(types)
    return form


def _save(form: RewardForm, reward: Reward | None) -> Reward:
    merchant, actor = merchant_and_actor()
    draft = form.draft()
    picture = form.picture()
    if reward is None:
        reward = reward_catalog.create_reward(
            db.session, merchant=merchant, actor=actor, draft=draft
        )
    else:
        reward_catalog.update_reward(
            db.session, reward=reward, merchant=merchant, actor=actor, draft=draft
        )
    replaced = None
    if picture is not None or (form.remove_image.data and reward.image_file):
        replaced = reward_catalog.set_picture(
            db.session,
            reward=reward,
            merchant=merchant,
            actor=actor,
            data=picture,
            folder=upload_folder(),
        )
    db.session.commit()
    images.remove(upload_folder(), replaced)  # only now: the new state is committed
    return reward


def _page(form: RewardForm, reward: Reward | None, error: LoyaltyError | None):
    merchant, _ = merchant_and_actor()
    status = 200
    if error is not None and error.code == "feature_not_in_offering":
        status = 409
    elif form.errors:
        status = 422
    return render_template(
        "backoffice/reward_form.html",
        form=form,
        reward=reward,
        gap=feature_gap(merchant, Feature.CUSTOM_REWARDS),
    ), status


@blueprint.route("/rewards/new", methods=["GET", "POST"])
def reward_new() -> ResponseReturnValue:
    form = _form(None)
    error = None
    if form.validate_on_submit():
        try:
            reward = _save(form, None)
            flash(f"Reward “{reward.name}” created.", "success")
            return redirect(url_for("backoffice.rewards"))
        except LoyaltyError as refusal:
            db.session.rollback()
            error = refusal
            show_on_form(form, refusal)
    return _page(form, None, error)


@blueprint.route("/rewards/<int:reward_id>", methods=["GET", "POST"])
def reward_edit(reward_id: int) -> ResponseReturnValue:
    reward = tenant_get_or_404(Reward, reward_id)
    form = _form(reward)
    error = None
    if request.method == "GET":
        form.fill(reward_catalog.draft_of(reward))
    elif form.validate_on_submit():
        try:
            _save(form, reward)
            flash(f"Reward “{reward.name}” saved.", "success")
            return redirect(url_for("backoffice.rewards"))
        except LoyaltyError as refusal:
            db.session.rollback()
            error = refusal
            show_on_form(form, refusal)
    return _page(form, reward, error)


@blueprint.get("/rewards/<int:reward_id>/picture")
def reward_picture(reward_id: int) -> Response:
    """The stored PNG (never the uploaded bytes), or a blank pixel when there is none."""
    reward = tenant_get_or_404(Reward, reward_id)
    path = images.resolve(upload_folder(), reward.image_file)
    if path is None:
        return Response(BLANK_PNG, mimetype="image/png")
    response = send_file(path, mimetype="image/png", max_age=0)
    response.headers["Content-Disposition"] = "inline"
    return response
