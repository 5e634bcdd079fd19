"""Pages for customers: the front door, a programme's join page and the member's own card page.

A customer is never a `User`: the member page is opened by a single-use link, and the browser
then keeps `{programme id: member id}` in the signed session cookie. Every query below starts
from the programme named in the URL, so a card of another merchant is never loaded, whatever
the session holds (DESIGN.md, "Tenancy").
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.errors import DuplicateCustomer, InvalidInput, InvalidToken, LoyaltyError
from loyalty.models import (
    ChannelIdentity,
    LoyaltyMember,
    LoyaltyProgram,
    MemberStatus,
    MerchantStatus,
    Reward,
    Voucher,
)
from loyalty.services import gdpr, ladder, lookup, member_access, membership, pending, referrals
from loyalty.services.actors import Actor
from loyalty.services.enroll import MARKETING_CONSENTS, enroll
from loyalty.services.rewards import redeem
from loyalty.services.vouchers import format_code, normalize_code, open_vouchers
from wallet.qr import qr_png
from web.extensions import db, limiter
from web.public import domains, links
from web.public.branding import theme_css, theme_for
from web.public.forms import (
    ContactForm,
    DeleteForm,
    JoinForm,
    PlainForm,
    PreferencesForm,
    RedeemForm,
)
from web.tenancy import home_url

blueprint = Blueprint("public", __name__, template_folder="templates")
domains.attach(blueprint)  # a merchant's own domain serves its pages (web/public/domains.py)

CARDS_KEY = "member_cards"  # {str(programme id): member id}, in the signed session cookie
JOINED_KEY = "joined_cards"  # the card this browser just created, for the welcome page
FORM_SALT = "join-form-started"
FORM_MAX_AGE = 6 * 3600
CUSTOMER = Actor.customer()


# --- limits -------------------------------------------------------------------------------


def _public_limit() -> str:
    return current_app.config.get("PUBLIC_FORM_RATE_LIMIT", "10 per minute;60 per hour")


def _limits_switched_off() -> bool:
    # The limiter object is shared by every app in the process: read this app's switch.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def _min_seconds() -> float:
    return float(current_app.config.get("JOIN_MIN_SECONDS", 3))


# --- the programme and the member of this request -------------------------------------------


def program_or_404(slug: str, *, paused_ok: bool = False) -> LoyaltyProgram:
    """The programme at /j/<slug> or /p/<slug>.

    A suspended merchant's programme answers with a "paused" page (503: it is temporary),
    except where `paused_ok`: its stylesheet, its terms, and a member's own data export and
    erasure, which a suspension must not take away.
    """
    program = db.session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.slug == slug)
    ).one_or_none()
    if program is None:
        abort(404, "There is no loyalty programme at this address. Check the link on the poster.")
    if program.merchant.status != MerchantStatus.ACTIVE and not paused_ok:
        abort(make_response(_page("public/paused.html", program, 503)))
    return program


def signed_in_member(program: LoyaltyProgram) -> LoyaltyMember | None:
    """This browser's card in this programme, if a link opened it; other programmes' are ignored."""
    member_id = (session.get(CARDS_KEY) or {}).get(str(program.id))
    if not isinstance(member_id, int):
        return None
    member = db.session.scalars(
        select(LoyaltyMember).where(
            LoyaltyMember.id == member_id, LoyaltyMember.program_id == program.id
        )
    ).one_or_none()
    if member is None or member.status == MemberStatus.CLOSED or member.customer.erased_at:
        _forget(program)
        return None
    return member


def _remember(program: LoyaltyProgram, member: LoyaltyMember) -> None:
    cards = dict(session.get(CARDS_KEY) or {})
    cards[str(program.id)] = member.id
    session[CARDS_KEY] = cards


def _forget(program: LoyaltyProgram) -> None:
    cards = dict(session.get(CARDS_KEY) or {})
    cards.pop(str(program.id), None)
    session[CARDS_KEY] = cards


def _page(template: str, program: LoyaltyProgram, status: int = 200, **context: Any):
    return (
        render_template(
            template,
            program=program,
            merchant=program.merchant,
            theme=theme_for(program),
            **context,
        ),
        status,
    )


# --- front door and branding ---------------------------------------------------------------


@blueprint.get("/")
def index() -> Response:
    return redirect(home_url())


@blueprint.get("/j/<slug>/theme.css")
def theme(slug: str) -> Response:
    response = Response(
        theme_css(theme_for(program_or_404(slug, paused_ok=True))), mimetype="text/css"
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/j/<slug>/qr.png")
def join_qr(slug: str) -> Response:
    """The join page's address as a QR code: what the counter poster prints."""
    program = program_or_404(slug)
    response = Response(qr_png(links.join_url(program), box_size=12), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/p/<slug>/terms")
def terms(slug: str):
    program = program_or_404(slug, paused_ok=True)
    return _page("public/terms.html", program, text=(program.settings or {}).get("terms_text"))


# --- joining -------------------------------------------------------------------------------


def _form_clock() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FORM_SALT)


