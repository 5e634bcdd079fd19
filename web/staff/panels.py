"""The read-only member panel, shown at the till and in the back-office alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.identity import format_card_number
from loyalty.models import LoyaltyMember, LoyaltyTransaction, Promotion, Reward, Shop, Voucher
from loyalty.offerings import Feature
from loyalty.services import promotions, reward_limits, rewards, vouchers
from loyalty.services.paging import Page, clamp
from web.extensions import db
from web.tenancy import tenant_get_or_404, tenant_select

LEDGER_ROWS = 20


@dataclass(frozen=True)
class LedgerLine:
    created_at: datetime
    type: str
    points: int
    balance_after: int
    shop_name: str | None
    description: str


@dataclass(frozen=True)
class MemberPanel:
    member: LoyaltyMember
    name: str
    card_number: str
    ledger: list[LedgerLine]
    # The back-office pages through the whole ledger; the till shows the last rows only.
    ledger_page: Page[LedgerLine] | None = None


def ledger_select() -> Select:
    """The current merchant's ledger rows with their shop's name, newest first."""
    return (
        tenant_select(LoyaltyTransaction, LoyaltyTransaction, Shop.name)
        .outerjoin(Shop, Shop.id == LoyaltyTransaction.shop_id)
        .order_by(LoyaltyTransaction.created_at.desc(), LoyaltyTransaction.id.desc())
    )


def ledger_lines(statement: Select) -> list[LedgerLine]:
    return [
        LedgerLine(
            created_at=row.created_at,
            type=str(row.type),
            points=row.points,
            balance_after=row.balance_after,
            shop_name=shop_name,
            description=row.description,
        )
        for row, shop_name in db.session.execute(statement)
    ]


def member_panel(member_id: int, *, ledger_page: int | None = None) -> MemberPanel:
    """The member of the current merchant with this id (404 otherwise) and its ledger rows.

    Without `ledger_page`: the last rows (the till). With it: that page of the whole ledger.
    """
    member = tenant_get_or_404(LoyaltyMember, member_id)
    customer = member.customer
    name = "(erased customer)" if customer.erased_at else (customer.name or "(no name)")
    mine = ledger_select().where(LoyaltyTransaction.member_id == member.id)
    if ledger_page is None:
        rows = ledger_lines(mine.limit(LEDGER_ROWS))
        return MemberPanel(member, name, format_card_number(member.card_number), rows)
    total = (
        db.session.scalar(
            select(func.count(LoyaltyTransaction.id)).where(
                LoyaltyTransaction.member_id == member.id
            )
        )
        or 0
    )
    number = clamp(ledger_page, total, LEDGER_ROWS)
    rows = ledger_lines(mine.limit(LEDGER_ROWS).offset((number - 1) * LEDGER_ROWS))
    page = Page(rows, total, number, LEDGER_ROWS)
    return MemberPanel(member, name, format_card_number(member.card_number), rows, page)


# --- the till: what the cashier can do with the member in front of them ---------------------


@dataclass(frozen=True)
class TillPanel:
    affordable: list[Reward]
    out_of_reach: list[tuple[Reward, int]]  # (reward, points still missing)
    used: list[reward_limits.LimitHit]  # rewards the member may not redeem again yet
    vouchers: list[Voucher]
    promotions: list[Promotion]
    categories: list[str]


def _runs_today_at(promotion: Promotion, shop: Shop | None, now: datetime, timezone: str) -> bool:
    """Display only: the shop and weekday conditions. The earn service decides what applies."""
    conditions = promotion.conditions or {}
    shop_ids = conditions.get("shop_ids")
    if shop_ids and (shop is None or shop.id not in shop_ids):
        return False
    weekdays = conditions.get("weekdays")
    return not weekdays or now.astimezone(ZoneInfo(timezone)).weekday() in weekdays


def till_panel(member: LoyaltyMember, shop: Shop | None) -> TillPanel:
    session = db.session
    now = utcnow()
    merchant = member.program.merchant
    affordable = rewards.affordable_rewards(session, member=member, now=now)
    within = {reward.id for reward in affordable}
    catalogue = list(
        session.scalars(
            select(Reward)
            .where(Reward.program_id == member.program_id, Reward.active.is_(True))
            .order_by(Reward.points_cost, Reward.name)
        )
    )
    used = reward_limits.limit_hits(session, member=member, rewards=catalogue, now=now)
    out_of_reach = [
        (reward, reward.points_cost - member.points_balance)
        for reward in catalogue
        if reward.id not in within
        and reward.id not in used
        and reward.points_cost > member.points_balance
    ]
    timezone = shop.timezone if shop is not None else merchant.timezone
    running = []
    if offerings.has(merchant, Feature.BASIC_PROMOTIONS):
        running = [
            p
            for p in promotions.active_promotions(session, program_id=member.program_id, at=now)
            if _runs_today_at(p, shop, now, timezone)
        ]
    return TillPanel(
        affordable=affordable,
        out_of_reach=out_of_reach,
        used=list(used.values()),
        vouchers=vouchers.open_vouchers(session, member=member, now=now),
        promotions=running,
        categories=sorted((member.program.category_multipliers or {}).keys()),
    )
