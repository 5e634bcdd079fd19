"""The ledger through the API: earn on a purchase, refund one, list and read rows."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty.db import utcnow
from loyalty.models import LoyaltyMember, LoyaltyTransaction, Shop
from loyalty.services import corrections
from loyalty.services import earn as earning
from loyalty.services.points import BasketLine
from web.api import blueprint, present, schemas
from web.api.members import api_actor, member_or_404
from web.api.operations import operation, service_key
from web.extensions import db
from web.tenancy import tenant_get_or_404, tenant_select


def shop_or_404(shop_id: int | None) -> Shop | None:
    return None if shop_id is None else tenant_get_or_404(Shop, shop_id)


def basket(lines: list[schemas.BasketLine]) -> list[BasketLine]:
    return [BasketLine(line.amount_cents, line.category, line.label) for line in lines]


@operation(
    blueprint,
    "POST",
    "/transactions",
    summary="Earn points on a purchase",
    tag="Transactions",
    body=schemas.EarnCreate,
    response=schemas.EarnResult,
    status=201,
)
def create_earn(body: schemas.EarnCreate) -> schemas.EarnResult:
    """Credits the member for what was paid, with running promotions and tier multipliers
    applied. Send basket `lines` when categories earn differently. With an Idempotency-Key a
    retry returns the first answer and credits nothing twice."""
    member = member_or_404(body.member_id)
    now = utcnow()
    description = f"Order {body.order_reference}" if body.order_reference else "Purchase"
    result = earning.earn(
        db.session,
        member=member,
        at=now,
        amount_cents=body.amount_cents,
        idempotency_key=service_key(),
        actor=api_actor(),
        shop=shop_or_404(body.shop_id),
        basket=basket(body.lines),
        items=body.items,
        reference_type=present.ORDER_REFERENCE if body.order_reference else None,
        reference_id=body.order_reference,
        description=description,
    )
    # An earlier ledger row, or a stamp card that filled (the row's balance is before the full
    # card was spent): show the row as it was written.
    if result.replayed or result.card_vouchers:
        transaction = present.transaction(db.session.get(LoyaltyTransaction, result.transaction_id))
    else:  # just written: what it holds is known, no need to read it back
        transaction = schemas.Transaction(
            id=result.transaction_id,
            member_id=body.member_id,  # not member.id: the earn expired the loaded row
            type="earn",
            points=result.points,
            balance_after=result.balance,
            amount_cents=result.amount_cents,
            shop_id=body.shop_id,
            order_reference=body.order_reference,
            reverses_id=None,
            description=description,
            created_at=now,
        )
    return schemas.EarnResult(
        transaction=transaction,
        points=result.points,
        balance=result.balance,
        discount_cents=result.discount_cents,
        promotions=list(result.promotions),
        free_items=list(result.free_items),
        new_tier=result.new_tier,
        card_vouchers=list(result.card_vouchers),
        card_held=result.card_held,
    )


@operation(
    blueprint,
    "POST",
    "/transactions/<int:transaction_id>/refund",
    summary="Refund a purchase (all or part)",
    tag="Transactions",
    body=schemas.RefundCreate,
    response=schemas.RefundResult,
    status=201,
)
def refund(transaction_id: int, body: schemas.RefundCreate) -> schemas.RefundResult:
    """Takes back the purchase's points in proportion to the amount refunded. Points already
    spent are not taken below zero: the ledger row says how many were not recovered."""
    purchase = tenant_get_or_404(LoyaltyTransaction, transaction_id)
    row = corrections.reverse(
        db.session,
        purchase=purchase,
        idempotency_key=service_key(),
        actor=api_actor(),
        amount_cents=body.amount_cents,
        shop=shop_or_404(body.shop_id),
        reason=body.reason,
    )
    balance = db.session.get(LoyaltyMember, row.member_id).points_balance
    return schemas.RefundResult(transaction=present.transaction(row), balance=balance)


@operation(
    blueprint,
    "GET",
    "/transactions",
    summary="List ledger rows, newest first",
    tag="Transactions",
    query=schemas.TransactionFilter,
    response=schemas.TransactionList,
)
def list_transactions(query: schemas.TransactionFilter) -> schemas.TransactionList:
    """Cursor pagination: pass the `next_cursor` of a page as `starting_after` for the next.
    Rows are never edited, so a cursor stays valid however long the client waits."""
    statement = tenant_select(LoyaltyTransaction).order_by(LoyaltyTransaction.id.desc())
    if query.member_id is not None:
        statement = statement.where(LoyaltyTransaction.member_id == query.member_id)
    if query.shop_id is not None:
        statement = statement.where(LoyaltyTransaction.shop_id == query.shop_id)
    if query.type is not None:
        statement = statement.where(LoyaltyTransaction.type == query.type)
    if query.order_reference is not None:
        statement = statement.where(
            LoyaltyTransaction.reference_type == present.ORDER_REFERENCE,
            LoyaltyTransaction.reference_id == query.order_reference,
        )
    if query.created_after is not None:
        statement = statement.where(LoyaltyTransaction.created_at > _aware(query.created_after))
    if query.created_before is not None:
        statement = statement.where(LoyaltyTransaction.created_at < _aware(query.created_before))
    if query.starting_after is not None:
        statement = statement.where(LoyaltyTransaction.id < query.starting_after)
    rows = list(db.session.scalars(statement.limit(query.limit + 1)))
    page = rows[: query.limit]
    has_more = len(rows) > query.limit
    return schemas.TransactionList(
        data=[present.transaction(row) for row in page],
        has_more=has_more,
        next_cursor=page[-1].id if has_more else None,
    )


def _aware(moment: datetime) -> datetime:
    """A filter time without a zone is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@operation(
    blueprint,
    "GET",
    "/transactions/<int:transaction_id>",
    summary="Get a ledger row",
    tag="Transactions",
    response=schemas.Transaction,
)
def get_transaction(transaction_id: int) -> schemas.Transaction:
    """One row of the member's ledger."""
    return present.transaction(tenant_get_or_404(LoyaltyTransaction, transaction_id))