def _fresh_join_form(form: JoinForm) -> JoinForm:
    form.started.data = _form_clock().dumps("join")
    form.key.data = uuid.uuid4().hex
    return form


def _looks_like_a_bot(form: JoinForm) -> str | None:
    """Why this submission is refused as automated, or None. Humans see the message too."""
    if form.website.data:
        return "Your sign-up could not be accepted. Please try again."
    try:
        _, signed_at = _form_clock().loads(
            form.started.data or "", max_age=FORM_MAX_AGE, return_timestamp=True
        )
    except SignatureExpired:
        return "This form was open for a long time. Check your details and send it again."
    except BadSignature:
        return "Your sign-up could not be accepted. Reload the page and try again."
    if (utcnow() - signed_at) < timedelta(seconds=_min_seconds()):
        return "That was quicker than a person can type. Check your details and send it again."
    return None


def _render_join(program: LoyaltyProgram, form: JoinForm, status: int = 200, error: str = ""):
    _fresh_join_form(form)
    inviter = None
    if form.ref.data and referrals.enabled(program):
        inviter = referrals.find_referrer(db.session, program, form.ref.data)
    return _page(
        "public/join.html",
        program,
        status,
        form=form,
        error=error,
        invited=inviter is not None,
        telegram_link=links.telegram_join_link(program),
    )


@blueprint.get("/j/<slug>")
def join(slug: str):
    program = program_or_404(slug)
    form = JoinForm()
    form.ref.data = request.args.get("ref", "")[:32]
    return _render_join(program, form)


@blueprint.post("/j/<slug>")
@limiter.limit(_public_limit, exempt_when=_limits_switched_off)
def join_submit(slug: str):
    program = program_or_404(slug)
    form = JoinForm()
    if not form.validate_on_submit():
        return _render_join(program, form, 400, "Check the highlighted fields.")
    bot = _looks_like_a_bot(form)
    if bot:
        return _render_join(program, form, 400, bot)
    if not (form.email.data or form.phone.data):
        form.email.errors.append("Give an e-mail address or a mobile phone number.")
        return _render_join(program, form, 400, "Check the highlighted fields.")
    try:
        member = enroll(
            db.session,
            program=program,
            idempotency_key=f"web:{form.key.data}"[:100],
            terms_accepted=bool(form.terms.data),
            name=form.name.data or "",
            email=form.email.data or None,
            phone=form.phone.data or None,
            birthday=form.birthday.data,
            language=form.language.data or "en",
            consents={name: bool(getattr(form, name).data) for name in MARKETING_CONSENTS},
            source="web",
            referral_code=form.ref.data or None,
        )
    except DuplicateCustomer as duplicate:
        db.session.rollback()
        return _already_a_member(program, form, duplicate)
    except InvalidInput as error:
        db.session.rollback()
        field = getattr(form, error.field or "", None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, error.message]
        return _render_join(program, form, 400, error.message)
    member_access.complete_welcome(
        db.session,
        member=member,
        secret_key=current_app.config["SECRET_KEY"],
        link_url=links.sign_in_link_url,
        links={
            **links.wallet_links(member, external=True),
            "telegram": links.telegram_join_link(program),
        },
    )
    db.session.commit()
    joined = dict(session.get(JOINED_KEY) or {})
    joined[str(program.id)] = member.id
    session[JOINED_KEY] = joined
    return redirect(url_for("public.welcome", slug=program.slug), code=303)


