"""Back-office members: the searchable list, the member page with its actions, and CSV exports.

Actions post a form and come back to the member page with a flash: the service's message when
it refuses (nothing is written then), what changed when it agrees.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import select

from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.models import ChannelIdentity, LoyaltyMember, Role, Voucher, WalletPass
from loyalty.services import (
    audit,
    corrections,
    exports,
    gdpr,
    ladder,
    lookup,
    member_access,
    member_search,
    member_status,
    membership,
    vouchers,
)
from loyalty.services.enroll import MARKETING_CONSENTS
from web.backoffice.views import blueprint
from web.extensions import db
from web.public import links
from web.staff.forms import new_key
from web.staff.panels import member_panel
from web.tenancy import current_actor, current_merchant, page_number, tenant_get_or_404

VOUCHERS_SHOWN = 20
_POINTS = re.compile(r"[+-]?\d{1,7}")
CONSENT_LABELS = {
    "marketing_email": "Marketing by e-mail",
    "marketing_sms": "Marketing by SMS",
    "marketing_telegram": "Marketing on Telegram",
}


# --- the list ---------------------------------------------------------------------------------


def _filters() -> tuple[member_search.MemberFilters, str | None]:
    """The list's filters from the query string; a bad one is dropped and explained."""
    try:
        return member_search.parse(request.args), None
    except InvalidInput as error:
        return member_search.MemberFilters(q=(request.args.get("q") or "").strip()), error.message


@blueprint.get("/members")
def members() -> str:
    merchant = current_merchant()
    filters, error = _filters()
    page = member_search.find_members(
        db.session, merchant=merchant, filters=filters, page=page_number()
    )
    return render_template(
        "backoffice/members.html",
        page=page,
        filters=filters,
        filter_error=error,
        choices=member_search.filter_choices(db.session, merchant=merchant),
        last_visit=member_search.LAST_VISIT,
    )


def _csv(chunks: Any, filename: str) -> Response:
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _export(what: str, rows: Any, filters: member_search.MemberFilters) -> Response:
    merchant = current_merchant()
    audit.record(
        db.session,
        merchant_id=merchant.id,
        actor=current_actor(),
        action=f"{what}.exported",
        filters=filters.as_args(),
    )
    db.session.commit()  # the audit row first: the stream below runs after this view returns
    filename = f"{merchant.slug}-{what}.csv"
    return _csv(exports.csv_chunks(rows(db.session, merchant=merchant, filters=filters)), filename)


@blueprint.get("/members/export.csv")
def export_members() -> Response:
    filters, _error = _filters()
    return _export("members", exports.member_rows, filters)


@blueprint.get("/transactions/export.csv")
def export_transactions() -> Response:
    filters, _error = _filters()
    return _export("transactions", exports.transaction_rows, filters)


# --- one member -------------------------------------------------------------------------------


@blueprint.get("/members/<int:member_id>")
def member(member_id: int) -> str:
    panel = member_panel(member_id, ledger_page=page_number())
    member = panel.member
    session = db.session
    channels = session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.member_id == member.id)
        .order_by(ChannelIdentity.id)
    ).all()
    passes = session.scalars(
        select(WalletPass).where(WalletPass.member_id == member.id).order_by(WalletPass.id)
    ).all()
    recent_vouchers = session.scalars(
        select(Voucher)
        .where(Voucher.member_id == member.id)
        .order_by(Voucher.created_at.desc(), Voucher.id.desc())
        .limit(VOUCHERS_SHOWN)
    ).all()
    consents = member.customer.consents or {}
    return render_template(
        "backoffice/member.html",
        panel=panel,
        customer=member.customer,
        channels=channels,
        passes=passes,
        vouchers=recent_vouchers,
        ladder=ladder.ladder_for(session, member=member),
        consents=[(CONSENT_LABELS[n], consents.get(n) or {}) for n in MARKETING_CONSENTS],
        new_key=new_key,
        can_adjust=current_actor().has_role(Role.MANAGER),
        qr=lookup.qr_age(member),
        membership=membership.state(member),
        euros=membership.euros,
        next_expiry=member_access.next_expiry(session, member=member),
    )


def _back(member: LoyaltyMember, anchor: str = "") -> Response:
    return redirect(url_for("backoffice.member", member_id=member.id) + anchor, 303)


def _refused(member: LoyaltyMember, error: LoyaltyError, anchor: str = "") -> Response:
    db.session.rollback()
    flash(error.message, "error")
    return _back(member, anchor)


def parse_points(raw: str | None) -> int:
    text = (raw or "").strip().replace(" ", "")
    if not _POINTS.fullmatch(text):
        raise InvalidInput(
            "Enter a whole number of points: 50 to add, -20 to take away.", field="points"
        )
    return int(text)


