"""Staff pages under /staff: the till, open to every role of the current business.

Every form works without JavaScript (post, redirect, flash). The page's script sends the same
forms with `Accept: application/json` and gets JSON back: a redirect target on success, a
problem+json body with the cashier-readable message on refusal. Each change carries the
idempotency key rendered into its form, so a double tap or a retry changes nothing twice.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from loyalty import offerings
from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.identity import format_card_number
from loyalty.models import (
    LoyaltyMember,
    LoyaltyTransaction,
    Promotion,
    PromotionRedemption,
    Reward,
    Role,
    Shop,
    TransactionType,
    Voucher,
)
from loyalty.offerings import Feature
from loyalty.services import (
    debt,
    lookup,
    membership,
    receipts,
    rewards,
    shops,
    stamps,
    undo,
    vouchers,
)
from loyalty.services import earn as earning
from loyalty.services.vouchers import format_code
from web import errors as web_errors
from web.extensions import db
from web.staff.forms import (
    decode_qr_photo,
    new_key,
    operation_key,
    parse_basket,
    parse_euros,
    parse_items,
)
from web.staff.panels import ledger_lines, ledger_select, member_panel, till_panel
from web.tenancy import (
    current_actor,
    current_merchant,
    current_shop,
    current_shop_id,
    enforce_role,
    tenant_get_or_404,
    tenant_select,
)

blueprint = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates")

RECENT_ROWS = 10
SHOP_SESSION_KEY = "till_shop_id"


@blueprint.before_request
def members_of_the_business_only() -> object:
    refusal = enforce_role(Role.STAFF)
    if refusal is None:
        bound = current_shop()
        if bound is not None:
            shops.require_open(bound)  # refused() answers: page, flash or problem+json
    return refusal


@blueprint.context_processor
def till_helpers() -> dict[str, Any]:
    return {"new_key": new_key, "format_code": format_code}


# --- answers: JSON for the page's script, redirects and flashes for plain forms ------------


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def done(url: str, message: str | None = None, **data: Any) -> Response:
    if wants_json():
        return jsonify(ok=True, redirect=url, message=message, **data)
    if message:
        flash(message, "success")
    return redirect(url, 303)


@blueprint.errorhandler(LoyaltyError)
def refused(error: LoyaltyError) -> Response:
    """The service said no and nothing was written; tell the cashier why, where they are."""
    db.session.rollback()
    status = web_errors.status_for(error)
    if wants_json():
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": web_errors.MESSAGES.get(status, ("Refused", ""))[0],
            "status": status,
            "detail": error.message,
            "code": error.code,
        }
        if getattr(error, "field", None):
            body["field"] = error.field  # type: ignore[attr-defined]
        response = jsonify(body)
        response.mimetype = web_errors.PROBLEM_JSON
        response.status_code = status
        return response
    back = g.get("till_back")
    if back and request.method == "POST":
        flash(error.message, "error")
        return redirect(back, 303)
    return web_errors.handle_domain_error(error)


# --- which shop the till is in -------------------------------------------------------------


def active_shops() -> list[Shop]:
    return list(db.session.scalars(tenant_select(Shop).where(Shop.active).order_by(Shop.name)))


def till_shop() -> Shop | None:
    """Shop staff: their shop. Owners and managers: the shop chosen on this till, if any."""
    bound = current_shop()
    if bound is not None:
        return bound
    chosen = session.get(SHOP_SESSION_KEY)
    if isinstance(chosen, int):
        shop = db.session.scalars(
            tenant_select(Shop).where(Shop.id == chosen, Shop.active)
        ).one_or_none()
        if shop is not None:
            return shop
        session.pop(SHOP_SESSION_KEY, None)  # another business's shop, or closed since
    shops = active_shops()
    return shops[0] if len(shops) == 1 else None


def shop_for_change() -> Shop | None:
    """The shop recorded on a change; a business with shops must say which one."""
    shop = till_shop()
    if shop is None and active_shops():
        raise InvalidInput(
            "Choose the shop you are working in first (at the top of the till page).",
            field="shop",
        )
    return shop


def actor():
    acting = current_actor()
    assert acting is not None  # enforce_role let the request through
    return acting


@blueprint.post("/shop")
def choose_shop() -> Response:
    g.till_back = url_for("staff.home")
    if current_shop_id() is not None:
        raise InvalidInput(f"You work at {current_shop().name}: the till stays there.")
    raw = request.form.get("shop", "")
    shop = None
    if raw.isdigit():
        shop = db.session.scalars(
            tenant_select(Shop).where(Shop.id == int(raw), Shop.active)
        ).one_or_none()
    if shop is None:
        raise InvalidInput("Choose one of the business's shops.", field="shop")
    session[SHOP_SESSION_KEY] = shop.id
    return done(url_for("staff.home"), f"This till now works for {shop.name}.")


# --- finding the member --------------------------------------------------------------------


@blueprint.get("/")
def home() -> str:
    shop = till_shop()
    statement = ledger_select()
    shop_id = current_shop_id()
    if shop_id is not None:  # shop staff see their own shop's work
        statement = statement.where(LoyaltyTransaction.shop_id == shop_id)
    recent = ledger_lines(statement.limit(RECENT_ROWS))
    return render_template(
        "staff/home.html",
        shop=shop,
        bound_shop=current_shop(),
        shops=active_shops() if shop_id is None else [],
        recent=recent,
        query=request.args.get("q", ""),
    )


def _secret_key() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def _found(member: LoyaltyMember) -> Response:
    return done(url_for("staff.member", member_id=member.id), member_id=member.id)


@blueprint.post("/identify")
def identify() -> Response:
    g.till_back = url_for("staff.home")
    member = lookup.identify(
        db.session,
        merchant=current_merchant(),
        query=request.form.get("query", ""),
        secret_key=_secret_key(),
    )
    return _found(member)


@blueprint.post("/identify/photo")
def identify_photo() -> Response:
    g.till_back = url_for("staff.home")
    text = decode_qr_photo(request.files.get("photo"))
    member = lookup.identify(
        db.session, merchant=current_merchant(), query=text, secret_key=_secret_key()
    )
    return _found(member)


@blueprint.get("/search")
def search() -> Response:
    found = lookup.search(db.session, merchant=current_merchant(), text=request.args.get("q", ""))
    return jsonify(
        results=[
            {
                "id": member.id,
                "name": member.customer.name or "(no name)",
                "card_number": format_card_number(member.card_number),
                "url": url_for("staff.member", member_id=member.id),
            }
            for member in found
        ]
    )


# --- the member at the till ----------------------------------------------------------------


@blueprint.get("/members/<int:member_id>", endpoint="member")
def member_page(member_id: int) -> str:
    panel = member_panel(member_id)
    shop = till_shop()
    merchant = current_merchant()
    last = undo.undoable(db.session, merchant=merchant, actor=actor(), shop=shop)
    return render_template(
        "staff/member.html",
        panel=panel,
        till=till_panel(panel.member, shop),
        shop=shop,
        needs_shop=shop is None and bool(active_shops()),
        undoable=last,
        qr=lookup.qr_age(panel.member),
        membership=membership.state(panel.member),
        euros=membership.euros,
    )


def _member_or_404(member_id: int) -> LoyaltyMember:
    member = tenant_get_or_404(LoyaltyMember, member_id)
    g.till_back = url_for("staff.member", member_id=member.id)
    return member


@blueprint.get("/members/<int:member_id>/preview")
def preview(member_id: int) -> Response:
    """The live points preview: the earn service's own arithmetic, nothing written."""
    member = tenant_get_or_404(LoyaltyMember, member_id)
    if not request.args.get("amount", "").strip():
        return jsonify(points=None, detail="Type the amount to see the points.")
    quote = earning.preview_earn(
        db.session,
        member=member,
        amount_cents=parse_euros(request.args.get("amount")),
        shop=till_shop(),
        basket=parse_basket(request.args),
        items=parse_items(request.args),
    )
    program = member.program
    card = stamps.card_of(member)
    if card is not None:
        return jsonify(
            stamps=quote.points,
            summary=stamps.after(card, quote.points),
            discount_cents=quote.offer.discount_cents,
            free_items=list(quote.offer.free_items),
        )
    return jsonify(
        points=quote.points,
        base_points=quote.base_points,
        rate=f"{program.points_per_euro.normalize():f}",
        tier=member.tier.name if member.tier else None,
        tier_multiplier=(
            f"{member.tier.earn_multiplier.normalize():f}"  # ×1.25, not ×1.250
            if member.tier and offerings.has(program.merchant, Feature.TIERS)
            else "1"
        ),
        promotions=[
            {"name": a.name, "points": quote.points_by_promotion.get(a.promotion_id, 0)}
            for a in quote.offer.applied
        ],
        discount_cents=quote.offer.discount_cents,
        free_items=list(quote.offer.free_items),
        balance_after=member.points_balance + quote.points,
    )