def _already_a_member(program: LoyaltyProgram, form: JoinForm, duplicate: DuplicateCustomer):
    """No second card: a sign-in link goes to the address that is already registered."""
    contact = form.email.data if duplicate.field == "email" else form.phone.data
    member_access.send_sign_in_link(
        db.session,
        program=program,
        contact=contact or "",
        secret_key=current_app.config["SECRET_KEY"],
        link_url=links.sign_in_link_url,
    )
    db.session.commit()
    what = "e-mail address" if duplicate.field == "email" else "phone number"
    how = "by e-mail" if duplicate.field == "email" else "by SMS"
    return _page(
        "public/check_inbox.html",
        program,
        title="You are already a member",
        message=(
            f"This {what} already has a {program.name} card, so no second card was made. "
            f"We have sent a link to your card {how}: open it to see your points."
        ),
    )


@blueprint.get("/j/<slug>/welcome")
def welcome(slug: str):
    program = program_or_404(slug)
    member_id = (session.get(JOINED_KEY) or {}).get(str(program.id))
    member = (
        db.session.scalars(
            select(LoyaltyMember).where(
                LoyaltyMember.id == member_id, LoyaltyMember.program_id == program.id
            )
        ).one_or_none()
        if isinstance(member_id, int)
        else None
    )
    if member is None or member.status == MemberStatus.CLOSED:
        return redirect(url_for("public.join", slug=program.slug))
    return _page(
        "public/welcome.html",
        program,
        member=member,
        wallet=links.wallet_links(member),
        telegram_link=links.telegram_join_link(program),
    )


# --- signing in with a link -----------------------------------------------------------------


def _sign_in_page(
    program: LoyaltyProgram,
    form: ContactForm | None = None,
    status: int = 200,
    refusal: str = "",
    sent: bool = False,
):
    return _page(
        "public/sign_in.html",
        program,
        status,
        form=form or ContactForm(),
        refusal=refusal,
        sent=sent,
    )


@blueprint.post("/p/<slug>/link")
@limiter.limit(_public_limit, exempt_when=_limits_switched_off)
def request_link(slug: str):
    program = program_or_404(slug)
    form = ContactForm()
    if not form.validate_on_submit():
        return _sign_in_page(program, form, 400)
    try:
        member_access.send_sign_in_link(
            db.session,
            program=program,
            contact=form.contact.data or "",
            secret_key=current_app.config["SECRET_KEY"],
            link_url=links.sign_in_link_url,
        )
    except InvalidInput as error:
        db.session.rollback()
        form.contact.errors = [*form.contact.errors, error.message]
        return _sign_in_page(program, form, 400)
    db.session.commit()
    # The same answer for members and strangers: this page must not tell who has a card.
    return _sign_in_page(program, ContactForm(formdata=None), sent=True)


@blueprint.get("/p/<slug>/in/<token>")
def open_link(slug: str, token: str):
    """Check the link and offer one button: mail scanners that follow links do not use it up."""
    program = program_or_404(slug)
    try:
        member_access.check_link(
            db.session, program=program, token=token, secret_key=current_app.config["SECRET_KEY"]
        )
    except InvalidToken as error:
        return _sign_in_page(program, status=410 if _gone(error) else 404, refusal=error.message)
    return _page("public/open_link.html", program, form=PlainForm(), token=token)


