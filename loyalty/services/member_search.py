"""The back-office member list: search by card, phone, e-mail or name prefix, filters, pages.

Each search text takes one indexed road, chosen by its shape, so a page costs two statements
(the count and the rows) whatever the size of the programme:
- with an "@": e-mail prefix (customers' (merchant_id, email) pattern index);
- digits (spaces, dashes and a leading + allowed): card number prefix (loyalty_members'
  (merchant_id, card_number) pattern index) or the exact phone number (unique per merchant),
  joined as a UNION so each side keeps its index;
- anything else: name prefix on the accent-free `name_search` ((merchant_id, name_search)),
  and for a single word also the e-mail prefix ("jean.dupont"), as a UNION of both lookups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, func, select, union_all
from sqlalchemy.orm import Session, contains_eager, joinedload

from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.identity import normalize_phone, search_key
from loyalty.models import (
    Customer,
    LoyaltyMember,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberStatus,
    Merchant,
    Shop,
)
from loyalty.services.paging import Page, clamp

PER_PAGE = 25
# Counting a million members costs more than showing a page of them (a quarter of a second):
# the list counts up to this many, says "more than" beyond, and pages through those.
COUNT_UP_TO = 10_000
MAX_QUERY = 100
# "Last visit" choices of the list: (value, label, days, within). within=False: longer ago.
LAST_VISIT = {
    "7d": ("In the last 7 days", 7, True),
    "30d": ("In the last 30 days", 30, True),
    "90d": ("In the last 90 days", 90, True),
    "over90d": ("More than 90 days ago", 90, False),
    "over365d": ("More than a year ago", 365, False),
}
STATUSES = {s.value for s in MemberStatus}
_DIGITS = re.compile(r"\+?[\d\s\-.]+")
MAX_BALANCE = 2**31 - 1


@dataclass(frozen=True)
class MemberFilters:
    """What the list is narrowed to; every field optional. Built from the query string by `parse`."""

    q: str = ""
    tier_id: int | None = None
    shop_id: int | None = None
    last_visit: str = ""
    min_balance: int | None = None
    max_balance: int | None = None
    status: str = ""

    def as_args(self) -> dict[str, Any]:
        """The filters as query-string arguments (for page links and the export link)."""
        args = {
            "q": self.q,
            "tier": self.tier_id,
            "shop": self.shop_id,
            "visit": self.last_visit,
            "min": self.min_balance,
            "max": self.max_balance,
            "status": self.status,
        }
        return {k: v for k, v in args.items() if v not in (None, "")}

    @property
    def active(self) -> bool:
        return bool(self.as_args())


def _whole_number(raw: str | None, label: str, field: str) -> int | None:
    text = (raw or "").strip().replace(",", "").replace(" ", "")
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or int(text) > MAX_BALANCE:
        raise InvalidInput(f"{label} must be a whole number of points, like 500.", field=field)
    return int(text)


def _id(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_BALANCE else None


def parse(args: Mapping[str, str]) -> MemberFilters:
    """Read the list's query string; a wrong value is an InvalidInput naming the field."""
    minimum = _whole_number(args.get("min"), "Minimum balance", "min")
    maximum = _whole_number(args.get("max"), "Maximum balance", "max")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidInput(
            "The minimum balance is above the maximum: swap them or clear one.", field="min"
        )
    visit = (args.get("visit") or "").strip()
    status = (args.get("status") or "").strip()
    return MemberFilters(
        q=(args.get("q") or "").strip()[:MAX_QUERY],
        tier_id=_id(args.get("tier")),
        shop_id=_id(args.get("shop")),
        last_visit=visit if visit in LAST_VISIT else "",
        min_balance=minimum,
        max_balance=maximum,
        status=status if status in STATUSES else "",
    )


# --- the statement ----------------------------------------------------------------------------


def _text_condition(merchant: Merchant, text: str) -> tuple[Any, bool]:
    """(condition, by_name) for the search text; by_name: order by name (the index's order)."""
    if "@" in text:
        return Customer.email.startswith(text.lower(), autoescape=True), False
    if _DIGITS.fullmatch(text) and sum(c.isdigit() for c in text) >= 3:
        digits = "".join(c for c in text if c.isdigit())
        by_card = select(LoyaltyMember.id).where(
            LoyaltyMember.merchant_id == merchant.id, LoyaltyMember.card_number.startswith(digits)
        )
        try:
            phone = normalize_phone(text, merchant.default_country)
        except InvalidInput:
            return LoyaltyMember.id.in_(by_card), False
        by_phone = (
            select(LoyaltyMember.id)
            .join(Customer, Customer.id == LoyaltyMember.customer_id)
            .where(Customer.merchant_id == merchant.id, Customer.phone == phone)
        )
        return LoyaltyMember.id.in_(union_all(by_card, by_phone)), False
    by_name = Customer.name_search.startswith(search_key(text), autoescape=True)
    if " " in text:
        return by_name, True
    # One word may be the start of a name or of an e-mail address ("jean.dupont"): both
    # indexed lookups, joined as a UNION so each keeps its index.
    names = select(Customer.id).where(Customer.merchant_id == merchant.id, by_name)
    emails = select(Customer.id).where(
        Customer.merchant_id == merchant.id,
        Customer.email.startswith(text.lower(), autoescape=True),
    )
    return Customer.id.in_(union_all(names, emails)), True


