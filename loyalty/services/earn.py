"""Earning points for a purchase, and the preview the till shows before confirming.

On PostgreSQL the common case (no basket lines, no promotion running) is one data-modifying
statement: lock the member, write the ledger row and the lot, update the balance. Everything
else, and SQLite, takes the step-by-step path. Both give the same answer; the tests hold them to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import compact_sql, is_postgres, utcnow
from loyalty.errors import NotFound
from loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTransaction,
    Promotion,
    PromotionRedemption,
    PromotionType,
    Rounding,
    Shop,
    TransactionType,
)
from loyalty.offerings import PLANS, Feature
from loyalty.services import (
    debt,
    events,
    fraud,
    ledger,
    membership,
    promotions,
    referrals,
    stamps,
    tiers,
)
from loyalty.services.actors import SYSTEM, Actor
from loyalty.services.points import (
    BasketLine,
    carry_after,
    purchase_points,
    validate_amount,
    validate_basket,
    weighted_spend,
)
from loyalty.services.promotions import Offer, Purchase


@dataclass(frozen=True)
class EarnQuote:
    """What a purchase is worth, before anything is written."""

    amount_cents: int
    points: int
    base_points: int
    offer: Offer
    points_by_promotion: dict[int, int]
    # Spend carried in from earlier visits and left over after this one (None: no carry-over).
    carry_in_cents: int | None = None
    carry_out_cents: int | None = None
    stamps: bool = False  # a stamp card: `points` are stamps


@dataclass(frozen=True)
class EarnResult:
    transaction_id: int
    points: int
    balance: int
    amount_cents: int
    discount_cents: int = 0
    promotions: tuple[str, ...] = ()
    free_items: tuple[str, ...] = ()
    new_tier: str | None = None
    replayed: bool = False
    carry_cents: int | None = None  # spend counting towards the next point, with carry-over
    pending_until: datetime | None = None  # the points are held for the return window
    debt_recovered: int = 0  # taken back for an earlier refund of points already spent
    # Stamp cards: the codes of the vouchers of the cards this purchase filled.
    card_vouchers: tuple[str, ...] = ()
    # Why a full card still waits for its voucher (reward limit, out of stock); None otherwise.
    card_held: str | None = None


def _tier_multiplier(member: LoyaltyMember) -> Decimal:
    if member.tier is None or not offerings.has(member.program.merchant, Feature.TIERS):
        return Decimal(1)
    return Decimal(member.tier.earn_multiplier)


def carries_over(program: LoyaltyProgram) -> bool:
    # Only rounding down leaves a remainder behind; rounding up or half-up already gives it.
    return program.carry_over_spend and Rounding(program.rounding) == Rounding.FLOOR


def _price(
    member: LoyaltyMember, purchase: Purchase, offer: Offer, items: int | None = None
) -> EarnQuote:
    program = member.program
    if stamps.is_stamp_card(program):
        return _price_stamps(program, purchase, offer, items)
    carry_in = member.spend_carry_cents if carries_over(program) else None
    common = {
        "amount_cents": purchase.amount_cents,
        "rate": program.points_per_euro,
        "rounding": program.rounding,
        "tier_multiplier": _tier_multiplier(member),
        "lines": purchase.lines,
        "category_multipliers": program.category_multipliers,
        "discount_cents": offer.discount_cents,
        "carry_cents": carry_in or 0,
    }
    base = purchase_points(**common)
    multiplied = purchase_points(**common, promotion_multiplier=offer.multiplier)
    by_promotion = {}
    for applied in offer.applied:
        if applied.type == PromotionType.POINTS_MULTIPLIER:
            by_promotion[applied.promotion_id] = multiplied - base
        elif applied.bonus_points:
            by_promotion[applied.promotion_id] = applied.bonus_points
    carry_out = None
    if carry_in is not None:
        spend = carry_in + weighted_spend(
            amount_cents=purchase.amount_cents,
            lines=purchase.lines,
            category_multipliers=program.category_multipliers,
            discount_cents=offer.discount_cents,
        )
        carry_out = carry_after(spend=spend, rate=program.points_per_euro)
    return EarnQuote(
        amount_cents=purchase.amount_cents,
        points=multiplied + offer.bonus_points,
        base_points=base,
        offer=offer,
        points_by_promotion=by_promotion,
        carry_in_cents=carry_in,
        carry_out_cents=carry_out,
    )


def _price_stamps(
    program: LoyaltyProgram, purchase: Purchase, offer: Offer, items: int | None
) -> EarnQuote:
    """A stamp card counts visits or items; promotions multiply or add stamps."""
    common = {
        "paid_cents": purchase.amount_cents - offer.discount_cents,
        "items": items,
        "basket_lines": len(purchase.lines),
    }
    base, multiplied = stamps.stamps_for(program, **common, multiplier=offer.multiplier)
    by_promotion = {}
    for applied in offer.applied:
        if applied.type == PromotionType.POINTS_MULTIPLIER:
            by_promotion[applied.promotion_id] = multiplied - base
        elif applied.bonus_points:
            by_promotion[applied.promotion_id] = applied.bonus_points
    return EarnQuote(
        amount_cents=purchase.amount_cents,
        points=multiplied + offer.bonus_points,
        base_points=base,
        offer=offer,
        points_by_promotion=by_promotion,
        stamps=True,
    )


def _purchase(
    member: LoyaltyMember,
    amount_cents: int,
    shop: Shop | None,
    lines: tuple[BasketLine, ...],
    at: datetime,
) -> Purchase:
    timezone = shop.timezone if shop is not None else member.program.merchant.timezone
    return Purchase(
        amount_cents=amount_cents,
        at=at,
        shop_id=shop.id if shop else None,
        timezone=timezone,
        lines=lines,
    )


def _check_shop(member: LoyaltyMember, shop: Shop | None) -> None:
    if shop is not None and shop.merchant_id != member.merchant_id:
        raise NotFound("That shop is not one of this business's shops.")


def preview_earn(
    session: Session,
    *,
    member: LoyaltyMember,
    amount_cents: int,
    shop: Shop | None = None,
    basket: Sequence[BasketLine] = (),
    at: datetime | None = None,
    items: int | None = None,
) -> EarnQuote:
    """The live preview at the till: the same arithmetic as `earn`, and no writes."""
    amount = validate_amount(amount_cents)
    lines = validate_basket(amount, basket)
    items = stamps.check_items(items)
    _check_shop(member, shop)
    membership.ensure_can_earn(member, at or utcnow())
    purchase = _purchase(member, amount, shop, lines, at or utcnow())
    offer = promotions.find_offer(
        session, merchant=member.program.merchant, member=member, purchase=purchase
    )
    return _price(member, purchase, offer, items)


def earn(
    session: Session,
    *,
    member: LoyaltyMember,
    amount_cents: int,
    idempotency_key: str,
    actor: Actor = SYSTEM,
    shop: Shop | None = None,
    basket: Sequence[BasketLine] = (),
    at: datetime | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
    description: str = "",
    items: int | None = None,
) -> EarnResult:
    """Credit a purchase. A replayed key returns the first result and writes nothing.

    In a stamp-card programme the purchase earns stamps (per visit, or per item: `items`) and
    fills cards; that takes the step-by-step path (the one statement serves points only).
    """
    amount = validate_amount(amount_cents)
    key = ledger.check_key(idempotency_key)
    lines = validate_basket(amount, basket)
    items = stamps.check_items(items)
    _check_shop(member, shop)
    now = at or utcnow()
    details = {
        "shop_id": shop.id if shop else None,
        "actor_id": actor.user_id,
        "description": description[:300],
        "reference_type": reference_type,
        "reference_id": reference_id,
    }
    if is_postgres(session) and not lines:
        result = _earn_in_one_statement(session, member, amount, key, now, details)
        if result is not None:
            if member in session:  # the statement changed the row behind the ORM's back
                session.expire(member)
            return result
    return _earn_step_by_step(session, member, amount, key, lines, shop, now, details, items)


def _replayed(session: Session, transaction: LoyaltyTransaction) -> EarnResult:
    applied = session.execute(
        select(Promotion, PromotionRedemption.discount_cents)
        .join(PromotionRedemption, PromotionRedemption.promotion_id == Promotion.id)
        .where(PromotionRedemption.transaction_id == transaction.id)
        .order_by(Promotion.id)
    ).all()
    filled = stamps.vouchers_of(session, transaction)
    # A stamp card that filled: the balance is the new card's, after the last full one.
    last = session.get(LoyaltyTransaction, filled[-1].transaction_id) if filled else transaction
    return EarnResult(
        transaction_id=transaction.id,
        points=transaction.points,
        balance=last.balance_after,
        amount_cents=transaction.amount_cents or 0,
        discount_cents=sum(discount for _, discount in applied),
        promotions=tuple(promotion.name for promotion, _ in applied),
        free_items=tuple(p.name for p, _ in applied if p.type == PromotionType.FREE_ITEM),
        replayed=True,
        carry_cents=transaction.carry_out_cents,
        pending_until=transaction.available_at,
        debt_recovered=-recovery.points
        if (recovery := debt.recovery_of(session, transaction))
        else 0,
        card_vouchers=tuple(v.code for v in filled),
    )


def _earn_step_by_step(
    session: Session,
    member: LoyaltyMember,
    amount: int,
    key: str,
    lines: tuple[BasketLine, ...],
    shop: Shop | None,
    now: datetime,
    details: dict,
    items: int | None = None,
) -> EarnResult:
    member = ledger.lock_member(session, member.id)
    replay = ledger.find_replay(session, program_id=member.program_id, idempotency_key=key)
    if replay is not None:
        ledger.ensure_same_operation(
            replay, member_id=member.id, type=TransactionType.EARN, amount_cents=amount
        )
        return _replayed(session, replay)
    ledger.ensure_active(member)
    membership.ensure_can_earn(member, now)
    # Under the member's lock, so the count includes every earn committed before this one.
    crossings = fraud.check_earn(
        session, member=member, amount_cents=amount, staff_user_id=details["actor_id"], now=now
    )
    purchase = _purchase(member, amount, shop, lines, now)
    offer = promotions.find_offer(
        session, merchant=member.program.merchant, member=member, purchase=purchase
    )
    claimed = promotions.claim(session, offer)
    quote = _price(member, purchase, claimed, items)
    pending_days = 0 if quote.stamps else member.program.pending_days
    pending_until = now + timedelta(days=pending_days) if pending_days and quote.points else None
    transaction = ledger.credit(
        session,
        member=member,
        type=TransactionType.EARN,
        points=quote.points,
        now=now,
        idempotency_key=key,
        actor=Actor(user_id=details["actor_id"]),
        expires_at=ledger.lot_expiry(member.program, now),
        amount_cents=amount,
        shop_id=details["shop_id"],
        description=details["description"],
        reference_type=details["reference_type"],
        reference_id=details["reference_id"],
        carry_in_cents=quote.carry_in_cents,
        carry_out_cents=quote.carry_out_cents,
        available_at=pending_until,
    )
    if quote.carry_out_cents is not None:
        member.spend_carry_cents = quote.carry_out_cents
    fraud.record_alerts(
        session,
        crossings=crossings,
        member=member,
        transaction_id=transaction.id,
        staff_user_id=details["actor_id"],
        shop_id=details["shop_id"],
        amount_cents=amount,
        now=now,
    )
    referrals.reward_first_purchase(session, member=member, earned=transaction, now=now)
    recovered = debt.recover(
        session,
        member=member,
        earned=transaction,
        now=now,
        actor=Actor(user_id=details["actor_id"]),
    )
    completion = (
        stamps.complete_cards(
            session,
            member=member,
            earned=transaction,
            now=now,
            actor=Actor(user_id=details["actor_id"]),
        )
        if quote.stamps
        else stamps.Completion([])
    )
    promotions.record_redemptions(
        session,
        offer=claimed,
        member=member,
        transaction_id=transaction.id,
        shop_id=details["shop_id"],
        points_by_promotion=quote.points_by_promotion,
    )
    new_tier = tiers.upgrade_if_qualified(session, member=member, now=now)
    events.emit(
        session,
        merchant_id=member.merchant_id,
        type="points.earned",
        data={
            "member": events.member_ref(member),
            "transaction_id": transaction.id,
            "points": quote.points,
            "balance": member.points_balance,
            "amount_cents": amount,
            "shop_id": details["shop_id"],
            "reference_id": details["reference_id"],
            "pending_until": events.iso(pending_until) if pending_until else None,
        },
    )
    return EarnResult(
        transaction_id=transaction.id,
        points=quote.points,
        balance=member.points_balance,
        amount_cents=amount,
        discount_cents=claimed.discount_cents,
        promotions=tuple(a.name for a in claimed.applied),
        free_items=claimed.free_items,
        new_tier=new_tier.name if new_tier else None,
        carry_cents=quote.carry_out_cents,
        pending_until=pending_until,
        debt_recovered=-recovered.points if recovered else 0,
        card_vouchers=tuple(v.code for v in completion.vouchers),
        card_held=completion.held,
    )


# Offerings in which tier multipliers apply, written into the SQL from the matrix in
# offerings.py (enum values, not input) so the statement text is fixed and can be prepared.
_TIER_OFFERINGS = ", ".join(
    f"'{plan.offering.value}'" for plan in PLANS.values() if Feature.TIERS in plan.features
)

_MEMBER_WINDOW = f"interval '{int(fraud.MEMBER_WINDOW.total_seconds())} seconds'"
_STAFF_WINDOW = f"interval '{int(fraud.STAFF_WINDOW.total_seconds())} seconds'"

_EARN_SQL = f"""
WITH locked AS (
    SELECT m.id, m.merchant_id, m.program_id, m.points_balance, m.lifetime_points,
           p.points_per_euro, p.rounding,
           CASE WHEN p.expiry_policy = 'after_days' AND p.expiry_days IS NOT NULL
                THEN CAST(:now AS timestamptz) + make_interval(days => p.expiry_days) END
               AS expires_at,
           CASE WHEN p.expiry_policy = 'inactivity' THEN p.expiry_inactivity_months END
               AS inactivity_months,
           (mer.offering IN ({_TIER_OFFERINGS})) AS tiers_enabled,
           CASE WHEN mer.offering IN ({_TIER_OFFERINGS}) THEN COALESCE(t.earn_multiplier, 1)
                ELSE 1 END AS multiplier,
           COALESCE(t.min_points, -1) AS tier_min
    FROM loyalty_members m
    JOIN loyalty_programs p ON p.id = m.program_id
    JOIN merchants mer ON mer.id = m.merchant_id
    LEFT JOIN loyalty_tiers t ON t.id = m.tier_id
    WHERE m.id = :member_id AND m.status = 'active' AND p.kind = 'points'
      AND NOT p.carry_over_spend
      AND p.pending_days = 0 AND m.points_debt = 0
      AND (NOT p.paid_membership OR m.membership_expires_at > CAST(:now AS timestamptz))
      AND NOT EXISTS (
          SELECT 1 FROM referrals r WHERE r.referee_id = m.id AND r.status = 'pending')
      -- Fraud controls: this statement runs only when no limit would be crossed; otherwise
      -- the general path checks again under the lock and flags or blocks.
      AND (p.fraud_max_earn_cents IS NULL OR CAST(:amount AS integer) <= p.fraud_max_earn_cents)
      AND (p.fraud_member_daily_earns IS NULL OR (
          -- The count reads the snapshot taken when the statement began. If another earn
          -- changed the member while this one waited for the lock, the row re-checked under
          -- the lock is newer than that snapshot (another xmin), and this statement steps
          -- aside for the general path, whose own count sees that earn.
          m.xmin = (SELECT m2.xmin FROM loyalty_members m2 WHERE m2.id = m.id)
          AND (SELECT count(*) FROM loyalty_transactions t
               WHERE t.member_id = m.id AND t.type = 'earn'
                 AND t.created_at > CAST(:now AS timestamptz) - {_MEMBER_WINDOW})
               < p.fraud_member_daily_earns))
      AND (p.fraud_staff_hourly_earns IS NULL OR CAST(:actor_id AS integer) IS NULL OR (
          SELECT count(*) FROM loyalty_transactions t
          WHERE t.created_by = CAST(:actor_id AS integer) AND t.merchant_id = m.merchant_id
            AND t.type = 'earn'
            AND t.created_at > CAST(:now AS timestamptz) - {_STAFF_WINDOW})
          < p.fraud_staff_hourly_earns)
      AND NOT EXISTS (
          SELECT 1 FROM promotions pr
          WHERE pr.program_id = m.program_id AND pr.active
            AND pr.starts_at <= CAST(:now AS timestamptz)
            AND (pr.ends_at IS NULL OR pr.ends_at > CAST(:now AS timestamptz)))
    FOR UPDATE OF m
),
calc AS (
    SELECT locked.*,
           CAST(CASE locked.rounding WHEN 'ceil' THEN ceil(raw.value)
                                     WHEN 'round' THEN round(raw.value)
                                     ELSE floor(raw.value) END AS integer) AS points
    FROM locked,
         LATERAL (SELECT CAST(:amount AS numeric) * locked.points_per_euro
                         * locked.multiplier / 100 AS value) AS raw
),
tx AS (
    INSERT INTO loyalty_transactions
        (merchant_id, program_id, member_id, type, points, balance_after, amount_cents,
         shop_id, reference_type, reference_id, description, created_by, idempotency_key,
         created_at)
    SELECT merchant_id, program_id, id, 'earn', points, points_balance + points,
           CAST(:amount AS integer), CAST(:shop_id AS integer),
           CAST(:reference_type AS varchar), CAST(:reference_id AS varchar),
           CAST(:description AS varchar), CAST(:actor_id AS integer), CAST(:key AS varchar),
           CAST(:now AS timestamptz)
    FROM calc
    ON CONFLICT (program_id, idempotency_key) DO NOTHING
    RETURNING id, merchant_id, member_id, points, balance_after
),
lot AS (
    INSERT INTO point_lots (merchant_id, member_id, transaction_id, points, remaining,
                            expires_at, inactivity_months, created_at)
    SELECT tx.merchant_id, tx.member_id, tx.id, tx.points, tx.points, calc.expires_at,
           calc.inactivity_months, CAST(:now AS timestamptz)
    FROM tx, calc
    WHERE tx.points > 0
),
balance AS (
    UPDATE loyalty_members m
    SET points_balance = m.points_balance + tx.points,
        lifetime_points = m.lifetime_points + tx.points,
        last_activity_at = CAST(:now AS timestamptz),
        updated_at = CAST(:now AS timestamptz)
    FROM tx
    WHERE m.id = tx.member_id
)
SELECT (SELECT count(*) FROM calc) AS eligible,
       tx.id AS transaction_id, tx.points, tx.balance_after,
       COALESCE((SELECT calc.tiers_enabled AND EXISTS (
                     SELECT 1 FROM loyalty_tiers t2
                     WHERE t2.program_id = calc.program_id
                       AND t2.min_points > calc.tier_min
                       AND t2.min_points <= calc.lifetime_points + calc.points)
                 FROM calc), false) AS upgrade_possible
