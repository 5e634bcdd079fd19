"""Back-office campaign pages: list, editor (preview, schedule, test send), the campaign's progress
(polled as JSON by web/static/backoffice/campaign-progress.js), start/pause/resume/cancel behind a
confirmation, results per channel, and the automation switches."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.errors import LoyaltyError
from loyalty.models import (
    Campaign,
    CampaignSchedule,
    CampaignStatus,
    OutboxMessage,
    OutboxStatus,
    Reward,
    Segment,
)
from loyalty.notify import campaign_texts
from loyalty.offerings import Feature
from loyalty.services import automations, campaigns, segments
from web.backoffice.campaign_forms import (
    AutomationForm,
    CampaignForm,
    ConfirmForm,
    SendTestForm,
)
from web.backoffice.catalog_pages import feature_gap, merchant_and_actor
from web.backoffice.form_errors import show_on_form
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import (
    display_timezone,
    page_number,
    signed_in_user,
    tenant_get_or_404,
    tenant_select,
)

FORM_FIELDS = {"send_at": "send_at", "channels": "channel_1"}
STATUS_LABELS = {
    CampaignStatus.DRAFT: "Draft",
    CampaignStatus.SCHEDULED: "Scheduled",
    CampaignStatus.RUNNING: "Sending",
    CampaignStatus.PAUSED: "Paused",
    CampaignStatus.COMPLETED: "Sent",
    CampaignStatus.CANCELLED: "Cancelled",
}
# What each action button does, in the words of its confirmation page.
ACTIONS: dict[str, dict[str, str]] = {
    "start": {
        "title": "Send “{name}” now?",
        "body": "Messages are queued for every member of the audience at once and go out "
        "over the next minutes. You can pause or cancel while it sends.",
        "button": "Send now",
        "style": "btn-primary",
    },
    "schedule": {
        "title": "Schedule “{name}”?",
        "body": "It will be sent at the time you chose. Until then you can still edit it.",
        "button": "Schedule",
        "style": "btn-primary",
    },
    "pause": {
        "title": "Pause “{name}”?",
        "body": "Messages not yet sent wait until you resume. Messages already sent stay sent.",
        "button": "Pause",
        "style": "btn-warning",
    },
    "resume": {
        "title": "Resume “{name}”?",
        "body": "The messages that were waiting go out again.",
        "button": "Resume",
        "style": "btn-primary",
    },
    "cancel": {
        "title": "Cancel “{name}”?",
        "body": "Messages not yet sent will never be sent. This cannot be undone.",
        "button": "Cancel campaign",
        "style": "btn-danger",
    },
}


def _gap(merchant) -> dict[str, str] | None:
    return feature_gap(merchant, Feature.SEGMENTATION)


@blueprint.get("/campaigns")
def campaign_list() -> str:
    merchant, _ = merchant_and_actor()
    statement = (
        tenant_select(Campaign)
        .where(Campaign.parent_id.is_(None))
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
    )
    page = db.paginate(statement, page=page_number(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "backoffice/campaigns.html",
        page=page,
        labels=STATUS_LABELS,
        progress={c.id: campaigns.progress(db.session, c) for c in page.items},
        gap=_gap(merchant),
    )


def _form() -> CampaignForm:
    form = CampaignForm()
    segment_rows = db.session.scalars(tenant_select(Segment).order_by(Segment.name, Segment.id))
    form.segment_id.choices = [("", "All active members")] + [
        (str(s.id), s.name) for s in segment_rows
    ]
    rewards = db.session.scalars(
        tenant_select(Reward).where(Reward.active.is_(True)).order_by(Reward.name, Reward.id)
    )
    form.reward_id.choices = [("", "No voucher")] + [(str(r.id), r.name) for r in rewards]
    return form


def _fill(form: CampaignForm, campaign: Campaign) -> None:
    form.name.data = campaign.name
    form.segment_id.data = str(campaign.segment_id or "")
    chosen = [*campaign.channels, "", "", ""]
    form.channel_1.data, form.channel_2.data, form.channel_3.data = chosen[:3]
    form.message.data = campaign.templates.get("default", "")
    for channel in campaigns.CHANNELS:
        getattr(form, f"message_{channel.value}").data = campaign.templates.get(channel.value, "")
    form.subject.data = campaign.subject
    form.bonus_points.data = campaign.bonus_points or None
    form.reward_id.data = str(campaign.reward_id or "")
    form.schedule.data = campaign.schedule.value
    if campaign.send_at is not None:
        form.send_at.data = campaign.send_at.astimezone(display_timezone()).replace(tzinfo=None)
    form.repeat_days.data = campaign.repeat_days
    form.frequency_cap_days.data = campaign.frequency_cap_days


def _previews(draft: campaigns.CampaignDraft) -> list[dict[str, Any]]:
    shown = []
    for channel in draft.channels:
        template = (draft.channel_messages or {}).get(channel) or draft.message
        if template:
            shown.append(campaigns.preview(template, channel, draft.subject))
    return shown


@blueprint.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new() -> ResponseReturnValue:
    return _edit(None)


@blueprint.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id: int) -> ResponseReturnValue:
    campaign = tenant_get_or_404(Campaign, campaign_id)
    if campaign.status not in campaigns.EDITABLE:
        flash(
            f"This campaign is {STATUS_LABELS[campaign.status].lower()}: it can no longer be edited.",
            "error",
        )
        return redirect(url_for("backoffice.campaign", campaign_id=campaign.id))
    return _edit(campaign)


def _edit(campaign: Campaign | None) -> ResponseReturnValue:
    merchant, actor = merchant_and_actor()
    form = _form()
    previews: list[dict[str, Any]] = []
    if request.method == "GET" and campaign is not None:
        _fill(form, campaign)
        previews = _previews(form.draft())
    elif form.validate_on_submit():
        try:
            draft = form.draft()
            if form.show_preview.data:
                previews = _previews(draft)
                _check_templates(draft)
            else:
                saved = campaigns.save_campaign(
                    db.session, merchant=merchant, draft=draft, actor=actor, campaign=campaign
                )
                db.session.commit()
                flash(f"Campaign “{saved.name}” saved.", "success")
                return redirect(url_for("backoffice.campaign", campaign_id=saved.id))
        except LoyaltyError as error:
            db.session.rollback()
            show_on_form(form, error, FORM_FIELDS)
    status = 422 if form.errors and request.method == "POST" else 200
    return render_template(
        "backoffice/campaign_form.html",
        form=form,
        campaign=campaign,
        previews=previews,
        gap=_gap(merchant),
        email_gap=feature_gap(merchant, Feature.EMAIL_CAMPAIGNS),
        timezone=display_timezone().key,
    ), status


def _check_templates(draft: campaigns.CampaignDraft) -> None:
    if draft.message:
        campaign_texts.validate(draft.message, field="message")
    for channel, text in (draft.channel_messages or {}).items():
        if text:
            campaign_texts.validate(text, field=f"message_{channel}")


@blueprint.get("/campaigns/preview")
def campaign_preview() -> ResponseReturnValue:
    """The editor's live preview (read only): text with sample values, length, SMS parts."""
    channel = request.args.get("channel", "sms")
    if channel not in {c.value for c in campaigns.CHANNELS}:
        return jsonify(error="Choose a channel from the list."), 422
    template = request.args.get("message", "")[: campaign_texts.MAX_TEMPLATE + 1]
    try:
        campaign_texts.validate(template)
    except LoyaltyError as error:
        return jsonify(error=error.message), 422
    subject = request.args.get("subject", "")[:200]
    return jsonify(campaigns.preview(template, channel, subject))


