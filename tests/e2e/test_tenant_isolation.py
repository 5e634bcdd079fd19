"""Another business's ids give 404 on every route that takes an id: the acceptance test of tenancy.

The test walks `app.url_map`, so a new route is covered the day it is added. Every id argument
must be listed in ID_ARGUMENTS with the kind of object it names; a route with an argument
this test does not know fails loudly until someone registers it here.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from loyalty.db import utcnow
from loyalty.models import (
    ApiKey,
    Campaign,
    FraudAlert,
    FraudRule,
    LoyaltyMember,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberImport,
    Membership,
    Promotion,
    PromotionType,
    Reward,
    Role,
    Segment,
    Shop,
    StaffInvitation,
    Voucher,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests import factories
from web.tenancy import MAX_ID


def _purchase(session: Session, tenant: factories.Tenant) -> LoyaltyTransaction:
    """An earn at the tenant's shop: what a till receipt shows."""
    from loyalty.services.earn import earn

    member = factories.make_member(session, tenant)
    result = earn(
        session,
        member=member,
        amount_cents=1000,
        idempotency_key=f"iso-{member.id}",
        shop=tenant.shop,
    )
    return session.get(LoyaltyTransaction, result.transaction_id)


def _voucher(session: Session, tenant: factories.Tenant) -> Voucher:
    member = factories.make_member(session, tenant)
    voucher = Voucher(
        merchant_id=tenant.merchant.id,
        member_id=member.id,
        code=f"ISO{member.id:05d}"[:8],
        valid_until=utcnow() + timedelta(days=30),
    )
    session.add(voucher)
    session.flush()
    return voucher


def _fraud_alert(session: Session, tenant: factories.Tenant) -> FraudAlert:
    """An open alert on a purchase that crossed the amount limit."""
    alert = FraudAlert(
        merchant_id=tenant.merchant.id,
        member_id=factories.make_member(session, tenant).id,
        rule=FraudRule.EARN_AMOUNT,
        amount_cents=250_000,
        observed=250_000,
        threshold=100_000,
    )
    session.add(alert)
    session.flush()
    return alert


def _promotion(session: Session, tenant: factories.Tenant) -> Promotion:
    promotion = Promotion(
        merchant_id=tenant.merchant.id,
        program_id=tenant.program.id,
        name="Double points",
        type=PromotionType.POINTS_MULTIPLIER,
        value=2,
        conditions={},
    )
    session.add(promotion)
    session.flush()
    return promotion


def _segment(session: Session, tenant: factories.Tenant) -> Segment:
    segment = Segment(merchant_id=tenant.merchant.id, name="Everyone", definition={})
    session.add(segment)
    session.flush()
    return segment


def _campaign(session: Session, tenant: factories.Tenant) -> Campaign:
    campaign = Campaign(
        merchant_id=tenant.merchant.id,
        name="Spring",
        channels=["sms"],
        templates={"default": "Hi {first_name}"},
    )
    session.add(campaign)
    session.flush()
    return campaign


def _invitation(session: Session, tenant: factories.Tenant) -> StaffInvitation:
    from loyalty.services import staff

    owner = factories.make_user(session, tenant, role=Role.OWNER)
    return staff.invite(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner),
        email=f"invited-{tenant.merchant.id}@example.com",
        role=Role.STAFF,
        accept_url=lambda token: token,
    ).invitation


def _api_key(session: Session, tenant: factories.Tenant) -> ApiKey:
    """A key row as the back-office lists it (made directly: the tenants here are not Enterprise)."""
    key = ApiKey(
        merchant_id=tenant.merchant.id,
        name="Till",
        prefix="lk_live_test",
        secret_hash=f"{tenant.merchant.id:064d}",
    )
    session.add(key)
    session.flush()
    return key


def _import(session: Session, tenant: factories.Tenant) -> MemberImport:
    """An uploaded CSV waiting for its columns, saved in a temporary directory."""
    from loyalty.services import member_import

    return member_import.save_upload(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(factories.make_user(session, tenant)),
        filename="members.csv",
        stream=io.BytesIO(b"name,email\nAnna,anna@example.com\n"),
        directory=Path(tempfile.mkdtemp(prefix="isolation-imports-")),
    )