@blueprint.post("/members/<int:member_id>/adjust")
def adjust(member_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    try:
        points = parse_points(request.form.get("points"))
        transaction = corrections.adjust(
            db.session,
            member=member,
            points=points,
            reason=request.form.get("reason", ""),
            idempotency_key=f"bo-adjust:{request.form.get('idempotency_key', '')}"[:100],
            actor=current_actor(),
        )
    except LoyaltyError as error:
        return _refused(member, error, "#adjust")
    db.session.commit()
    flash(
        f"{transaction.points:+,} points. New balance: {transaction.balance_after:,} points.",
        "success",
    )
    return _back(member)


def _membership_done(member: LoyaltyMember, renewal: membership.Renewal, what: str) -> Response:
    db.session.commit()
    flash(f"{what}: valid until {membership.day_text(renewal.valid_until)}.", "success")
    return _back(member, "#membership")


@blueprint.post("/members/<int:member_id>/membership/renew")
def renew_membership(member_id: int) -> Response:
    """A period paid at the desk: the same renewal as at the till, by a manager or owner."""
    member = tenant_get_or_404(LoyaltyMember, member_id)
    try:
        current_actor().require_role(Role.MANAGER, "renew a membership from the back-office")
        renewal = membership.renew(
            db.session,
            member=member,
            actor=current_actor(),
            idempotency_key=f"bo-renew:{request.form.get('idempotency_key', '')}"[:100],
        )
    except LoyaltyError as error:
        return _refused(member, error, "#membership")
    return _membership_done(
        member, renewal, f"Membership paid ({membership.euros(renewal.amount_cents)})"
    )


@blueprint.post("/members/<int:member_id>/membership/extend")
def extend_membership(member_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    raw = (request.form.get("months") or "").strip()
    try:
        if not raw.isdigit() or len(raw) > 3:
            raise InvalidInput("Enter a whole number of months, like 1 or 12.", field="months")
        renewal = membership.extend(
            db.session,
            member=member,
            actor=current_actor(),
            idempotency_key=f"bo-extend:{request.form.get('idempotency_key', '')}"[:100],
            months=int(raw),
            reason=request.form.get("reason", ""),
        )
    except LoyaltyError as error:
        return _refused(member, error, "#membership")
    return _membership_done(member, renewal, "Membership extended free of charge")


@blueprint.post("/members/<int:member_id>/new-qr-code")
def new_qr_code(member_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    lookup.rotate_qr_token(db.session, member=member, actor=current_actor())
    db.session.commit()
    flash(
        "New QR code made. The old one is refused at the till from now on; "
        "wallet passes get the new code with their next update.",
        "success",
    )
    return _back(member, "#qr-code")


@blueprint.post("/members/<int:member_id>/vouchers/<int:voucher_id>/return")
def return_reward(member_id: int, voucher_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    voucher = tenant_get_or_404(Voucher, voucher_id)
    if voucher.member_id != member.id:
        abort(404)
    try:
        vouchers.return_reward(
            db.session,
            voucher=voucher,
            reason=request.form.get("reason", ""),
            idempotency_key=f"bo-return:{request.form.get('idempotency_key', '')}"[:100],
            actor=current_actor(),
        )
    except LoyaltyError as error:
        return _refused(member, error, "#vouchers-title")
    db.session.commit()
    flash(
        f"Reward taken back: {voucher.points_spent:,} points re-credited and one back in stock. "
        f"New balance: {member.points_balance:,} points.",
        "success",
    )
    return _back(member, "#vouchers-title")


@blueprint.post("/members/<int:member_id>/resend-welcome")
def resend_welcome(member_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    try:
        message = member_access.resend_welcome(db.session, member=member, actor=current_actor())
        member_access.complete_welcome(
            db.session,
            member=member,
            secret_key=current_app.config["SECRET_KEY"],
            link_url=links.sign_in_link_url,
            links={
                **links.wallet_links(member, external=True),
                "telegram": links.telegram_join_link(member.program),
            },
            dedupe_key=message.dedupe_key,
        )
    except LoyaltyError as error:
        return _refused(member, error)
    db.session.commit()
    flash(f"Welcome message queued to {message.address}.", "success")
    return _back(member)


@blueprint.post("/members/<int:member_id>/block")
def block(member_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    try:
        member_status.block(
            db.session, member=member, actor=current_actor(), reason=request.form.get("reason", "")
        )
    except LoyaltyError as error:
        return _refused(member, error)
    db.session.commit()
    flash("Card blocked: it cannot earn or redeem until you unblock it.", "success")
    return _back(member)


@blueprint.post("/members/<int:member_id>/unblock")
def unblock(member_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    try:
        member_status.unblock(db.session, member=member, actor=current_actor())
    except LoyaltyError as error:
        return _refused(member, error)
    db.session.commit()
    flash("Card unblocked.", "success")
    return _back(member)


@blueprint.get("/members/<int:member_id>/export.json")
def export_member(member_id: int) -> Response:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    data = gdpr.export_member(db.session, member=member)
    audit.record(
        db.session,
        merchant_id=member.merchant_id,
        actor=current_actor(),
        action="member.data_exported",
        target_type="member",
        target_id=member.id,
    )
    db.session.commit()
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="member-{member.card_number}.json"'},
    )


@blueprint.route("/members/<int:member_id>/erase", methods=["GET", "POST"])
def erase(member_id: int) -> Response | str:
    """Ask first (what goes, what stays), then anonymise on the confirmed post."""
    panel = member_panel(member_id, ledger_page=None)
    member = panel.member
    if request.method == "POST":
        if request.form.get("confirm") != "erase":
            flash("Tick the box to confirm the erasure; nothing was changed.", "error")
            return redirect(url_for("backoffice.erase", member_id=member.id), 303)
        gdpr.erase_member(db.session, member=member, actor=current_actor())
        db.session.commit()
        flash(
            "Personal data erased. The card is closed; its points history stays, anonymised.",
            "success",
        )
        return _back(member)
    return render_template("backoffice/erase.html", panel=panel)