def _member_conditions(filters: MemberFilters, now: datetime) -> list[Any]:
    """The filters that read the member row alone (all but the search text)."""
    conditions: list[Any] = []
    if filters.tier_id is not None:
        conditions.append(LoyaltyMember.tier_id == filters.tier_id)
    if filters.shop_id is not None:
        conditions.append(
            exists().where(
                LoyaltyTransaction.shop_id == filters.shop_id,
                LoyaltyTransaction.member_id == LoyaltyMember.id,
            )
        )
    if filters.last_visit:
        _label, days, within = LAST_VISIT[filters.last_visit]
        since = now - timedelta(days=days)
        conditions.append(
            LoyaltyMember.last_activity_at >= since
            if within
            else LoyaltyMember.last_activity_at < since
        )
    if filters.min_balance is not None:
        conditions.append(LoyaltyMember.points_balance >= filters.min_balance)
    if filters.max_balance is not None:
        conditions.append(LoyaltyMember.points_balance <= filters.max_balance)
    if filters.status:
        conditions.append(LoyaltyMember.status == filters.status)
    return conditions


def member_select(merchant: Merchant, filters: MemberFilters, *, now: datetime | None = None):
    """The merchant's members matching `filters`, with their customer, in the list's order."""
    now = now or utcnow()
    statement = (
        select(LoyaltyMember)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(LoyaltyMember.merchant_id == merchant.id, Customer.merchant_id == merchant.id)
    )
    by_name = False
    if filters.q:
        condition, by_name = _text_condition(merchant, filters.q)
        statement = statement.where(condition)
    statement = statement.where(*_member_conditions(filters, now))
    order = (
        (Customer.name_search, LoyaltyMember.id)
        if by_name
        else (LoyaltyMember.enrolled_at.desc(), LoyaltyMember.id.desc())
    )
    return statement.order_by(*order)


# --- a page of it -----------------------------------------------------------------------------


def count_statement(statement: Select) -> Select:
    """How many members `member_select` matches (the first of a page's two statements)."""
    return statement.order_by(None).with_only_columns(func.count())


def count_select(merchant: Merchant, filters: MemberFilters, *, now: datetime | None = None):
    """The count of `find_members`, up to COUNT_UP_TO + 1. Without a search text it reads the
    members alone: every member has exactly one customer of the same merchant, so the join
    changes no count, and without it PostgreSQL counts from one index."""
    if filters.q:
        counted = member_select(merchant, filters, now=now).order_by(None)
        counted = counted.with_only_columns(LoyaltyMember.id)
    else:
        counted = select(LoyaltyMember.id).where(
            LoyaltyMember.merchant_id == merchant.id, *_member_conditions(filters, now or utcnow())
        )
    return select(func.count()).select_from(counted.limit(COUNT_UP_TO + 1).subquery())


def rows_statement(statement: Select, *, page: int, per_page: int) -> Select:
    """One page of `member_select`, with customer and tier in the same statement."""
    return (
        statement.options(contains_eager(LoyaltyMember.customer), joinedload(LoyaltyMember.tier))
        .limit(per_page)
        .offset((page - 1) * per_page)
    )


def find_members(
    session: Session,
    *,
    merchant: Merchant,
    filters: MemberFilters,
    page: int = 1,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
) -> Page[LoyaltyMember]:
    """One page of matching members: two statements, the count and the rows (with tier).

    Past COUNT_UP_TO matches the page says so (`more`) and pages through the first ones."""
    now = now or utcnow()
    statement = member_select(merchant, filters, now=now)
    counted = session.scalar(count_select(merchant, filters, now=now)) or 0
    total = min(counted, COUNT_UP_TO)
    page = clamp(page, total, per_page)
    rows = session.scalars(rows_statement(statement, page=page, per_page=per_page)).all()
    return Page(list(rows), total, page, per_page, filters.as_args(), more=counted > total)


def filter_choices(session: Session, *, merchant: Merchant) -> dict[str, list[tuple[int, str]]]:
    """The tiers and shops the list's filter menus offer."""
    tiers = session.execute(
        select(LoyaltyTier.id, LoyaltyTier.name)
        .where(LoyaltyTier.merchant_id == merchant.id)
        .order_by(LoyaltyTier.min_points, LoyaltyTier.id)
    ).all()
    shops = session.execute(
        select(Shop.id, Shop.name).where(Shop.merchant_id == merchant.id).order_by(Shop.name)
    ).all()
    return {"tiers": [tuple(r) for r in tiers], "shops": [tuple(r) for r in shops]}