@dataclass(frozen=True)
class Kind:
    """What an id argument names, and how to make one such object in a given tenant."""

    model: type
    build: Callable[[Session, factories.Tenant], Any]


ID_ARGUMENTS: dict[str, Kind] = {
    "member_id": Kind(LoyaltyMember, lambda s, t: factories.make_member(s, t)),
    "shop_id": Kind(Shop, lambda s, t: t.shop),
    "reward_id": Kind(Reward, lambda s, t: factories.make_reward(s, t)),
    "tier_id": Kind(LoyaltyTier, lambda s, t: factories.make_tier(s, t, name="Gold", min_points=1)),
    "transaction_id": Kind(LoyaltyTransaction, lambda s, t: _purchase(s, t)),
    "api_key_id": Kind(ApiKey, lambda s, t: _api_key(s, t)),
    "segment_id": Kind(Segment, lambda s, t: _segment(s, t)),
    "campaign_id": Kind(Campaign, lambda s, t: _campaign(s, t)),
    "import_id": Kind(MemberImport, _import),
    "promotion_id": Kind(Promotion, _promotion),
    "endpoint_id": Kind(WebhookEndpoint, factories.make_webhook_endpoint),
    "delivery_id": Kind(WebhookDelivery, factories.make_webhook_delivery),
    "alert_id": Kind(FraudAlert, _fraud_alert),
    "voucher_id": Kind(Voucher, _voucher),
    "membership_id": Kind(
        Membership, lambda s, t: factories.make_user(s, t, role=Role.STAFF).memberships[0]
    ),
    "invitation_id": Kind(StaffInvitation, lambda s, t: _invitation(s, t)),
}

# Blueprints whose id routes are deliberately not scoped to one merchant, and why.
NOT_TENANT_SCOPED = {
    "admin": "the platform operator's view across merchants; test_roles checks only admins get in",
    # Apple's PassKit web service: each call is authorised by the pass's own authentication
    # token, and its pass_type_id is Apple's pass type identifier string, not a row id.
    "passkit": "authenticated per pass by Apple's protocol, not by a signed-in merchant",
    # The public API authenticates with an API key, not a session: test_api_tenant_isolation
    # walks every /api/v1 rule with another merchant's ids and a key.
    "api": "authenticated per request by an API key; walked by test_api_tenant_isolation.py",
}

_INT_ARGUMENT = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _id_arguments(rule: Rule) -> list[str]:
    """Arguments that are ids: every <int:...> one, and any other named like an id."""
    named = {a for a in rule.arguments if a == "id" or a.endswith("_id")}
    return sorted(named | set(_INT_ARGUMENT.findall(rule.rule)))


def _tenant_rules(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if _id_arguments(rule) and rule.endpoint.split(".")[0] not in NOT_TENANT_SCOPED
    ]


class World:
    """Two businesses; objects are made on demand, once per argument and business."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.mine = factories.make_tenant(session, name="Bakery Dupont")
        self.theirs = factories.make_tenant(session, name="Florist Weber")
        self._ids: dict[tuple[str, int], int] = {}

    def id_of(self, argument: str, tenant: factories.Tenant) -> int:
        key = (argument, tenant.merchant.id)
        if key not in self._ids:
            kind = ID_ARGUMENTS[argument]
            row = kind.build(self.session, tenant)
            assert isinstance(row, kind.model)
            assert row.merchant_id == tenant.merchant.id
            self._ids[key] = row.id
        return self._ids[key]

    def url(self, app: Flask, rule: Rule, foreign: set[str]) -> str:
        """The rule's URL with ids of the other business for `foreign`, our own for the rest."""
        values = {
            arg: self.id_of(arg, self.theirs if arg in foreign else self.mine)
            for arg in _id_arguments(rule)
        }
        with app.test_request_context():
            adapter = app.url_map.bind("localhost")
            return adapter.build(rule.endpoint, values, method=_first_method(rule))


