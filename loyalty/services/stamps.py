"""Stamp cards ("buy 9, get the 10th free") on the same ledger as points.

A stamp is one unit in the append-only ledger: a purchase credits its stamps as an `earn` row
and a lot, like points. The member's balance is the stamps on the current card. When it reaches
the card's size, the card is spent on its reward: a `redeem` row of exactly that many stamps
(reference "stamp_card", the earn's id) and a voucher for the programme's reward. Stamps beyond
the size stay on the balance: they are the next card's first stamps. Refunds, expiry, row locks
and idempotency are the ledger's own (services/ledger.py, corrections.py).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, object_session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, RewardOutOfStock
from loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    ProgramKind,
    Reward,
    StampPer,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services import debt, events, ledger, reward_limits, rewards
from loyalty.services.actors import Actor
from loyalty.services.calendar import zone_of

CARD_REFERENCE = "stamp_card"
MIN_CARD_SIZE = 2
MAX_CARD_SIZE = 50
MAX_ITEMS = 999
FILLED = "●"
EMPTY = "○"


def is_stamp_card(program: LoyaltyProgram) -> bool:
    return program.kind == ProgramKind.STAMPS


def unit_of(program: LoyaltyProgram) -> str:
    """What the programme's customers collect, as their messages say it: "points" or "stamps"."""
    return "stamps" if is_stamp_card(program) else "points"


class HoldReason(enum.StrEnum):
    """Why a full card's voucher waits (see `complete_cards`)."""

    LIMIT = "limit"  # the reward was had as often as its limit allows
    STOCK = "stock"  # the reward is out of stock
    NO_REWARD = "no_reward"  # the programme names no reward for a full card


@dataclass(frozen=True)
class Hold:
    """Why a full card still waits for its voucher, as its customer is told."""

    reason: HoldReason
    # LIMIT: the merchant's day from which the reward comes again; None: never (once per member).
    again: date | None = None
    rule: str = ""  # LIMIT: the limit in a few words ("once a month")


@dataclass(frozen=True)
class StampCard:
    """What the member's current card looks like, for every surface that shows it."""

    size: int
    # Stamps on the current card: `size` or more only while a full card waits (its reward out
    # of stock or already had as often as its limit allows, or its voucher cancelled) for the
    # next purchase to complete it.
    filled: int
    reward: str  # what a full card gives
    per: StampPer
    hold: Hold | None = None  # a full card: why its voucher waits, if it does

    @property
    def to_go(self) -> int:
        return max(0, self.size - self.filled)

    @property
    def slots(self) -> list[bool]:
        """One flag per box of the grid: stamped or not."""
        return [position < self.filled for position in range(self.size)]

    @property
    def grid(self) -> str:
        """The card as text, for chat, SMS and wallet passes: ●●●○○○○○○○."""
        shown = min(self.filled, self.size)
        return FILLED * shown + EMPTY * (self.size - shown)

    @property
    def summary(self) -> str:
        """'3 of 10 stamps: 7 more stamps for Free coffee.'; a full card says when its reward
        comes."""
        if self.to_go == 0:
            return self._full()
        more = "1 more stamp" if self.to_go == 1 else f"{self.to_go} more stamps"
        return f"{self.filled} of {self.size} stamps: {more} for {self.reward}."

    def _full(self) -> str:
        full = f"{self.size} of {self.size} stamps: the card is full"
        hold = self.hold
        if hold is None:
            return f"{full}, {self.reward} is on its way."
        if hold.reason == HoldReason.STOCK:
            return f"{full}. {self.reward} is out of stock: it comes with your next visit once it is back."
        if hold.reason == HoldReason.NO_REWARD:
            return f"{full}. Ask at the till about its reward."
        if hold.again is None:
            return f"{full}, but {self.reward} is {hold.rule} and you have already had it."
        return (
            f"{full}. {self.reward} is {hold.rule}: "
            f"it comes with your next visit from {hold.again:%-d %b %Y}."
        )


def after(card: StampCard, count: int) -> str:
    """What a purchase of `count` stamps would do to the card, in the cashier's words."""
    total = card.filled + count
    gained = "1 stamp" if count == 1 else f"{count} stamps"
    if total < card.size:
        return f"+{gained} → {total} of {card.size}"
    full, left = divmod(total, card.size)
    cards = "the card is full" if full == 1 else f"{full} cards are full"
    return f"+{gained} → {cards}: {card.reward}; {left} on the next card"


def card_of(
    member: LoyaltyMember, *, filled: int | None = None, now: datetime | None = None
) -> StampCard | None:
    """The member's stamp card (or as it stood with `filled` stamps); None for points.

    A full card also says why its voucher waits, as of `now` (the member's session answers).
    """
    program = member.program
    if not is_stamp_card(program):
        return None
    reward = program.stamp_reward
    filled = member.points_balance if filled is None else filled
    session = object_session(member)
    full = filled >= program.stamp_card_size
    return StampCard(
        size=program.stamp_card_size,
        filled=filled,
        reward=reward.name if reward is not None else "a reward",
        per=StampPer(program.stamp_per),
        hold=hold_of(session, member, now=now or utcnow()) if full and session else None,
    )