FROM (SELECT 1) AS one LEFT JOIN tx ON true
"""
# The statement in psycopg's own parameter style: the hot path hands it straight to the
# driver (prepared after a few calls), skipping SQLAlchemy's per-call compilation and row
# processing, which on two cores cost more than the statement itself.
_EARN_PSYCOPG = compact_sql(re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", _EARN_SQL))


@dataclass(frozen=True)
class _Row:
    eligible: int
    transaction_id: int | None
    points: int | None
    balance_after: int | None
    upgrade_possible: bool


def _earn_in_one_statement(
    session: Session, member: LoyaltyMember, amount: int, key: str, now: datetime, details: dict
) -> EarnResult | None:
    """The hot path. None means "not the simple case": the caller takes the general path."""
    # Flush what the unit of work holds, then run the statement on the session's own connection
    # (same transaction) through the driver.
    session.flush()
    driver = session.connection().connection.driver_connection
    params = {"member_id": member.id, "amount": amount, "key": key, "now": now, **details}
    row = _Row(*driver.execute(_EARN_PSYCOPG, params).fetchone())
    if not row.eligible:
        # A stamp card, a promotion is running, the programme carries spend over or holds
        # points pending, the member owes points of a refund, awaits a referral reward, is
        # not active or its paid membership lapsed, or a fraud limit would be crossed: the
        # general path applies the rules.
        return None
    if row.transaction_id is None:
        # The insert met the unique (programme, key): this is a replay of a committed earn.
        replay = ledger.find_replay(session, program_id=member.program_id, idempotency_key=key)
        if replay is None:
            raise RuntimeError(f"idempotency conflict on {key!r} without a ledger row")
        ledger.ensure_same_operation(
            replay, member_id=member.id, type=TransactionType.EARN, amount_cents=amount
        )
        return _replayed(session, replay)
    new_tier = None
    if row.upgrade_possible:
        locked = ledger.lock_member(session, member.id)  # already ours: refreshes the figures
        tier = tiers.upgrade_if_qualified(session, member=locked, now=now)
        new_tier = tier.name if tier else None
    events.emit(
        session,
        merchant_id=member.merchant_id,
        type="points.earned",
        data={
            "member": events.member_ref(member),
            "transaction_id": row.transaction_id,
            "points": row.points,
            "balance": row.balance_after,
            "amount_cents": amount,
            "shop_id": details["shop_id"],
            "reference_id": details["reference_id"],
            "pending_until": None,  # programmes that hold points take the general path
        },
    )
    return EarnResult(
        transaction_id=row.transaction_id,
        points=row.points,
        balance=row.balance_after,
        amount_cents=amount,
        new_tier=new_tier,
    )