@blueprint.route("/members/<int:member_id>/earn", methods=["GET", "POST"])
def earn(member_id: int) -> Response | str:
    if request.method == "GET":
        return member_page(member_id)  # a reload of the address a form posted to: show the form
    member = _member_or_404(member_id)
    shop = shop_for_change()
    result = earning.earn(
        db.session,
        member=member,
        amount_cents=parse_euros(request.form.get("amount")),
        idempotency_key=operation_key(request.form, "earn"),
        actor=actor(),
        shop=shop,
        basket=parse_basket(request.form),
        items=parse_items(request.form),
        description="At the till",
    )
    transaction = db.session.get(LoyaltyTransaction, result.transaction_id)
    receipts.notify_points_changed(db.session, member=member, transaction=transaction, shop=shop)
    db.session.commit()
    return done(
        url_for("staff.receipt", transaction_id=result.transaction_id),
        result.card_held,
        points=result.points,
        balance=result.balance,
        replayed=result.replayed,
        card_vouchers=[format_code(code) for code in result.card_vouchers],
    )


@blueprint.route("/members/<int:member_id>/renew", methods=["GET", "POST"])
def renew(member_id: int) -> Response | str:
    """The membership fee, paid at the till: one more period, recorded without points."""
    if request.method == "GET":
        return member_page(member_id)
    member = _member_or_404(member_id)
    renewal = membership.renew(
        db.session,
        member=member,
        actor=actor(),
        idempotency_key=operation_key(request.form, "renew"),
        shop=shop_for_change(),
    )
    db.session.commit()
    return done(
        url_for("staff.member", member_id=member.id),
        f"Membership paid ({membership.euros(renewal.amount_cents)}): "
        f"valid until {membership.day_text(renewal.valid_until)}.",
        valid_until=renewal.valid_until.isoformat(),
        replayed=renewal.replayed,
    )