def hold_of(session: Session, member: LoyaltyMember, *, now: datetime) -> Hold | None:
    """Why the member's full card would wait for its voucher at `now`: the checks of
    `complete_cards`, in its order, read without taking stock."""
    program = member.program
    reward = card_reward(session, program)
    if reward is None:
        return Hold(HoldReason.NO_REWARD)
    hit = reward_limits.limit_hits(session, member=member, rewards=[reward], now=now).get(reward.id)
    if hit is not None:
        zone = zone_of(program.merchant)
        again = hit.again_at.astimezone(zone).date() if hit.again_at is not None else None
        return Hold(HoldReason.LIMIT, again, reward_limits.limit_label(reward))
    if reward.stock is not None and reward.stock <= 0:
        return Hold(HoldReason.STOCK)
    return None


def card_after(
    session: Session, member: LoyaltyMember, earned: LoyaltyTransaction
) -> tuple[StampCard | None, list[Voucher]]:
    """The card as this ledger row left it, and the vouchers of the cards it filled (receipts)."""
    if not is_stamp_card(member.program):
        return None, []
    filled = vouchers_of(session, earned)
    last = session.scalars(
        select(LoyaltyTransaction.balance_after)
        .where(
            LoyaltyTransaction.member_id == member.id,
            or_(
                LoyaltyTransaction.id == earned.id,
                and_(
                    LoyaltyTransaction.reference_id == str(earned.id),
                    LoyaltyTransaction.reference_type.in_([CARD_REFERENCE, debt.DEBT_REFERENCE]),
                ),
            ),
        )
        .order_by(LoyaltyTransaction.id.desc())
        .limit(1)
    ).one()
    return card_of(member, filled=last, now=earned.created_at), filled


def check_items(items: object) -> int | None:
    if items is None:
        return None
    if isinstance(items, bool) or not isinstance(items, int) or not 1 <= items <= MAX_ITEMS:
        raise InvalidInput(
            f"Enter the number of items bought, from 1 to {MAX_ITEMS}.", field="items"
        )
    return items


