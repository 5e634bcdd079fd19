"""A business's shops from the back-office: open, edit, close and reopen, within the offering.

The offering's shop limit counts open shops and holds at creation and at reopening
(`offerings.require_shop_capacity`), so a Basic merchant can move to a new address by
closing the old shop first. Closed shops keep their history (receipts, staff bound to them).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.errors import InvalidInput, NotFound, PermissionDenied
from loyalty.models import Merchant, Role, Shop
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.merchants import _bounded, _timezone


def require_open(shop: Shop) -> None:
    """A closed shop's till is closed: staff bound to it serve nobody until moved."""
    if not shop.active:
        raise PermissionDenied(
            f"{shop.name} is closed, so its till is closed too. Ask a manager to move you to "
            "an open shop under Team."
        )


def open_shop_count(session: Session, merchant: Merchant) -> int:
    return (
        session.scalar(
            select(func.count(Shop.id)).where(
                Shop.merchant_id == merchant.id, Shop.active.is_(True)
            )
        )
        or 0
    )


def _check_capacity(session: Session, merchant: Merchant) -> None:
    # Lock the merchant row so two managers adding shops at once cannot pass the limit together.
    session.execute(select(Merchant.id).where(Merchant.id == merchant.id).with_for_update())
    offerings.require_shop_capacity(merchant, open_shop_count(session, merchant))


def _fields(name: str, address: str, timezone: str) -> tuple[str, str, str]:
    name = _bounded(name, limit=120, what="A shop name", field="name")
    if not name:
        raise InvalidInput("Give the shop a name.", field="name")
    address = _bounded(address, limit=300, what="An address", field="address")
    return name, address, _timezone((timezone or "").strip())


def _unique_name(
    session: Session, merchant: Merchant, name: str, shop_id: int | None = None
) -> None:
    """Two shops of one name could not be told apart in the till's and the forms' pickers."""
    clash = session.scalar(
        select(Shop.id).where(
            Shop.merchant_id == merchant.id,
            func.lower(Shop.name) == name.lower(),
            Shop.id != (shop_id or 0),
        )
    )
    if clash is not None:
        raise InvalidInput(
            f"There is already a shop called {name}. Give this one another name.", field="name"
        )


def _own(shop: Shop | None, merchant: Merchant) -> Shop:
    if shop is None or shop.merchant_id != merchant.id:
        raise NotFound(f"That shop does not exist in {merchant.name}.")
    return shop


def create(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    name: str,
    address: str = "",
    timezone: str = "",
) -> Shop:
    actor.require_role(Role.MANAGER, "add a shop")
    name, address, timezone = _fields(name, address, timezone or merchant.timezone)
    _unique_name(session, merchant, name)
    _check_capacity(session, merchant)
    shop = Shop(merchant_id=merchant.id, name=name, address=address, timezone=timezone)
    session.add(shop)
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="shop.created",
        target_type="shop",
        target_id=shop.id,
        name=name,
    )
    return shop


def update(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    shop: Shop | None,
    name: str,
    address: str,
    timezone: str,
) -> Shop:
    actor.require_role(Role.MANAGER, "change a shop")
    shop = _own(shop, merchant)
    name, address, timezone = _fields(name, address, timezone)
    _unique_name(session, merchant, name, shop.id)
    before = {"name": shop.name, "address": shop.address, "timezone": shop.timezone}
    shop.name, shop.address, shop.timezone = name, address, timezone
    after = {"name": name, "address": address, "timezone": timezone}
    session.flush()
    if before != after:
        audit.record(
            session,
            merchant_id=merchant.id,
            actor=actor,
            action="shop.changed",
            target_type="shop",
            target_id=shop.id,
            before=before,
            after=after,
        )
    return shop


def set_active(
    session: Session, *, merchant: Merchant, actor: Actor, shop: Shop | None, active: bool
) -> Shop:
    """Close a shop (its till stops, history stays) or reopen it if the offering has room."""
    actor.require_role(Role.MANAGER, "open or close a shop")
    shop = _own(shop, merchant)
    if shop.active == active:
        return shop
    if active:
        _check_capacity(session, merchant)
    shop.active = active
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="shop.reopened" if active else "shop.closed",
        target_type="shop",
        target_id=shop.id,
        name=shop.name,
    )
    return shop