@blueprint.route("/members/<int:member_id>/redeem", methods=["GET", "POST"])
def redeem(member_id: int) -> Response | str:
    """A reward from the catalogue, handed over now: the voucher is issued and used at once."""
    if request.method == "GET":
        return member_page(member_id)
    member = _member_or_404(member_id)
    raw = request.form.get("reward", "")
    reward = None
    if raw.isdigit() and len(raw) < 10:
        reward = db.session.scalars(
            tenant_select(Reward).where(Reward.id == int(raw))
        ).one_or_none()
    if reward is None:
        raise InvalidInput("Choose a reward from the list.", field="reward")
    shop = shop_for_change()
    key = operation_key(request.form, "redeem")
    voucher = rewards.redeem(
        db.session, member=member, reward=reward, idempotency_key=key, actor=actor(), shop=shop
    )
    vouchers.use_voucher(
        db.session,
        merchant=current_merchant(),
        code=voucher.code,
        idempotency_key=key,
        actor=actor(),
        shop=shop,
    )
    transaction = db.session.get(LoyaltyTransaction, voucher.transaction_id)
    receipts.notify_points_changed(db.session, member=member, transaction=transaction, shop=shop)
    db.session.commit()
    return done(
        url_for("staff.receipt", transaction_id=voucher.transaction_id),
        f"“{reward.name}” redeemed: hand it over.",
    )


# --- vouchers the customer shows -----------------------------------------------------------


@blueprint.get("/vouchers")
def voucher() -> tuple[str, int] | str:
    code = request.args.get("code", "")
    found, problem, status = None, None, 200
    if "code" in request.args:  # checked, even empty: the form answers every press of Check
        try:
            found = vouchers.find_voucher(db.session, merchant=current_merchant(), code=code)
        except LoyaltyError as error:
            problem, status = error.message, web_errors.status_for(error)
    return render_template(
        "staff/voucher.html",
        code=code,
        voucher=found,
        member=db.session.get(LoyaltyMember, found.member_id) if found else None,
        problem=problem,
        shop=till_shop(),
    ), status