@blueprint.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int) -> str:
    campaign = tenant_get_or_404(Campaign, campaign_id)
    merchant, _ = merchant_and_actor()
    user = signed_in_user()
    test_form = SendTestForm()
    if not test_form.address.data and user is not None:
        test_form.address.data = user.email
    failed = db.paginate(
        select(OutboxMessage)
        .where(
            OutboxMessage.campaign_id == campaign.id,
            OutboxMessage.merchant_id == merchant.id,
            OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.SKIPPED]),
        )
        .order_by(OutboxMessage.id),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    runs = db.session.scalars(
        tenant_select(Campaign)
        .where(Campaign.parent_id == campaign.id)
        .order_by(Campaign.scheduled_for.desc())
        .limit(20)
    ).all()
    segment = campaign.segment
    return render_template(
        "backoffice/campaign.html",
        campaign=campaign,
        labels=STATUS_LABELS,
        progress=campaigns.progress(db.session, campaign),
        results=campaigns.results_by_channel(db.session, campaign),
        channel_labels={c.value: campaigns.CHANNEL_LABELS[c] for c in campaigns.CHANNELS},
        failed=failed,
        runs=runs,
        audience_words=segments.describe(db.session, segment.definition if segment else {}),
        segment=segment,
        previews=[
            campaigns.preview(campaigns.template_for(campaign, c), c, campaign.subject)
            for c in campaign.channels
            if campaigns.template_for(campaign, c)
        ],
        reward=db.session.get(Reward, campaign.reward_id) if campaign.reward_id else None,
        test_form=test_form,
        actions=_actions(campaign),
        gap=_gap(merchant),
    )


def _actions(campaign: Campaign) -> list[str]:
    status = campaign.status
    if status == CampaignStatus.DRAFT:
        return ["start"] if campaign.schedule == CampaignSchedule.NOW else ["schedule"]
    if status == CampaignStatus.SCHEDULED:
        return ["cancel"]
    if status == CampaignStatus.RUNNING:
        return ["pause", "cancel"]
    if status == CampaignStatus.PAUSED:
        return ["resume", "cancel"]
    return []


