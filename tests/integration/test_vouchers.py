"""Vouchers at the till: used once, replayable, refused with a reason; voiding gives points back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty.errors import (
    InvalidInput,
    NotFound,
    NothingToReverse,
    PermissionDenied,
    VoucherNotUsable,
)
from loyalty.models import (
    LoyaltyTransaction,
    Reward,
    Role,
    TransactionType,
    VoucherStatus,
)
from loyalty.services.actors import Actor
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from loyalty.services.vouchers import (
    find_voucher,
    format_code,
    open_vouchers,
    return_reward,
    use_voucher,
    void_voucher,
)
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)  # 10:00 in Luxembourg
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def member(session, tenant):
    member = factories.make_member(session, tenant)
    earn(session, member=member, amount_cents=30_000, idempotency_key="earn", at=NOW)
    assert_ledger_consistent(session, member.id)
    return member


@pytest.fixture
def reward(session, tenant):
    return factories.make_reward(session, tenant, cost=100, stock=10)


def staff(session, tenant, role: Role) -> Actor:
    shop = tenant.shop if role == Role.STAFF else None
    user = factories.make_user(session, tenant, role=role, shop=shop)
    return factories.actor_for(user, role, shop)


@pytest.fixture
def cashier(session, tenant):
    return staff(session, tenant, Role.STAFF)


@pytest.fixture
def voucher(session, member, reward):
    voucher = redeem(session, member=member, reward=reward, idempotency_key="redeem", now=NOW)
    assert_ledger_consistent(session, member.id)
    return voucher


def ledger_rows(session, member) -> list[tuple[TransactionType, int]]:
    return [
        (row.type, row.points)
        for row in session.scalars(
            select(LoyaltyTransaction)
            .where(LoyaltyTransaction.member_id == member.id)
            .order_by(LoyaltyTransaction.id)
        )
    ]


def use(session, tenant, voucher, actor, key="use", at=NOW + timedelta(hours=1), shop=None):
    return use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key=key,
        actor=actor,
        shop=shop or tenant.shop,
        now=at,
    )


def test_using_a_voucher_marks_it_used_with_shop_and_time(session, tenant, voucher, cashier):
    used = use(session, tenant, voucher, cashier)
    assert used.id == voucher.id
    assert used.status == VoucherStatus.USED
    assert used.used_at == NOW + timedelta(hours=1)
    assert used.used_shop_id == tenant.shop.id


def test_the_code_is_accepted_as_typed_at_the_till(session, tenant, voucher, cashier):
    typed = " " + format_code(voucher.code).lower() + " "
    used = use_voucher(
        session, merchant=tenant.merchant, code=typed, idempotency_key="u", actor=cashier, now=NOW
    )
    assert used.id == voucher.id


def test_a_second_use_is_refused_saying_when_and_where(session, tenant, voucher, cashier):
    use(session, tenant, voucher, cashier, key="first")
    with pytest.raises(VoucherNotUsable) as caught:
        use(session, tenant, voucher, cashier, key="second", at=NOW + timedelta(days=1))
    # Used at 10:00 UTC, shown in the merchant's time zone (11:00 in Luxembourg in winter).
    assert caught.value.message == (
        f"Voucher {format_code(voucher.code)} was already used on 15 Jan 2024 11:00 at Main street."
    )
    assert voucher.used_at == NOW + timedelta(hours=1)


def test_a_replayed_use_with_the_same_key_returns_the_voucher(session, tenant, voucher, cashier):
    first = use(session, tenant, voucher, cashier, key="same")
    again = use(session, tenant, voucher, cashier, key="same", at=NOW + timedelta(hours=2))
    assert again.id == first.id
    assert again.used_at == NOW + timedelta(hours=1)


def test_an_expired_voucher_is_refused_with_its_expiry_date(session, tenant, voucher, cashier):
    after = voucher.valid_until + timedelta(seconds=1)
    with pytest.raises(VoucherNotUsable, match="expired on 14 Feb 2024 10:00"):
        use(session, tenant, voucher, cashier, at=after)
    assert voucher.status == VoucherStatus.ISSUED


def test_a_voucher_is_usable_until_just_before_its_expiry(session, tenant, voucher, cashier):
    with pytest.raises(VoucherNotUsable):
        use(session, tenant, voucher, cashier, key="late", at=voucher.valid_until)
    used = use(session, tenant, voucher, cashier, at=voucher.valid_until - timedelta(seconds=1))
    assert used.status == VoucherStatus.USED


def test_another_merchants_code_is_not_found(session, tenant, voucher, cashier):
    other = factories.make_tenant(session)
    with pytest.raises(NotFound, match=f"No voucher {format_code(voucher.code)} at"):
        use_voucher(
            session, merchant=other.merchant, code=voucher.code, idempotency_key="u", actor=cashier
        )
    assert voucher.status == VoucherStatus.ISSUED


def test_a_shop_of_another_merchant_is_refused(session, tenant, voucher, cashier):
    other = factories.make_tenant(session)
    with pytest.raises(NotFound):
        use(session, tenant, voucher, cashier, shop=other.shop)
    session.refresh(voucher)
    assert voucher.status == VoucherStatus.ISSUED


@pytest.mark.parametrize("code", ["", "   ", "ABC$1234", "X" * 17])
def test_a_malformed_code_is_refused_with_an_example(session, tenant, cashier, code):
    with pytest.raises(InvalidInput, match="8 letters and digits"):
        find_voucher(session, merchant=tenant.merchant, code=code)


def test_void_returns_the_points_as_a_new_reverse_row_and_the_stock(
    session, tenant, member, reward, voucher
):
    manager = staff(session, tenant, Role.MANAGER)
    assert (member.points_balance, reward.stock) == (200, 9)
    voided = void_voucher(
        session,
        voucher=voucher,
        reason="Customer changed their mind",
        idempotency_key="v",
        actor=manager,
        now=NOW + timedelta(hours=2),
    )
    assert voided.status == VoucherStatus.VOID
    assert voided.void_reason == "Customer changed their mind"
    assert voided.voided_at == NOW + timedelta(hours=2)
    assert ledger_rows(session, member) == [
        (TransactionType.EARN, 300),
        (TransactionType.REDEEM, -100),  # untouched: corrections are new rows
        (TransactionType.REVERSE, 100),
    ]
    reverse = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.type == TransactionType.REVERSE)
    ).one()
    assert reverse.reverses_id == voucher.transaction_id
    assert reverse.created_by == manager.user_id
    assert assert_ledger_consistent(session, member.id) == 300
    assert reward.stock == 10


def test_a_voided_voucher_cannot_be_used(session, tenant, voucher, cashier):
    void_voucher(
        session, voucher=voucher, reason="Mistake", idempotency_key="v", actor=cashier, now=LATER
    )
    with pytest.raises(VoucherNotUsable, match="was cancelled"):
        use(session, tenant, voucher, cashier)


def test_voiding_twice_gives_the_points_back_once(session, tenant, member, voucher, cashier):
    void_voucher(
        session, voucher=voucher, reason="Mistake", idempotency_key="v1", actor=cashier, now=LATER
    )
    void_voucher(
        session, voucher=voucher, reason="Mistake", idempotency_key="v2", actor=cashier, now=LATER
    )
    assert assert_ledger_consistent(session, member.id) == 300
    assert len(ledger_rows(session, member)) == 3


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_void_needs_a_reason_and_changes_nothing(session, member, reward, voucher, cashier, reason):
    with pytest.raises(InvalidInput, match="Say why") as caught:
        void_voucher(
            session, voucher=voucher, reason=reason, idempotency_key="v", actor=cashier, now=LATER
        )
    assert caught.value.field == "reason"
    assert voucher.status == VoucherStatus.ISSUED
    assert assert_ledger_consistent(session, member.id) == 200
    session.refresh(reward)
    assert reward.stock == 9


def test_voiding_a_used_voucher_is_refused_and_changes_nothing(
    session, tenant, member, reward, voucher, cashier
):
    use(session, tenant, voucher, cashier)
    with pytest.raises(VoucherNotUsable, match="already used"):
        void_voucher(
            session, voucher=voucher, reason="Oops", idempotency_key="v", actor=cashier, now=LATER
        )
    assert voucher.status == VoucherStatus.USED
    assert len(ledger_rows(session, member)) == 2
    assert assert_ledger_consistent(session, member.id) == 200
    session.refresh(reward)
    assert reward.stock == 9


def test_voiding_keeps_unlimited_stock_unlimited(session, tenant, member, cashier):
    unlimited = factories.make_reward(session, tenant, cost=50, stock=None)
    voucher = redeem(session, member=member, reward=unlimited, idempotency_key="r", now=NOW)
    void_voucher(
        session, voucher=voucher, reason="Mistake", idempotency_key="v", actor=cashier, now=LATER
    )
    session.refresh(unlimited)
    assert unlimited.stock is None


def test_open_vouchers_lists_issued_unexpired_vouchers_soonest_first(
    session, tenant, member, reward, cashier
):
    long_lived = factories.make_reward(session, tenant, cost=10, name="Long")
    long_lived.validity_days = 90
    keep_late = redeem(session, member=member, reward=long_lived, idempotency_key="a", now=NOW)
    keep_soon = redeem(session, member=member, reward=reward, idempotency_key="b", now=NOW)
    used = redeem(session, member=member, reward=reward, idempotency_key="c", now=NOW)
    use(session, tenant, used, cashier)
    assert open_vouchers(session, member=member, now=NOW) == [keep_soon, keep_late]
    later = NOW + timedelta(days=31)
    assert open_vouchers(session, member=member, now=later) == [keep_late]


def test_an_expired_voucher_cannot_be_cancelled_for_its_points(session) -> None:
    from datetime import timedelta

    from loyalty.errors import VoucherNotUsable
    from loyalty.services.earn import earn
    from loyalty.services.rewards import redeem
    from loyalty.services.vouchers import void_voucher

    tenant = factories.make_tenant(session)
    member = factories.make_member(session, tenant)
    reward = factories.make_reward(session, tenant, cost=100)
    earn(session, member=member, amount_cents=10_000, idempotency_key="buy")
    voucher = redeem(session, member=member, reward=reward, idempotency_key="redeem")
    later = voucher.valid_until + timedelta(minutes=1)
    with pytest.raises(VoucherNotUsable, match="expired"):
        void_voucher(
            session,
            voucher=voucher,
            reason="too late",
            idempotency_key="void",
            actor=factories.actor_for(factories.make_user(session, tenant)),
            now=later,
        )
    session.refresh(member)
    assert member.points_balance == 0


def test_shop_staff_accept_vouchers_only_at_their_own_shop(session, tenant, member) -> None:
    from loyalty.errors import PermissionDenied
    from loyalty.services import merchants
    from loyalty.services.earn import earn
    from loyalty.services.rewards import redeem
    from loyalty.services.vouchers import use_voucher

    other_shop = merchants.create_shop(session, merchant=tenant.merchant, name="Gare")
    reward = factories.make_reward(session, tenant, cost=100)
    earn(session, member=member, amount_cents=10_000, idempotency_key="buy", at=NOW)
    voucher = redeem(session, member=member, reward=reward, idempotency_key="r", now=NOW)
    cashier = staff(session, tenant, Role.STAFF)  # bound to tenant.shop
    with pytest.raises(PermissionDenied, match="shop you work in"):
        use_voucher(
            session,
            merchant=tenant.merchant,
            code=voucher.code,
            idempotency_key="u",
            actor=cashier,
            shop=other_shop,
            now=LATER,
        )
    assert voucher.status == VoucherStatus.ISSUED
    used = use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="u2",
        actor=cashier,
        shop=tenant.shop,
        now=LATER,
    )
    assert used.status == VoucherStatus.USED


# --- a reward handed over and brought back --------------------------------------------------


def test_a_returned_reward_re_credits_its_points_and_its_stock(
    session, tenant, member, reward, voucher, cashier
):
    use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="use",
        actor=cashier,
        now=LATER,
    )
    assert (member.points_balance, reward.stock) == (200, 9)
    manager = staff(session, tenant, Role.MANAGER)
    when = LATER + timedelta(days=3)  # long after the till's 10-minute undo
    returned = return_reward(
        session,
        voucher=voucher,
        reason="Cake returned unopened",
        idempotency_key="return-1",
        actor=manager,
        now=when,
    )
    assert returned.status == VoucherStatus.VOID
    assert returned.void_reason == "Cake returned unopened"
    session.refresh(reward)
    assert reward.stock == 10
    assert assert_ledger_consistent(session, member.id) == 300
    row = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.idempotency_key == "return-1")
    ).one()
    assert (row.type, row.points, row.reverses_id) == (
        TransactionType.REVERSE,
        100,
        voucher.transaction_id,
    )
    assert row.description.startswith(f"Reward returned (voucher {format_code(voucher.code)})")
    # The same return sent again changes nothing; a second, different return is refused.
    return_reward(
        session, voucher=voucher, reason="again", idempotency_key="return-1", actor=manager
    )
    with pytest.raises(NothingToReverse, match="already cancelled or returned"):
        return_reward(
            session, voucher=voucher, reason="again", idempotency_key="return-2", actor=manager
        )
    assert assert_ledger_consistent(session, member.id) == 300
    assert session.scalar(select(Reward.stock).where(Reward.id == reward.id)) == 10


def test_only_a_used_reward_voucher_can_be_returned_and_not_by_a_cashier(
    session, tenant, member, voucher, cashier
):
    manager = staff(session, tenant, Role.MANAGER)
    with pytest.raises(NothingToReverse, match=r"never used.*cancel it instead"):
        return_reward(session, voucher=voucher, reason="x", idempotency_key="r1", actor=manager)
    use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="u",
        actor=cashier,
        now=LATER,
    )
    with pytest.raises(PermissionDenied):
        return_reward(session, voucher=voucher, reason="x", idempotency_key="r2", actor=cashier)
    with pytest.raises(InvalidInput):
        return_reward(session, voucher=voucher, reason=" ", idempotency_key="r3", actor=manager)
    assert voucher.status == VoucherStatus.USED
    assert assert_ledger_consistent(session, member.id) == 200