@blueprint.post("/vouchers/use")
def use_voucher() -> Response:
    code = request.form.get("code", "")
    g.till_back = url_for("staff.voucher", code=code[:32])
    shop = shop_for_change()
    used = vouchers.use_voucher(
        db.session,
        merchant=current_merchant(),
        code=code,
        idempotency_key=operation_key(request.form, "voucher"),
        actor=actor(),
        shop=shop,
    )
    member = db.session.get(LoyaltyMember, used.member_id)
    receipts.notify_voucher_used(db.session, member=member, voucher=used, shop=shop)
    db.session.commit()
    what = used.reward.name if used.reward else "the offer"
    return done(
        url_for("staff.voucher", code=format_code(used.code)),
        f"Voucher {format_code(used.code)} accepted: give {what}.",
    )


# --- receipts and undo ---------------------------------------------------------------------


def _transaction_or_404(transaction_id: int) -> LoyaltyTransaction:
    transaction = tenant_get_or_404(LoyaltyTransaction, transaction_id)
    shop_id = current_shop_id()
    if shop_id is not None and transaction.shop_id != shop_id:
        abort(404)  # another shop's work: not this till's
    return transaction


@blueprint.get("/receipts/<int:transaction_id>", endpoint="receipt")
def receipt_page(transaction_id: int) -> str:
    transaction = _transaction_or_404(transaction_id)
    member = db.session.get(LoyaltyMember, transaction.member_id)
    applied = db.session.execute(
        select(Promotion.name, PromotionRedemption.points, PromotionRedemption.discount_cents)
        .join(PromotionRedemption, PromotionRedemption.promotion_id == Promotion.id)
        .where(PromotionRedemption.transaction_id == transaction.id)
        .order_by(Promotion.id)
    ).all()
    issued = db.session.scalars(
        select(Voucher).where(Voucher.transaction_id == transaction.id)
    ).one_or_none()
    undone = (
        db.session.get(LoyaltyTransaction, transaction.reverses_id)
        if transaction.reverses_id
        else None
    )
    shop = db.session.get(Shop, transaction.shop_id) if transaction.shop_id else None
    last = undo.undoable(db.session, merchant=current_merchant(), actor=actor(), shop=till_shop())
    card, card_vouchers = stamps.card_after(db.session, member, transaction)
    return render_template(
        "staff/receipt.html",
        card=card,
        card_vouchers=card_vouchers,
        transaction=transaction,
        member=member,
        name=member.customer.name or "(no name)",
        applied=applied,
        voucher=issued,
        undone=undone,
        shop=shop,
        can_undo=last is not None and last.id == transaction.id,
        recovery=debt.recovery_of(db.session, transaction),
        destination=receipts.preferred_destination(db.session, member),
        TransactionType=TransactionType,
    )


@blueprint.route("/receipts/<int:transaction_id>/send", methods=["GET", "POST"])
def send_receipt(transaction_id: int) -> Response | str:
    if request.method == "GET":
        return receipt_page(transaction_id)
    transaction = _transaction_or_404(transaction_id)
    g.till_back = url_for("staff.receipt", transaction_id=transaction.id)
    member = db.session.get(LoyaltyMember, transaction.member_id)
    shop = db.session.get(Shop, transaction.shop_id) if transaction.shop_id else None
    message = receipts.send_receipt(db.session, member=member, transaction=transaction, shop=shop)
    db.session.commit()
    return done(
        url_for("staff.receipt", transaction_id=transaction.id),
        f"Receipt queued for {message.channel.value} ({message.address}).",
    )


@blueprint.post("/undo")
def undo_last() -> Response:
    raw = request.form.get("transaction", "")
    g.till_back = request.referrer if _same_till(request.referrer) else url_for("staff.home")
    shop = shop_for_change()
    result = undo.undo_last(
        db.session,
        merchant=current_merchant(),
        actor=actor(),
        shop=shop,
        idempotency_key=operation_key(request.form, "undo"),
        transaction_id=int(raw) if raw.isdigit() and len(raw) < 10 else None,
    )
    member = db.session.get(LoyaltyMember, result.reversal.member_id)
    receipts.notify_points_changed(
        db.session, member=member, transaction=result.reversal, shop=shop
    )
    db.session.commit()
    return done(
        url_for("staff.receipt", transaction_id=result.reversal.id),
        "Undone. The points are back where they were.",
    )


def _same_till(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url + "staff/")
