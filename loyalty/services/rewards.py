"""Redeeming a reward: points out, stock down, a voucher with a short unguessable code."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import (
    InsufficientPoints,
    NotFound,
    RewardLimitReached,
    RewardOutOfStock,
    RewardUnavailable,
)
from loyalty.models import (
    CUSTOM_REWARD_TYPES,
    LoyaltyMember,
    LoyaltyProgram,
    ProgramKind,
    Reward,
    Shop,
    TransactionType,
    Voucher,
)
from loyalty.offerings import Feature
from loyalty.services import events, ledger, reward_limits
from loyalty.services.actors import SYSTEM, Actor
from loyalty.services.calendar import zone_of

# No 0/O or 1/I: codes are read aloud and typed at the till.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8  # 32^8 ≈ 10^12 codes per merchant: not worth guessing


def new_voucher_code(session: Session, merchant_id: int) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        taken = session.scalar(
            select(Voucher.id).where(Voucher.merchant_id == merchant_id, Voucher.code == code)
        )
        if taken is None:
            return code


def take_one_from_stock(session: Session, reward: Reward) -> None:
    """One atomic UPDATE: of 100 concurrent redemptions of the last 10 items, exactly 10 win."""
    taken = session.execute(
        update(Reward)
        .where(Reward.id == reward.id, or_(Reward.stock.is_(None), Reward.stock > 0))
        .values(stock=Reward.stock - 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise RewardOutOfStock(f"“{reward.name}” is out of stock. Choose another reward.")
    session.expire(reward, ["stock"])


def return_to_stock(session: Session, reward_id: int) -> None:
    """One item back on the shelf (a cancelled or undone redemption); unlimited stays unlimited."""
    session.execute(
        update(Reward)
        .where(Reward.id == reward_id, Reward.stock.is_not(None))
        .values(stock=Reward.stock + 1)
        .execution_options(synchronize_session=False)
    )
    # As for taking stock: a Reward already loaded in this session must not keep the old figure.
    loaded = session.identity_map.get(session.identity_key(Reward, reward_id))
    if loaded is not None:
        session.expire(loaded, ["stock"])


def redeem(
    session: Session,
    *,
    member: LoyaltyMember,
    reward: Reward,
    idempotency_key: str,
    actor: Actor = SYSTEM,
    shop: Shop | None = None,
    now: datetime | None = None,
) -> Voucher:
    """Spend points on a reward. A replayed key returns the same voucher and spends nothing."""
    key = ledger.check_key(idempotency_key)
    if reward.merchant_id != member.merchant_id or (
        shop is not None and shop.merchant_id != member.merchant_id
    ):
        raise NotFound("That reward is not in this programme.")
    now = now or utcnow()
    member = ledger.lock_member(session, member.id)
    replay = ledger.find_replay(session, program_id=member.program_id, idempotency_key=key)
    if replay is not None:
        ledger.ensure_same_operation(
            replay, member_id=member.id, type=TransactionType.REDEEM, reference_id=str(reward.id)
        )
        return session.scalars(select(Voucher).where(Voucher.transaction_id == replay.id)).one()
    ledger.ensure_active(member)
    if member.program.kind == ProgramKind.STAMPS:
        raise RewardUnavailable(
            "This programme is a stamp card: its reward comes with a full card, "
            "not in exchange for stamps."
        )
    if not reward.active:
        raise RewardUnavailable(f"“{reward.name}” is no longer offered.")
    if reward.type in CUSTOM_REWARD_TYPES:
        offerings.require(member.program.merchant, Feature.CUSTOM_REWARDS)
    # Under the member's lock: a second redemption of the same card waits here and then sees
    # the first one's voucher.
    hit = reward_limits.limit_hits(session, member=member, rewards=[reward], now=now).get(reward.id)
    if hit is not None:
        raise RewardLimitReached(
            hit.message(zone_of(member.program.merchant), member.card_number),
            reward_id=reward.id,
            available_again_at=hit.again_at,
        )
    available = ledger.spendable(session, member, now)
    if available < reward.points_cost:
        # Checked before touching stock, with a message that names the reward.
        held = f" ({member.pending_points} more are pending)" if member.pending_points else ""
        raise InsufficientPoints(
            f"“{reward.name}” costs {reward.points_cost} points; the card has "
            f"{available}{held}. {reward.points_cost - available} more to go."
        )
    take_one_from_stock(session, reward)
    transaction = ledger.debit(
        session,
        member=member,
        type=TransactionType.REDEEM,
        points=reward.points_cost,
        now=now,
        idempotency_key=key,
        actor=actor,
        shop_id=shop.id if shop else None,
        description=f"Reward: {reward.name}"[:300],
        reference_type="reward",
        reference_id=str(reward.id),
    )
    voucher = Voucher(
        merchant_id=member.merchant_id,
        member_id=member.id,
        reward_id=reward.id,
        transaction_id=transaction.id,
        code=new_voucher_code(session, member.merchant_id),
        points_spent=reward.points_cost,
        valid_until=now + timedelta(days=reward.validity_days),
        created_at=now,
    )
    session.add(voucher)
    session.flush()
    events.emit(
        session,
        merchant_id=member.merchant_id,
        type="points.redeemed",
        data={
            "member": events.member_ref(member),
            "transaction_id": transaction.id,
            "points": reward.points_cost,
            "balance": member.points_balance,
            "reward": {"id": reward.id, "name": reward.name},
            "voucher_id": voucher.id,
        },
    )
    events.emit(
        session,
        merchant_id=member.merchant_id,
        type="voucher.issued",
        data={
            "member": events.member_ref(member),
            "voucher": events.voucher_ref(voucher),
        },
    )
    return voucher


def offered_rewards(session: Session, *, program: LoyaltyProgram) -> list[Reward]:
    """The catalogue members see, cheapest first: active rewards the offering lets them redeem."""
    query = select(Reward).where(Reward.program_id == program.id, Reward.active.is_(True))
    if not offerings.has(program.merchant, Feature.CUSTOM_REWARDS):
        query = query.where(Reward.type.not_in(CUSTOM_REWARD_TYPES))
    return list(session.scalars(query.order_by(Reward.points_cost, Reward.name, Reward.id)))


def affordable_rewards(
    session: Session, *, member: LoyaltyMember, now: datetime | None = None
) -> list[Reward]:
    """What the member could redeem right now: the same rules `redeem` applies."""
    if member.program.kind == ProgramKind.STAMPS:
        return []
    now = now or utcnow()
    query = select(Reward).where(
        Reward.program_id == member.program_id,
        Reward.active.is_(True),
        Reward.points_cost <= member.points_balance,
        or_(Reward.stock.is_(None), Reward.stock > 0),
    )
    if not offerings.has(member.program.merchant, Feature.CUSTOM_REWARDS):
        query = query.where(Reward.type.not_in(CUSTOM_REWARD_TYPES))
    found = list(session.scalars(query.order_by(Reward.points_cost, Reward.name)))
    used = reward_limits.limit_hits(session, member=member, rewards=found, now=now)
    return [reward for reward in found if reward.id not in used]
