"""CSV exports of members and of the ledger, produced row by row so no file is built in memory.

The statements are read with `yield_per` (a server-side cursor on PostgreSQL), and the CSV is
produced in small text chunks that a web response or a file can stream.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import Customer, LoyaltyMember, LoyaltyTier, LoyaltyTransaction, Merchant, Shop
from loyalty.services.enroll import MARKETING_CONSENTS
from loyalty.services.member_search import MemberFilters, member_select

BATCH = 1000
MEMBER_COLUMNS = [
    "card_number", "name", "email", "phone", "birthday", "language", "status", "tier",
    "points_balance", "lifetime_points", "enrolled_at", "last_activity_at", *MARKETING_CONSENTS,
]  # fmt: skip
TRANSACTION_COLUMNS = [
    "id", "created_at", "card_number", "type", "points", "balance_after", "amount_eur", "shop",
    "description", "reference_type", "reference_id",
]  # fmt: skip
# A spreadsheet runs a cell that starts with these as a formula ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value.value if hasattr(value, "value") else value)
    # Phone numbers (+352…) and negative points stay as they are: they are not formulas.
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    return text[1:].replace(" ", "").isdigit() and text[0] in "+-"


def csv_chunks(rows: Iterable[Iterable[Any]], *, rows_per_chunk: int = 500) -> Iterator[str]:
    """CSV text in chunks of a few hundred rows: small enough to stream, big enough to be cheap."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(value) for value in row])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _consent(consents: dict[str, Any] | None, name: str) -> str:
    entry = (consents or {}).get(name) or {}
    return "yes" if entry.get("granted") else "no"


def _member_columns() -> list[Any]:
    return [
        LoyaltyMember.card_number, Customer.name, Customer.email, Customer.phone,
        Customer.birthday, Customer.language, LoyaltyMember.status, LoyaltyTier.name,
        LoyaltyMember.points_balance, LoyaltyMember.lifetime_points,
        LoyaltyMember.enrolled_at, LoyaltyMember.last_activity_at, Customer.consents,
    ]  # fmt: skip


def _transaction_columns() -> list[Any]:
    return [
        LoyaltyTransaction.id, LoyaltyTransaction.created_at, LoyaltyMember.card_number,
        LoyaltyTransaction.type, LoyaltyTransaction.points, LoyaltyTransaction.balance_after,
        LoyaltyTransaction.amount_cents, Shop.name, LoyaltyTransaction.description,
        LoyaltyTransaction.reference_type, LoyaltyTransaction.reference_id,
    ]  # fmt: skip


def member_rows(
    session: Session, *, merchant: Merchant, filters: MemberFilters
) -> Iterator[list[Any]]:
    """The header, then one row per member the list would show with these filters."""
    yield MEMBER_COLUMNS
    statement = (
        member_select(merchant, filters)
        .with_only_columns(*_member_columns(), maintain_column_froms=True)
        .outerjoin(LoyaltyTier, LoyaltyTier.id == LoyaltyMember.tier_id)
    )
    for row in session.execute(statement.execution_options(yield_per=BATCH)):
        *values, consents = row
        yield [*values, *(_consent(consents, name) for name in MARKETING_CONSENTS)]


def transaction_rows(
    session: Session, *, merchant: Merchant, filters: MemberFilters
) -> Iterator[list[Any]]:
    """The header, then the ledger rows of the filtered members, oldest first."""
    yield TRANSACTION_COLUMNS
    statement = (
        select(*_transaction_columns())
        .join(LoyaltyMember, LoyaltyMember.id == LoyaltyTransaction.member_id)
        .outerjoin(Shop, Shop.id == LoyaltyTransaction.shop_id)
        .where(LoyaltyTransaction.merchant_id == merchant.id)
        .order_by(LoyaltyTransaction.created_at, LoyaltyTransaction.id)
    )
    if filters.active:
        chosen = member_select(merchant, filters).order_by(None).with_only_columns(LoyaltyMember.id)
        statement = statement.where(LoyaltyTransaction.member_id.in_(chosen))
    for row in session.execute(statement.execution_options(yield_per=BATCH)):
        values = list(row)
        cents = values[6]
        values[6] = None if cents is None else f"{cents / 100:.2f}"
        yield values