def stamps_for(
    program: LoyaltyProgram,
    *,
    paid_cents: int,
    items: int | None,
    basket_lines: int = 0,
    multiplier: Decimal = Decimal(1),
) -> tuple[int, int]:
    """(stamps, stamps under a multiplier promotion) for one purchase.

    Per visit: one stamp, if the purchase reaches the minimum spend. Per item: one per item
    (the count entered at the till; else one per basket line; else one), each item needing
    the minimum spend: €9 at "one stamp per €3 of spend" gives at most 3 stamps.
    A multiplier promotion multiplies stamps (rounded down); a bonus promotion adds stamps
    (the caller adds those).
    """
    minimum = program.stamp_min_spend_cents
    if StampPer(program.stamp_per) == StampPer.ITEM:
        count = items if items is not None else max(1, basket_lines)
        base = min(count, paid_cents // minimum) if minimum else count
    else:
        base = 1 if paid_cents >= minimum else 0
    boosted = int((base * multiplier).to_integral_value(rounding=ROUND_FLOOR))
    return base, boosted


def _card_key(earn_key: str, number: int) -> str:
    key = f"card{number}:{earn_key}"
    if len(key) <= ledger.MAX_KEY_LENGTH:
        return key
    return f"card{number}:" + hashlib.sha256(earn_key.encode()).hexdigest()


def card_reward(session: Session, program: LoyaltyProgram) -> Reward | None:
    reward_id = program.stamp_reward_id
    if reward_id is None:
        return None
    reward = session.get(Reward, reward_id)
    return reward if reward is not None and reward.program_id == program.id else None


@dataclass(frozen=True)
class Completion:
    """What a purchase's stamps did to full cards: the vouchers issued, and why a full card
    still waits, if one does (in the cashier's words)."""

    vouchers: list[Voucher]
    held: str | None = None


def complete_cards(
    session: Session,
    *,
    member: LoyaltyMember,
    earned: LoyaltyTransaction,
    now: datetime,
    actor: Actor,
) -> Completion:
    """Spend every full card of the locked member on its reward; the rest starts the next card.

    A card whose reward is out of stock, already redeemed as often as its limit allows (once
    per member, per month...), or which has no reward set, stays full: no stamp is lost, and
    the next purchase completes it once the reward is back or the limit allows it again.
    """
    program = member.program
    size = program.stamp_card_size
    issued: list[Voucher] = []
    held: str | None = None
    reward = card_reward(session, program) if member.points_balance >= size else None
    if reward is None and member.points_balance >= size:
        held = (
            "The card is full, but no reward is set for a full card: "
            "a manager sets it in the programme settings."
        )
    while reward is not None and member.points_balance >= size:
        # The reward's limit, as for a redemption: refused, the card keeps its stamps, stays full.
        hit = reward_limits.limit_hits(session, member=member, rewards=[reward], now=now)
        if reward.id in hit:
            held = hit[reward.id].message(
                zone_of(program.merchant), member.card_number, full_card=True
            )
            break
        try:
            rewards.take_one_from_stock(session, reward)  # one conditional UPDATE: no partial write
        except RewardOutOfStock:
            held = (
                f"“{reward.name}” is out of stock: the full card keeps its stamps until it is back."
            )
            break
        transaction = ledger.debit(
            session,
            member=member,
            type=TransactionType.REDEEM,
            points=size,
            now=now,
            idempotency_key=_card_key(earned.idempotency_key, len(issued) + 1),
            actor=actor,
            shop_id=earned.shop_id,
            description=f"Full card of {size} stamps: {reward.name}"[:300],
            reference_type=CARD_REFERENCE,
            reference_id=str(earned.id),
        )
        voucher = Voucher(
            merchant_id=member.merchant_id,
            member_id=member.id,
            reward_id=reward.id,
            transaction_id=transaction.id,
            code=rewards.new_voucher_code(session, member.merchant_id),
            points_spent=size,
            valid_until=now + timedelta(days=reward.validity_days),
            created_at=now,
        )
        session.add(voucher)
        session.flush()
        issued.append(voucher)
        events.emit(
            session,
            merchant_id=member.merchant_id,
            type="voucher.issued",
            data={
                "member": events.member_ref(member),
                "voucher": events.voucher_ref(voucher),
            },
        )
    return Completion(issued, held)


def vouchers_of(session: Session, earned: LoyaltyTransaction) -> list[Voucher]:
    """The vouchers of the cards this purchase completed (a replay shows the same ones)."""
    return list(
        session.scalars(
            select(Voucher)
            .join(LoyaltyTransaction, LoyaltyTransaction.id == Voucher.transaction_id)
            .where(
                LoyaltyTransaction.merchant_id == earned.merchant_id,
                LoyaltyTransaction.reference_type == CARD_REFERENCE,
                LoyaltyTransaction.reference_id == str(earned.id),
            )
            .order_by(Voucher.id)
        )
    )


def return_unused_cards(
    session: Session,
    *,
    member: LoyaltyMember,
    purchase: LoyaltyTransaction,
    stamps_due: int,
    idempotency_key: str,
    actor: Actor,
    now: datetime,
) -> int:
    """Before a refund takes a purchase's stamps: if the current card holds fewer, cancel the
    still unused vouchers of cards that purchase completed, so their stamps come back to be
    taken (buy the 10th coffee, refund it: the free-coffee voucher goes, the card shows 9).
    A voucher already used stays used; what is still missing follows the refund rule.
    Returns how many vouchers were cancelled.
    """
    from loyalty.services import vouchers  # vouchers imports rewards, as this module does

    cancelled = 0
    for voucher in vouchers_of(session, purchase):
        if member.points_balance >= stamps_due:
            break
        if voucher.status != VoucherStatus.ISSUED or voucher.valid_until <= now:
            continue
        vouchers.void_voucher(
            session,
            voucher=voucher,
            reason="the purchase that completed the card was refunded",
            idempotency_key=_card_key(idempotency_key, voucher.id),
            actor=actor,
            now=now,
        )
        cancelled += 1
    return cancelled


def outstanding(session: Session, program: LoyaltyProgram) -> tuple[int, int]:
    """(members holding any balance, pending or debt; units they hold) in this programme."""
    held = LoyaltyMember.points_balance + LoyaltyMember.pending_points + LoyaltyMember.points_debt
    members, units = session.execute(
        select(func.count(LoyaltyMember.id), func.coalesce(func.sum(held), 0)).where(
            LoyaltyMember.program_id == program.id,
            or_(
                LoyaltyMember.points_balance > 0,
                LoyaltyMember.pending_points > 0,
                LoyaltyMember.points_debt > 0,
            ),
        )
    ).one()
    return members, units


def ensure_may_switch(session: Session, program: LoyaltyProgram, kind: ProgramKind) -> None:
    """Points never silently turn into stamps (or back): the switch waits for empty cards."""
    if ProgramKind(program.kind) == kind:
        return
    members, units = outstanding(session, program)
    if members:
        what = "points" if ProgramKind(program.kind) == ProgramKind.POINTS else "stamps"
        raise InvalidInput(
            f"{members:,} member{'s' if members != 1 else ''} still hold{'s' if members == 1 else ''} "
            f"{units:,} {what} (balances, pending or owed). A programme switches between points "
            f"and stamps only when no member holds any: let them redeem, or adjust the "
            f"balances to zero first.",
            field="kind",
        )
