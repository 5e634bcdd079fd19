"""Many tills at once on PostgreSQL: row locks and idempotency keys keep points and stock exact.

These tests commit for real (threads cannot share the rolled-back test transaction), so they
use their own engine and wipe their rows afterwards.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db import Base, make_engine
from loyalty.errors import InsufficientPoints, LoyaltyError, RewardLimitReached, RewardOutOfStock
from loyalty.models import LoyaltyMember, LoyaltyTransaction, RedemptionLimit, Reward, Voucher
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from tests import factories
from tests.invariants import assert_ledger_consistent

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def committed(app: Flask) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=25, max_overflow=0)
    yield sessionmaker(engine, expire_on_commit=False)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def in_parallel(count: int, work: Callable[[int], object]) -> list[object]:
    """Start `count` calls together (a barrier), each in its own thread and session."""
    barrier = threading.Barrier(count)

    def run(i: int) -> object:
        barrier.wait()
        try:
            return work(i)
        except LoyaltyError as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _setup(
    Session: sessionmaker[Session],
    *,
    points: int,
    members: int = 1,
    reward_cost: int = 100,
    stock: int | None = None,
    limit: RedemptionLimit = RedemptionLimit.REPEATABLE,
) -> tuple[list[int], int]:
    """Committed members holding `points` each, and one reward; returns their ids."""
    with Session.begin() as session:
        tenant = factories.make_tenant(session)
        ids = []
        for _ in range(members):
            member = factories.make_member(session, tenant)
            if points:
                earn(
                    session,
                    member=member,
                    amount_cents=points * 100,
                    idempotency_key=f"seed-{member.id}",
                )
            ids.append(member.id)
        reward = factories.make_reward(session, tenant, cost=reward_cost, stock=stock, limit=limit)
        return ids, reward.id


def _tills_redeeming(committed, member_id: int, reward_id: int, tills: int):
    """`tills` redemptions of one reward for one member at once: vouchers issued, refusals."""

    def attempt(i: int) -> object:
        with committed.begin() as session:
            return redeem(
                session,
                member=session.get(LoyaltyMember, member_id),
                reward=session.get(Reward, reward_id),
                idempotency_key=f"till-{i}",
            ).code

    outcomes = in_parallel(tills, attempt)
    refusals = Counter(type(o).__name__ for o in outcomes if isinstance(o, Exception))
    return sum(isinstance(o, str) for o in outcomes), refusals


def test_fifty_tills_redeeming_from_a_member_who_can_afford_three(committed) -> None:
    (member_id,), reward_id = _setup(committed, points=300)
    issued, refusals = _tills_redeeming(committed, member_id, reward_id, 50)
    assert issued == 3
    assert refusals == {InsufficientPoints.__name__: 47}
    with committed() as session:
        assert assert_ledger_consistent(session, member_id) == 0


def test_twenty_tills_redeeming_a_once_per_member_reward_issue_one_voucher(committed) -> None:
    (member_id,), reward_id = _setup(committed, points=5000, limit=RedemptionLimit.ONCE)
    issued, refusals = _tills_redeeming(committed, member_id, reward_id, 20)
    assert issued == 1
    assert refusals == {RewardLimitReached.__name__: 19}
    with committed() as session:
        assert session.scalar(select(func.count(Voucher.id))) == 1
        assert assert_ledger_consistent(session, member_id) == 4900


def test_hundred_members_racing_for_a_reward_with_ten_in_stock(committed) -> None:
    member_ids, reward_id = _setup(committed, points=100, members=100, stock=10)

    def attempt(i: int) -> object:
        with committed.begin() as session:
            return redeem(
                session,
                member=session.get(LoyaltyMember, member_ids[i]),
                reward=session.get(Reward, reward_id),
                idempotency_key=f"race-{i}",
            ).code

    outcomes = in_parallel(100, attempt)
    assert sum(isinstance(o, str) for o in outcomes) == 10
    assert all(isinstance(o, RewardOutOfStock) for o in outcomes if not isinstance(o, str))
    with committed() as session:
        assert session.scalar(select(Reward.stock).where(Reward.id == reward_id)) == 0
        assert session.scalar(select(func.count(Voucher.id))) == 10
        for member_id in member_ids:
            assert_ledger_consistent(session, member_id)


def test_twenty_replays_of_one_idempotency_key_write_one_row(committed) -> None:
    (member_id,), _ = _setup(committed, points=0)

    def attempt(_: int) -> object:
        with committed.begin() as session:
            return earn(
                session,
                member=session.get(LoyaltyMember, member_id),
                amount_cents=2500,
                idempotency_key="network-retry",
            ).transaction_id

    outcomes = in_parallel(20, attempt)
    assert len(set(outcomes)) == 1, outcomes
    with committed() as session:
        rows = session.scalar(select(func.count()).where(LoyaltyTransaction.member_id == member_id))
        assert rows == 1
        assert assert_ledger_consistent(session, member_id) == 25


def test_earns_and_redemptions_from_several_shops_add_up(committed) -> None:
    (member_id,), reward_id = _setup(committed, points=200, reward_cost=30)

    def till(i: int) -> object:
        with committed.begin() as session:
            member = session.get(LoyaltyMember, member_id)
            if i % 2:
                return earn(
                    session, member=member, amount_cents=1000, idempotency_key=f"e{i}"
                ).points
            return -redeem(
                session,
                member=member,
                reward=session.get(Reward, reward_id),
                idempotency_key=f"r{i}",
            ).points_spent

    outcomes = in_parallel(24, till)
    moved = sum(o for o in outcomes if isinstance(o, int))
    with committed() as session:
        assert assert_ledger_consistent(session, member_id) == 200 + moved
