"""Redeeming points for a reward, and checking, accepting and cancelling the voucher it gives."""

from __future__ import annotations

from flask import g

from loyalty.models import LoyaltyMember, Reward
from loyalty.services import rewards, vouchers
from web.api import blueprint, present, schemas
from web.api.members import api_actor, member_or_404
from web.api.operations import operation, service_key
from web.api.transactions import shop_or_404
from web.extensions import db
from web.tenancy import tenant_get_or_404


@operation(
    blueprint,
    "POST",
    "/redemptions",
    summary="Redeem points for a reward",
    tag="Rewards",
    body=schemas.RedemptionCreate,
    response=schemas.RedemptionResult,
    status=201,
)
def create_redemption(body: schemas.RedemptionCreate) -> schemas.RedemptionResult:
    """Spends the reward's points and issues a voucher with a short code to accept at the
    till. Refused (409) when the balance or the stock is too low, or when the member already
    redeemed it as often as its limit allows (`reward_limit_reached`, with
    `available_again_at`: null when never)."""
    member = member_or_404(body.member_id)
    reward = tenant_get_or_404(Reward, body.reward_id)
    voucher = rewards.redeem(
        db.session,
        member=member,
        reward=reward,
        idempotency_key=service_key(),
        actor=api_actor(),
        shop=shop_or_404(body.shop_id),
    )
    balance = db.session.get(LoyaltyMember, voucher.member_id).points_balance
    return schemas.RedemptionResult(
        voucher=present.voucher(voucher),
        transaction_id=voucher.transaction_id,
        balance=balance,
    )


def _voucher(code: str):
    return vouchers.find_voucher(db.session, merchant=g.api_key.merchant, code=code)


@operation(
    blueprint,
    "GET",
    "/vouchers/<code>",
    summary="Check a voucher",
    tag="Vouchers",
    response=schemas.Voucher,
)
def get_voucher(code: str) -> schemas.Voucher:
    """Whether the voucher can be accepted now and, if not, why (used, cancelled, expired)."""
    return present.voucher(_voucher(code))


@operation(
    blueprint,
    "POST",
    "/vouchers/<code>/use",
    summary="Accept a voucher",
    tag="Vouchers",
    body=schemas.VoucherUse,
    response=schemas.Voucher,
)
def use_voucher(code: str, body: schemas.VoucherUse) -> schemas.Voucher:
    """Marks the voucher used in one conditional update: two tills can never both accept it."""
    voucher = vouchers.use_voucher(
        db.session,
        merchant=g.api_key.merchant,
        code=code,
        idempotency_key=service_key(),
        actor=api_actor(),
        shop=shop_or_404(body.shop_id),
    )
    return present.voucher(voucher)


@operation(
    blueprint,
    "POST",
    "/vouchers/<code>/void",
    summary="Cancel a voucher",
    tag="Vouchers",
    body=schemas.VoucherVoid,
    response=schemas.VoucherVoidResult,
)
def void_voucher(code: str, body: schemas.VoucherVoid) -> schemas.VoucherVoidResult:
    """Cancels an unused voucher: its points come back to the member and the reward to stock."""
    voucher = vouchers.void_voucher(
        db.session,
        voucher=_voucher(code),
        reason=body.reason,
        idempotency_key=service_key(),
        actor=api_actor(),
    )
    balance = db.session.get(LoyaltyMember, voucher.member_id).points_balance
    return schemas.VoucherVoidResult(voucher=present.voucher(voucher), balance=balance)


@operation(
    blueprint,
    "POST",
    "/vouchers/<code>/return",
    summary="Take back a returned reward",
    tag="Vouchers",
    body=schemas.VoucherVoid,
    response=schemas.VoucherVoidResult,
)
def return_reward(code: str, body: schemas.VoucherVoid) -> schemas.VoucherVoidResult:
    """For a reward already handed over (a used voucher) that the customer brings back: its
    points are re-credited, the reward goes back to stock, and a once-per-member or per-period
    limit is freed. Refused (409 `nothing_to_reverse`) for an unused voucher (cancel it) or one
    already returned."""
    voucher = vouchers.return_reward(
        db.session,
        voucher=_voucher(code),
        reason=body.reason,
        idempotency_key=service_key(),
        actor=api_actor(),
    )
    balance = db.session.get(LoyaltyMember, voucher.member_id).points_balance
    return schemas.VoucherVoidResult(voucher=present.voucher(voucher), balance=balance)
