"""Six tills in three shops serving one member at the same moment, through the real scanner
pages (the Flask app, signed-in cashiers, JSON answers) on PostgreSQL.

Earns and reward redemptions race for the same card, and every operation is sent twice with its
key, as a till does after a timeout. Afterwards: the balance never went below zero, balance ==
Σ ledger == Σ lots, each acknowledged operation is in the ledger exactly once with the shop it
came from, each retry got the first answer back, and a refusal said why and wrote nothing.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import func, select

from loyalty.models import LoyaltyTransaction, Offering, Role, TransactionType
from loyalty.services import merchants
from loyalty.services.earn import earn
from tests import factories
from tests.invariants import assert_ledger_consistent

pytestmark = pytest.mark.postgres_only

SHOPS = ("Gare", "Kirchberg", "Belval")
TILLS_PER_SHOP = 2
OPERATIONS_PER_TILL = 16
START_POINTS = 300
EARN = ("7.50", 7)  # what the cashier types, and the points it gives at 1 point a euro
REWARD_COST = 40
JSON = {"Accept": "application/json"}
RECEIPT = re.compile(r"/staff/receipts/(\d+)$")


@dataclass(frozen=True)
class Outcome:
    till: str
    shop_id: int
    kind: str  # earn | redeem
    key: str
    status: int
    body: dict
    retry_status: int
    retry_body: dict

    @property
    def done(self) -> bool:
        """Acknowledged by the first answer, or by the retry after a refusal (a redemption
        refused for lack of points may go through once another till's earn has landed)."""
        return 200 in (self.status, self.retry_status)

    @property
    def transaction_id(self) -> int:
        body = self.body if self.status == 200 else self.retry_body
        return int(RECEIPT.search(body["redirect"]).group(1))


def test_earns_and_redemptions_racing_from_six_tills_keep_the_ledger_exact(
    app: Flask, committed
) -> None:
    with committed.begin() as session:
        tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE)
        shops = [tenant.shop] + [
            merchants.create_shop(session, merchant=tenant.merchant, name=name)
            for name in SHOPS[1:]
        ]
        cashiers = [
            (factories.make_user(session, tenant, role=Role.STAFF, shop=shop).email, shop.id)
            for shop in shops
            for _ in range(TILLS_PER_SHOP)
        ]
        member = factories.make_member(session, tenant)
        earn(session, member=member, amount_cents=START_POINTS * 100, idempotency_key="opening")
        reward_id = factories.make_reward(session, tenant, cost=REWARD_COST).id
        member_id = member.id
    tills = len(cashiers)
    barrier = threading.Barrier(tills)

    def till(n: int) -> list[Outcome]:
        email, shop_id = cashiers[n]
        client = app.test_client()
        login = client.post("/login", data={"email": email, "password": factories.PASSWORD})
        assert login.status_code in (302, 303), login.get_data(as_text=True)[:500]
        choose = random.Random(n)
        outcomes = []
        barrier.wait()
        for i in range(OPERATIONS_PER_TILL):
            kind = choose.choice(("earn", "redeem"))
            key = f"till-{n}-{i}"
            if kind == "earn":
                url, form = f"/staff/members/{member_id}/earn", {"amount": EARN[0]}
            else:
                url, form = f"/staff/members/{member_id}/redeem", {"reward": str(reward_id)}
            form["idempotency_key"] = key
            first = client.post(url, data=form, headers=JSON)
            again = client.post(url, data=form, headers=JSON)  # the till's retry
            outcomes.append(
                Outcome(
                    f"till-{n}",
                    shop_id,
                    kind,
                    key,
                    first.status_code,
                    first.get_json(silent=True) or {},
                    again.status_code,
                    again.get_json(silent=True) or {},
                )
            )
        return outcomes

    with ThreadPoolExecutor(max_workers=tills) as pool:
        outcomes = [o for batch in pool.map(till, range(tills)) for o in batch]

    statuses = Counter((o.kind, o.status) for o in outcomes)
    assert set(statuses) <= {("earn", 200), ("redeem", 200), ("redeem", 409)}, [
        (o.kind, o.status, o.body) for o in outcomes if o.status not in (200, 409)
    ]
    for outcome in outcomes:
        for status, body in (
            (outcome.status, outcome.body),
            (outcome.retry_status, outcome.retry_body),
        ):
            if status == 409:  # refused: the cashier reads why
                assert body["code"] == "insufficient_points", outcome
                assert f"costs {REWARD_COST} points" in body["detail"]
        if outcome.status == 200:  # the retry got the first answer back
            assert outcome.retry_status == 200, outcome
            assert outcome.retry_body["redirect"] == outcome.body["redirect"], outcome
    earned = [o for o in outcomes if o.kind == "earn"]
    redeemed = [o for o in outcomes if o.kind == "redeem" and o.done]
    refused = [o for o in outcomes if not o.done]

    with committed() as session:
        balance = assert_ledger_consistent(session, member_id)  # never negative, all agree
        rows = session.execute(
            select(LoyaltyTransaction.id, LoyaltyTransaction.type, LoyaltyTransaction.shop_id)
            .where(LoyaltyTransaction.member_id == member_id)
            .order_by(LoyaltyTransaction.id)
        ).all()
        lowest = session.scalar(
            select(func.min(LoyaltyTransaction.balance_after)).where(
                LoyaltyTransaction.member_id == member_id
            )
        )
    ledger = {row.id: row for row in rows[1:]}  # the opening earn aside
    acknowledged = {o.transaction_id: o for o in earned + redeemed}
    print(
        f"{tills} tills in {len(SHOPS)} shops, {len(outcomes)} operations sent twice each: "
        f"{len(earned)} earns, {len(redeemed)} redemptions, {len(refused)} refused for lack of "
        f"points; lowest balance {lowest}, final {balance}"
    )
    assert set(ledger) == set(acknowledged)  # nothing lost, nothing doubled, no phantom
    for transaction_id, outcome in acknowledged.items():
        row = ledger[transaction_id]
        assert row.shop_id == outcome.shop_id  # recorded at the shop that served the member
        expected = TransactionType.EARN if outcome.kind == "earn" else TransactionType.REDEEM
        assert row.type == expected
    assert balance == START_POINTS + EARN[1] * len(earned) - REWARD_COST * len(redeemed)
    assert lowest >= 0
    assert redeemed, "the race should spend points"
    assert refused, "the race should run out of points"