def _first_method(rule: Rule) -> str:
    return next(m for m in _METHODS if m in (rule.methods or ()))


def _variants(rule: Rule) -> list[set[str]]:
    """All ids foreign; and, with several ids, each one foreign alone (a child of my parent)."""
    arguments = _id_arguments(rule)
    variants = [set(arguments)]
    if len(arguments) > 1:
        variants += [{arg} for arg in arguments]
    return variants


@pytest.fixture
def world(session: Session) -> World:
    return World(session)


def test_every_id_route_names_an_object_kind_this_test_knows(app: Flask) -> None:
    unknown = {
        f"{rule.rule} ({arg})"
        for rule in _tenant_rules(app)
        for arg in _id_arguments(rule)
        if arg not in ID_ARGUMENTS
    }
    assert not unknown, (
        "Routes take ids this isolation test cannot fill in. Add each argument to "
        f"ID_ARGUMENTS in {__file__} with the model it names: {sorted(unknown)}"
    )


def test_the_walk_covers_the_known_member_and_shop_routes(app: Flask) -> None:
    rules = {rule.rule for rule in _tenant_rules(app)}
    assert {
        "/backoffice/members/<int:member_id>",
        "/backoffice/shops/<int:shop_id>",
        "/staff/members/<int:member_id>",
    } <= rules


def test_another_merchants_ids_give_404_on_every_id_route(
    app: Flask, client, login_as, session: Session, world: World
) -> None:
    login_as(factories.make_user(session, world.mine, role=Role.OWNER))
    leaks = []
    for rule in _tenant_rules(app):
        for foreign in _variants(rule):
            url = world.url(app, rule, foreign)
            for method in (m for m in _METHODS if m in (rule.methods or ())):
                status = client.open(url, method=method).status_code
                if status != 404:
                    leaks.append(
                        f"{method} {url} ({rule.endpoint}, foreign {sorted(foreign)}): {status}"
                    )
    assert not leaks, "Another business's ids did not give 404:\n" + "\n".join(leaks)


def test_own_ids_open_every_id_route_for_the_owner(
    app: Flask, client, login_as, session: Session, world: World
) -> None:
    login_as(factories.make_user(session, world.mine, role=Role.OWNER))
    refused = []
    for rule in _tenant_rules(app):
        if "GET" not in (rule.methods or ()):
            continue
        url = world.url(app, rule, foreign=set())
        status = client.get(url).status_code
        if status == 404:
            refused.append(f"GET {url}: {status}")
    assert not refused, "The owner's own ids gave 404:\n" + "\n".join(refused)


def test_shop_staff_learn_nothing_about_another_merchants_ids(
    app: Flask, client, login_as, session: Session, world: World
) -> None:
    """Where staff may go, foreign ids are 404; where they may not, the answer is the same either way."""
    login_as(factories.make_user(session, world.mine, role=Role.STAFF, shop=world.mine.shop))
    leaks = []
    for rule in _tenant_rules(app):
        if "GET" not in (rule.methods or ()):
            continue
        own = client.get(world.url(app, rule, foreign=set())).status_code
        for foreign in _variants(rule):
            url = world.url(app, rule, foreign)
            status = client.get(url).status_code
            expected = 404 if own == 200 else own
            if status != expected:
                leaks.append(f"GET {url}: {status}, expected {expected}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("bad_id", [0, 987654, MAX_ID, MAX_ID + 1, 10**30])
def test_ids_that_name_nothing_give_404_not_500(
    app: Flask, client, login_as, session: Session, world: World, bad_id: int
) -> None:
    login_as(factories.make_user(session, world.mine, role=Role.OWNER))
    for rule in _tenant_rules(app):
        url = world.url(app, rule, foreign=set())
        for arg in _id_arguments(rule):
            good = str(world.id_of(arg, world.mine))
            broken = re.sub(rf"/{good}(?=/|$)", f"/{bad_id}", url, count=1)
            # Each route's own method: a POST-only action answers GET with 405 whatever the id.
            method = _first_method(rule)
            assert client.open(broken, method=method).status_code == 404, f"{method} {broken}"
