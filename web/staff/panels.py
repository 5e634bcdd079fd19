"""The read-only member panel, shown at the till and in the back-office alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select

from loyalty.identity import format_card_number
from loyalty.models import LoyaltyMember, LoyaltyTransaction, Shop
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


def member_panel(member_id: int) -> MemberPanel:
    """The member of the current merchant with this id (404 otherwise) and its last ledger rows."""
    member = tenant_get_or_404(LoyaltyMember, member_id)
    customer = member.customer
    name = "(erased customer)" if customer.erased_at else (customer.name or "(no name)")
    rows = ledger_lines(
        ledger_select().where(LoyaltyTransaction.member_id == member.id).limit(LEDGER_ROWS)
    )
    return MemberPanel(member, name, format_card_number(member.card_number), rows)
