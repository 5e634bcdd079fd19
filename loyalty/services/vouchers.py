"""Using a voucher at the till, voiding one, and what to tell the cashier when it cannot be used."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import (
    InvalidInput,
    NotFound,
    NothingToReverse,
    PermissionDenied,
    VoucherNotUsable,
)
from loyalty.models import (
    LoyaltyMember,
    Merchant,
    Role,
    Shop,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services import audit, events, ledger, rewards
from loyalty.services.actors import Actor


def normalize_code(raw: str) -> str:
    code = "".join((raw or "").split()).replace("-", "").upper()
    if not code or len(code) > 16 or not code.isalnum():
        raise InvalidInput("A voucher code has 8 letters and digits, like 7KX4-M9QP.", field="code")
    return code


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


def _local(when: datetime, timezone: str) -> str:
    return when.astimezone(ZoneInfo(timezone)).strftime("%d %b %Y %H:%M")


def find_voucher(session: Session, *, merchant: Merchant, code: str) -> Voucher:
    code = normalize_code(code)
    voucher = session.scalars(
        select(Voucher).where(Voucher.merchant_id == merchant.id, Voucher.code == code)
    ).one_or_none()
    if voucher is None:
        raise NotFound(f"No voucher {format_code(code)} at {merchant.name}. Check the code.")
    return voucher


def _why_not_usable(session: Session, voucher: Voucher, merchant: Merchant, now: datetime) -> str:
    shown = format_code(voucher.code)
    if voucher.status == VoucherStatus.USED and voucher.used_at is not None:
        shop = session.get(Shop, voucher.used_shop_id) if voucher.used_shop_id else None
        where = f" at {shop.name}" if shop else ""
        return f"Voucher {shown} was already used on {_local(voucher.used_at, merchant.timezone)}{where}."
    if voucher.status == VoucherStatus.VOID:
        return f"Voucher {shown} was cancelled and cannot be used."
    if voucher.status == VoucherStatus.EXPIRED or voucher.valid_until <= now:
        return f"Voucher {shown} expired on {_local(voucher.valid_until, merchant.timezone)}."
    return f"Voucher {shown} cannot be used."


def use_voucher(
    session: Session,
    *,
    merchant: Merchant,
    code: str,
    idempotency_key: str,
    actor: Actor,
    shop: Shop | None = None,
    now: datetime | None = None,
) -> Voucher:
    """One conditional UPDATE marks it used, so two tills can never both accept it."""
    key = ledger.check_key(idempotency_key)
    if shop is not None and shop.merchant_id != merchant.id:
        raise NotFound("That shop is not one of this business's shops.")
    if actor.shop_id is not None and shop is not None and shop.id != actor.shop_id:
        raise PermissionDenied("You can accept vouchers only at the shop you work in.")
    now = now or utcnow()
    voucher = find_voucher(session, merchant=merchant, code=code)
    used = session.execute(
        update(Voucher)
        .where(
            Voucher.id == voucher.id,
            Voucher.status == VoucherStatus.ISSUED,
            Voucher.valid_until > now,
        )
        .values(
            status=VoucherStatus.USED,
            used_at=now,
            used_shop_id=shop.id if shop else None,
            used_by=actor.user_id,
            used_key=key,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(voucher)
    if used.rowcount == 1:  # not for a replay of the same use
        events.emit(
            session,
            merchant_id=merchant.id,
            type="voucher.used",
            data=lambda: {
                "member": events.member_ref(session.get(LoyaltyMember, voucher.member_id)),
                "voucher": {
                    "id": voucher.id,
                    "code": voucher.code,
                    "reward_id": voucher.reward_id,
                    "used_at": events.iso(now),
                    "shop_id": voucher.used_shop_id,
                },
            },
        )
    if used.rowcount == 1 or (voucher.status == VoucherStatus.USED and voucher.used_key == key):
        return voucher
    raise VoucherNotUsable(_why_not_usable(session, voucher, merchant, now))


def void_voucher(
    session: Session,
    *,
    voucher: Voucher,
    reason: str,
    idempotency_key: str,
    actor: Actor,
    now: datetime | None = None,
) -> Voucher:
    """Cancel an unused voucher: its points come back (as a new ledger row) and so does its stock."""
    key = ledger.check_key(idempotency_key)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the voucher is cancelled.", field="reason")
    now = now or utcnow()
    member = ledger.lock_member(session, voucher.member_id)
    session.refresh(voucher)
    if voucher.status == VoucherStatus.VOID:
        return voucher  # voiding twice is the same as voiding once
    if voucher.status != VoucherStatus.ISSUED or voucher.valid_until <= now:
        # An expired voucher's points are gone, as the voucher is: cancelling must not revive them.
        merchant = member.program.merchant
        raise VoucherNotUsable(_why_not_usable(session, voucher, merchant, now))
    _give_back(
        session,
        member=member,
        voucher=voucher,
        reason=reason,
        description=f"Voucher {format_code(voucher.code)} cancelled: {reason}",
        key=key,
        actor=actor,
        now=now,
    )
    return voucher


def return_reward(
    session: Session,
    *,
    voucher: Voucher,
    reason: str,
    idempotency_key: str,
    actor: Actor,
    now: datetime | None = None,
) -> Voucher:
    """A reward already handed over comes back (the item is returned): its points are
    re-credited as a new ledger row, its stock goes back up, and the voucher is void, which
    frees a once-per-member or once-per-period limit. Managers only among staff; a returned
    reward is never returned twice."""
    key = ledger.check_key(idempotency_key)
    if actor.role is not None:  # merchant staff; the API's and the system's calls carry no role
        actor.require_role(Role.MANAGER, "take back a reward")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the reward is returned.", field="reason")
    now = now or utcnow()
    member = ledger.lock_member(session, voucher.member_id)
    session.refresh(voucher)
    shown = format_code(voucher.code)
    if voucher.status == VoucherStatus.VOID:
        replay = ledger.find_replay(session, program_id=member.program_id, idempotency_key=key)
        if replay is not None and replay.reverses_id == voucher.transaction_id:
            return voucher  # the same return, sent again
        raise NothingToReverse(f"Voucher {shown} was already cancelled or returned.")
    if voucher.reward_id is None:
        raise InvalidInput(f"Voucher {shown} is not for a reward: there is nothing to return.")
    if voucher.status != VoucherStatus.USED:
        raise NothingToReverse(
            f"Voucher {shown} was never used, so nothing was handed over: cancel it instead."
        )
    _give_back(
        session,
        member=member,
        voucher=voucher,
        reason=reason,
        description=f"Reward returned (voucher {shown}): {reason}",
        key=key,
        actor=actor,
        now=now,
    )
    audit.record(
        session,
        merchant_id=member.merchant_id,
        actor=actor,
        action="reward.returned",
        target_type="member",
        target_id=member.id,
        voucher=voucher.code,
        points=voucher.points_spent,
        reason=reason[:300],
    )
    return voucher


def _give_back(
    session: Session,
    *,
    member: LoyaltyMember,
    voucher: Voucher,
    reason: str,
    description: str,
    key: str,
    actor: Actor,
    now: datetime,
) -> None:
    """Void the voucher of the locked member and return its points (a fresh lot) and stock."""
    voucher.status = VoucherStatus.VOID
    voucher.voided_at = now
    voucher.void_reason = reason[:300]
    if voucher.points_spent:
        ledger.credit(
            session,
            member=member,
            type=TransactionType.REVERSE,
            points=voucher.points_spent,
            now=now,
            idempotency_key=key,
            actor=actor,
            expires_at=ledger.lot_expiry(member.program, now),
            description=description[:300],
            reference_type="voucher",
            reference_id=str(voucher.id),
            reverses_id=voucher.transaction_id,
        )
    if voucher.reward_id is not None:
        rewards.return_to_stock(session, voucher.reward_id)
    session.flush()


def open_vouchers(
    session: Session, *, member: LoyaltyMember, now: datetime | None = None
) -> list[Voucher]:
    now = now or utcnow()
    return list(
        session.scalars(
            select(Voucher)
            .where(
                Voucher.member_id == member.id,
                Voucher.status == VoucherStatus.ISSUED,
                Voucher.valid_until > now,
            )
            .order_by(Voucher.valid_until)
        )
    )


def unusable_reason(
    session: Session, *, voucher: Voucher, merchant: Merchant, now: datetime | None = None
) -> str | None:
    """None when the voucher can be accepted now; else why not, in the cashier's words."""
    now = now or utcnow()
    if voucher.status == VoucherStatus.ISSUED and voucher.valid_until > now:
        return None
    return _why_not_usable(session, voucher, merchant, now)