@blueprint.get("/campaigns/<int:campaign_id>/progress.json")
def campaign_progress(campaign_id: int) -> ResponseReturnValue:
    campaign = tenant_get_or_404(Campaign, campaign_id)
    if campaigns.finish_if_done(db.session, campaign):
        db.session.commit()
    counts = campaigns.progress(db.session, campaign)
    return jsonify(
        status=campaign.status.value,
        status_label=STATUS_LABELS[campaign.status],
        counts=counts,
        done=counts["sent"] + counts["failed"] + counts["skipped"],
    )


def campaign_action(campaign_id: int, action: str) -> ResponseReturnValue:
    """A confirmation page, then the action: nothing starts or stops by a stray click."""
    campaign = tenant_get_or_404(Campaign, campaign_id)
    merchant, _ = merchant_and_actor()
    form = ConfirmForm()
    audience = None
    if action in ("start", "schedule") and _gap(merchant) is None:
        audience = segments.count(
            db.session,
            merchant=merchant,
            definition=campaign.segment.definition if campaign.segment else {},
        )
    if form.validate_on_submit():
        try:
            message = _do(action, campaign)
            db.session.commit()
            flash(message, "success")
        except LoyaltyError as error:
            db.session.rollback()
            flash(error.message, "error")
        return redirect(url_for("backoffice.campaign", campaign_id=campaign.id))
    words = {k: v.format(name=campaign.name) for k, v in ACTIONS[action].items()}
    return render_template(
        "backoffice/campaign_confirm.html",
        campaign=campaign,
        action=action,
        words=words,
        form=form,
        audience=audience,
        allowed=action in _actions(campaign),
    )


# One URL per action (/campaigns/7/pause …), each behind its confirmation page.
for _action in ACTIONS:
    blueprint.add_url_rule(
        f"/campaigns/<int:campaign_id>/{_action}",
        endpoint=f"campaign_{_action}",
        view_func=campaign_action,
        methods=["GET", "POST"],
        defaults={"action": _action},
    )


def _do(action: str, campaign: Campaign) -> str:
    session = db.session
    if action == "start":
        queued = campaigns.start(session, campaign)
        return f"{queued:,} message{'' if queued == 1 else 's'} queued."
    if action == "schedule":
        campaigns.schedule(session, campaign)
        when = campaign.next_run_at.astimezone(display_timezone())
        return f"Scheduled for {when:%d %b %Y, %H:%M}."
    if action == "pause":
        held = campaigns.pause(session, campaign)
        return f"Paused. {held:,} message{'' if held == 1 else 's'} wait."
    if action == "resume":
        campaigns.resume(session, campaign)
        return "Resumed."
    dropped = campaigns.cancel(session, campaign)
    return f"Cancelled. {dropped:,} message{'' if dropped == 1 else 's'} will not be sent."


@blueprint.route("/campaigns/<int:campaign_id>/test", methods=["GET", "POST"])
def campaign_test_send(campaign_id: int) -> ResponseReturnValue:
    """POST queues the test; GET (a reload after it) shows the campaign page."""
    campaign = tenant_get_or_404(Campaign, campaign_id)
    merchant, _ = merchant_and_actor()
    form = SendTestForm()
    if request.method == "GET":
        pass
    elif form.validate_on_submit():
        try:
            message = campaigns.send_test(
                db.session,
                campaign=campaign,
                channel=form.channel.data,
                address=form.address.data,
                merchant=merchant,
            )
            db.session.commit()
            flash(
                f"Test queued to {message.address}. It arrives within a minute "
                "(without a provider configured, see the worker's local log).",
                "success",
            )
        except LoyaltyError as error:
            db.session.rollback()
            flash(error.message, "error")
    else:
        for messages in form.errors.values():
            flash(" ".join(messages), "error")
    return redirect(url_for("backoffice.campaign", campaign_id=campaign.id))


@blueprint.route("/automations", methods=["GET", "POST"])
def automation_settings() -> ResponseReturnValue:
    merchant, _ = merchant_and_actor()
    form = AutomationForm()
    if form.validate_on_submit():
        try:
            state = automations.set_automation(
                db.session,
                merchant=merchant,
                key=form.key.data,
                enabled=form.enabled.data,
                text=form.text.data,
                days=form.days.data,
            )
            db.session.commit()
            flash(f"{state.automation.label} is {'on' if state.enabled else 'off'}.", "success")
            return redirect(url_for("backoffice.automation_settings"))
        except LoyaltyError as error:
            db.session.rollback()
            flash(error.message, "error")
    elif request.method == "POST":
        for messages in form.errors.values():
            flash(" ".join(messages), "error")
    states = automations.all_states(db.session, merchant.id)
    forms = []
    for state in states:
        one = AutomationForm(formdata=None)
        one.key.data = state.automation.key.value
        one.enabled.data = state.enabled
        one.text.data = state.text
        one.days.data = state.days
        forms.append((state, one))
    return render_template(
        "backoffice/automations.html", forms=forms, gap=_gap(merchant), now=utcnow()
    )