def _gone(error: InvalidToken) -> bool:
    return error.details.get("reason") in {"used", "expired", "closed"}


@blueprint.post("/p/<slug>/in/<token>")
def use_link(slug: str, token: str):
    program = program_or_404(slug)
    form = PlainForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        member = member_access.open_link(
            db.session, program=program, token=token, secret_key=current_app.config["SECRET_KEY"]
        )
    except InvalidToken as error:
        db.session.rollback()
        return _sign_in_page(program, status=410 if _gone(error) else 404, refusal=error.message)
    db.session.commit()
    _remember(program, member)
    return redirect(url_for("public.card", slug=program.slug), code=303)


@blueprint.post("/p/<slug>/sign-out")
def sign_out(slug: str):
    program = program_or_404(slug, paused_ok=True)
    if PlainForm().validate_on_submit():
        _forget(program)
        flash("You are signed out of your card on this device.", "info")
    return redirect(url_for("public.card", slug=program.slug), code=303)


# --- the member page ---------------------------------------------------------------------


def _member_or_sign_in(program: LoyaltyProgram) -> LoyaltyMember:
    member = signed_in_member(program)
    if member is None:
        abort(_redirect_to_sign_in(program))
    return member


def _redirect_to_sign_in(program: LoyaltyProgram) -> Response:
    flash("Your session ended. Ask for a new link to your card.", "info")
    return redirect(url_for("public.card", slug=program.slug), code=303)


@blueprint.get("/p/<slug>")
def card(slug: str):
    program = program_or_404(slug)
    member = signed_in_member(program)
    if member is None:
        return _sign_in_page(program)
    customer = member.customer
    consents = customer.consents or {}
    preferences = PreferencesForm(
        formdata=None,
        data={name: bool((consents.get(name) or {}).get("granted")) for name in MARKETING_CONSENTS},
    )
    channels = db.session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.member_id == member.id)
        .order_by(ChannelIdentity.kind, ChannelIdentity.id)
    ).all()
    invite_link = None
    if referrals.enabled(program):
        had_code = member.referral_code is not None
        code = referrals.code_for(db.session, member)
        if not had_code:
            db.session.commit()
        invite_link = url_for("public.join", slug=program.slug, ref=code, _external=True)
    return _page(
        "public/card.html",
        program,
        invite_link=invite_link,
        member=member,
        customer=customer,
        progress=member_access.tier_progress(db.session, member=member),
        expiring=member_access.expiring_points(db.session, member=member),
        next_expiry=member_access.next_expiry(db.session, member=member),
        membership=membership.state(member),
        euros=membership.euros,
        pending=pending.pending_by_date(db.session, member_id=member.id),
        history=member_access.history(db.session, member=member),
        ladder=ladder.ladder_for(db.session, member=member),
        redeem_key=uuid.uuid4().hex,
        vouchers=open_vouchers(db.session, member=member),
        wallet=links.wallet_links(member),
        telegram_link=links.telegram_join_link(program),
        channels=channels,
        preferences=preferences,
        plain=PlainForm(),
        format_code=format_code,
    )


@blueprint.post("/p/<slug>/redeem")
@limiter.limit(_public_limit, exempt_when=_limits_switched_off)
def redeem_reward(slug: str):
    program = program_or_404(slug)
    member = _member_or_sign_in(program)
    form = RedeemForm()
    if not form.validate_on_submit():
        flash("Choose a reward from the list.", "danger")
        return redirect(url_for("public.card", slug=program.slug), code=303)
    reward = db.session.scalars(
        select(Reward).where(Reward.id == form.reward_id.data, Reward.program_id == program.id)
    ).one_or_none()
    if reward is None:
        flash("That reward is not in this programme.", "danger")
        return redirect(url_for("public.card", slug=program.slug), code=303)
    try:
        voucher = redeem(
            db.session,
            member=member,
            reward=reward,
            idempotency_key=f"web-redeem:{member.id}:{form.key.data}"[:100],
            actor=CUSTOMER,
        )
    except LoyaltyError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("public.card", slug=program.slug), code=303)
    db.session.commit()
    flash(f"Done: show voucher {format_code(voucher.code)} at the till.", "success")
    return redirect(url_for("public.voucher", slug=program.slug, code=voucher.code), code=303)


