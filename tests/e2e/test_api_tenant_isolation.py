"""Another business's ids give 404 through the API too: every /api/v1 rule, and ids in bodies.

The sibling of test_tenant_isolation.py (which walks the signed-in pages): the API authenticates
with a key, so this walk sends one. A new API route with an id is covered the day it is added.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests import factories
from tests.e2e.api_support import ApiTenant, make_api_tenant
from tests.e2e.test_tenant_isolation import ID_ARGUMENTS, _id_arguments, _voucher

ARGUMENTS = {**{name: kind.build for name, kind in ID_ARGUMENTS.items()}, "code": _voucher}
# A body each route accepts, so that only the foreign id can be why it refuses.
BODIES = {
    "api.void_voucher": {"reason": "isolation test"},
    "api.return_reward": {"reason": "isolation test"},
}


def _api_rules(app: Flask):
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and (set(rule.arguments) & set(ARGUMENTS))
    ]


@pytest.fixture
def mine(session: Session) -> ApiTenant:
    return make_api_tenant(session, name="Bakery Dupont")


@pytest.fixture
def theirs(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, name="Florist Weber")


def _value(session: Session, argument: str, tenant: factories.Tenant) -> object:
    row = ARGUMENTS[argument](session, tenant)
    assert row.merchant_id == tenant.merchant.id
    return row.code if argument == "code" else row.id


def test_every_api_argument_is_known(app: Flask) -> None:
    unknown = {
        f"{rule.rule} ({arg})"
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for arg in set(_id_arguments(rule)) | set(rule.arguments)
        if arg not in ARGUMENTS
    }
    assert not unknown, f"Add these API arguments to ARGUMENTS here: {sorted(unknown)}"


def test_the_walk_covers_member_transaction_and_voucher_routes(app: Flask) -> None:
    rules = {rule.rule for rule in _api_rules(app)}
    assert {
        "/api/v1/members/<int:member_id>",
        "/api/v1/transactions/<int:transaction_id>/refund",
        "/api/v1/vouchers/<code>/use",
    } <= rules


def test_another_merchants_ids_give_404_on_every_api_route(
    app: Flask, client, session: Session, mine: ApiTenant, theirs: factories.Tenant
) -> None:
    leaks = []
    for rule in _api_rules(app):
        values = {arg: _value(session, arg, theirs) for arg in rule.arguments}
        with app.test_request_context():
            url = app.url_map.bind("localhost").build(rule.endpoint, values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            body = BODIES.get(rule.endpoint, {}) if method in ("POST", "PATCH") else None
            response = client.open(url, method=method, json=body, headers=mine.headers)
            if response.status_code != 404:
                leaks.append(f"{method} {url}: {response.status_code}")
    assert not leaks, "Another business's ids did not give 404:\n" + "\n".join(leaks)


def test_another_merchants_ids_in_bodies_give_404(
    client, session: Session, mine: ApiTenant, theirs: factories.Tenant
) -> None:
    my_member = factories.make_member(session, mine.tenant).id
    my_reward = factories.make_reward(session, mine.tenant).id
    their_member = factories.make_member(session, theirs).id
    their_reward = factories.make_reward(session, theirs).id
    their_shop = theirs.shop.id
    requests = [
        ("/api/v1/transactions", {"member_id": their_member, "amount_cents": 100}),
        (
            "/api/v1/transactions",
            {"member_id": my_member, "amount_cents": 100, "shop_id": their_shop},
        ),
        ("/api/v1/redemptions", {"member_id": their_member, "reward_id": my_reward}),
        ("/api/v1/redemptions", {"member_id": my_member, "reward_id": their_reward}),
        ("/api/v1/promotions/evaluate", {"member_id": their_member, "amount_cents": 100}),
        (
            "/api/v1/promotions/evaluate",
            {"member_id": my_member, "amount_cents": 100, "shop_id": their_shop},
        ),
    ]
    leaks = []
    for path, body in requests:
        response = client.post(path, json=body, headers=mine.headers)
        if response.status_code != 404:
            leaks.append(f"POST {path} {body}: {response.status_code}")
    listed = client.get(f"/api/v1/transactions?member_id={their_member}", headers=mine.headers)
    assert listed.json["data"] == []
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("bad_id", [0, 987654, 2**31 - 1, 2**31, 10**30])
def test_ids_that_name_nothing_give_404_not_500(client, mine: ApiTenant, bad_id: int) -> None:
    for path in ("/api/v1/members/{}", "/api/v1/transactions/{}"):
        assert client.get(path.format(bad_id), headers=mine.headers).status_code == 404