def _members_voucher(program: LoyaltyProgram, member: LoyaltyMember, code: str) -> Voucher:
    try:
        code = normalize_code(code)
    except InvalidInput:
        abort(404)
    voucher = db.session.scalars(
        select(Voucher).where(
            Voucher.merchant_id == program.merchant_id,
            Voucher.member_id == member.id,
            Voucher.code == code,
        )
    ).one_or_none()
    if voucher is None:
        abort(404, "No such voucher on your card.")
    return voucher


@blueprint.get("/p/<slug>/vouchers/<code>")
def voucher(slug: str, code: str):
    program = program_or_404(slug)
    member = _member_or_sign_in(program)
    found = _members_voucher(program, member, code)
    return _page(
        "public/voucher.html", program, member=member, voucher=found, shown=format_code(found.code)
    )


@blueprint.get("/p/<slug>/vouchers/<code>/qr.png")
def voucher_qr(slug: str, code: str) -> Response:
    program = program_or_404(slug)
    member = _member_or_sign_in(program)
    found = _members_voucher(program, member, code)
    response = Response(qr_png(format_code(found.code)), mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.post("/p/<slug>/new-qr-code")
@limiter.limit(_public_limit, exempt_when=_limits_switched_off)
def new_qr_code(slug: str):
    """The member's own "my card was copied": a new code; the old one stops working at the till."""
    program = program_or_404(slug)
    member = _member_or_sign_in(program)
    if PlainForm().validate_on_submit():
        lookup.rotate_qr_token(db.session, member=member, actor=CUSTOMER)
        db.session.commit()
        flash("Your card has a new QR code. The old one no longer works.", "success")
    return redirect(url_for("public.card", slug=program.slug, _anchor="card-title"), code=303)


@blueprint.post("/p/<slug>/preferences")
def preferences(slug: str):
    program = program_or_404(slug)
    member = _member_or_sign_in(program)
    form = PreferencesForm()
    if form.validate_on_submit():
        gdpr.update_marketing_consents(
            db.session,
            member=member,
            granted={name: bool(getattr(form, name).data) for name in MARKETING_CONSENTS},
        )
        db.session.commit()
        flash("Your choices are saved.", "success")
    return redirect(url_for("public.card", slug=program.slug, _anchor="preferences"), code=303)


@blueprint.get("/p/<slug>/my-data.json")
def export(slug: str) -> Response:
    program = program_or_404(slug, paused_ok=True)
    member = _member_or_sign_in(program)
    data = gdpr.export_member(db.session, member=member)
    response = Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json")
    filename = f"{program.slug}-my-data.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blueprint.route("/p/<slug>/delete", methods=["GET", "POST"])
def delete(slug: str):
    program = program_or_404(slug, paused_ok=True)
    member = _member_or_sign_in(program)
    form = DeleteForm()
    if request.method == "POST" and form.validate_on_submit():
        if (form.confirm.data or "").upper() != "DELETE":
            form.confirm.errors = ["Type DELETE, in capitals, to confirm."]
        else:
            gdpr.erase_member(db.session, member=member, actor=CUSTOMER)
            db.session.commit()
            _forget(program)
            return _page("public/deleted.html", program)
    status = 400 if form.errors else 200
    return _page("public/delete.html", program, status, form=form, member=member)


@blueprint.get("/j/<slug>/telegram.png")
def telegram_qr(slug: str) -> Response:
    """The Telegram deep link as a QR code, for the poster."""
    program = program_or_404(slug)
    response = Response(qr_png(links.telegram_join_link(program), box_size=8), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
