"""Any sequence of earn, redeem, adjust, refund, void, use, return, expiry, release, membership
payments and stamping keeps the ledger whole.

A hypothesis state machine drives the real services against the real database (SQLite, and
PostgreSQL when configured), with a return window and a paid membership the merchant switches
on and off. After every step: balance + pending == Σ ledger == Σ lots.remaining, pending ==
Σ pending lots, never negative; a once-per-member reward is held at most once at a time (void
and returned vouchers free it); and every refusal leaves the figures exactly as they were.
A second merchant runs a stamp card (3 stamps a card, per item) on the same ledger: a visit
never leaves a full card behind, every full card is one voucher for exactly 3 stamps. The
first merchant tries to switch between points and stamps, which succeeds only when no member
holds anything.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import LoyaltyError
from loyalty.models import (
    ExpiryPolicy,
    LoyaltyTransaction,
    ProgramKind,
    RedemptionLimit,
    RefundShortfall,
    Role,
    Voucher,
    VoucherStatus,
)
from loyalty.services import membership, programme_settings, referrals, stamps
from loyalty.services.corrections import adjust, reverse
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from loyalty.services.expiry import expire_points
from loyalty.services.pending import release_due
from loyalty.services.rewards import redeem
from loyalty.services.vouchers import find_voucher, return_reward, use_voucher, void_voucher
from tests import factories
from tests.invariants import assert_ledger_consistent, ledger_figures

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def ledger_machine(session: Session) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        purchases = Bundle("purchases")
        vouchers = Bundle("vouchers")
        used_vouchers = Bundle("used_vouchers")

        @initialize()
        def open_account(self) -> None:
            self.savepoint = session.begin_nested()
            self.tenant = factories.make_tenant(session)
            self.tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
            self.tenant.program.expiry_days = 30
            self.tenant.program.referrer_bonus = 40
            self.tenant.program.referee_bonus = 15
            self.tenant.program.referral_min_spend_cents = 1000
            self.friends = 0
            self.member = factories.make_member(session, self.tenant)
            self.rewards = [
                factories.make_reward(session, self.tenant, cost=cost, stock=stock)
                for cost, stock in ((50, None), (120, 3), (400, 1))
            ]
            self.rewards.append(
                factories.make_reward(session, self.tenant, cost=30, limit=RedemptionLimit.ONCE)
            )
            owner = factories.make_user(session, self.tenant)
            self.manager = factories.actor_for(owner, Role.MANAGER)
            self.now = START
            self.keys = 0
            self.owner = factories.actor_for(owner, Role.OWNER)
            self.open_stamp_card()

        def open_stamp_card(self) -> None:
            self.cafe = factories.make_tenant(session)
            factories.make_stamp_card(session, self.cafe, size=3)
            program = self.cafe.program
            program.expiry_policy = ExpiryPolicy.AFTER_DAYS
            program.expiry_days = 30
            self.regular = factories.make_member(session, self.cafe)
            self.cafe_manager = factories.actor_for(
                factories.make_user(session, self.cafe), Role.MANAGER
            )

        def teardown(self) -> None:
            if getattr(self, "savepoint", None) is not None and self.savepoint.is_active:
                self.savepoint.rollback()

        def key(self) -> str:
            self.keys += 1
            return f"step-{self.keys}"

        def attempt(self, operation, member_id: int | None = None):
            """Run a service call; a refusal must leave every figure as it was."""
            member_id = member_id or self.member.id
            before = ledger_figures(session, member_id)
            try:
                with session.begin_nested():
                    return operation()
            except LoyaltyError:
                assert ledger_figures(session, member_id) == before
                return None

        @rule(target=purchases, cents=st.integers(min_value=1, max_value=20_000))
        def purchase(self, cents: int):
            result = self.attempt(
                lambda: earn(
                    session,
                    member=self.member,
                    amount_cents=cents,
                    idempotency_key=self.key(),
                    at=self.now,
                )
            )
            return result.transaction_id if result else None

        @rule(target=vouchers, which=st.integers(min_value=0, max_value=3))
        def redeem_reward(self, which: int):
            voucher = self.attempt(
                lambda: redeem(
                    session,
                    member=self.member,
                    reward=self.rewards[which],
                    idempotency_key=self.key(),
                    now=self.now,
                )
            )
            return voucher.code if voucher else None

        @rule(points=st.integers(min_value=-300, max_value=300).filter(bool))
        def manual_adjustment(self, points: int) -> None:
            self.attempt(
                lambda: adjust(
                    session,
                    member=self.member,
                    points=points,
                    reason="property test",
                    idempotency_key=self.key(),
                    actor=self.manager,
                    now=self.now,
                )
            )

        @rule(purchase=purchases, share=st.sampled_from([None, 1, 2, 4]))
        def refund(self, purchase: int | None, share: int | None) -> None:
            if purchase is None:
                return
            original = session.get(LoyaltyTransaction, purchase)
            cents = None if share is None else max(1, original.amount_cents // share)
            self.attempt(
                lambda: reverse(
                    session,
                    purchase=original,
                    amount_cents=cents,
                    idempotency_key=self.key(),
                    actor=self.manager,
                    now=self.now,
                )
            )

        @rule(code=consumes(vouchers))
        def void(self, code: str | None) -> None:
            if code is None:
                return
            voucher = find_voucher(session, merchant=self.tenant.merchant, code=code)
            self.attempt(
                lambda: void_voucher(
                    session,
                    voucher=voucher,
                    reason="changed mind",
                    idempotency_key=self.key(),
                    actor=self.manager,
                    now=self.now,
                )
            )

        @rule(target=used_vouchers, code=consumes(vouchers))
        def use(self, code: str | None):
            if code is None:
                return None
            used = self.attempt(
                lambda: use_voucher(
                    session,
                    merchant=self.tenant.merchant,
                    code=code,
                    idempotency_key=self.key(),
                    actor=self.manager,
                    now=self.now,
                )
            )
            return code if used else None

        @rule(code=consumes(used_vouchers))
        def customer_brings_the_reward_back(self, code: str | None) -> None:
            if code is None:
                return
            voucher = find_voucher(session, merchant=self.tenant.merchant, code=code)
            self.attempt(
                lambda: return_reward(
                    session,
                    voucher=voucher,
                    reason="returned",
                    idempotency_key=self.key(),
                    actor=self.manager,
                    now=self.now,
                )
            )

        @rule(days=st.integers(min_value=1, max_value=40))
        def time_passes_and_points_expire(self, days: int) -> None:
            self.now += timedelta(days=days)
            expire_points(session, program=self.tenant.program, now=self.now)

        @rule(policy=st.sampled_from(list(RefundShortfall)))
        def merchant_chooses_who_bears_spent_refunds(self, policy: RefundShortfall) -> None:
            self.tenant.program.refund_shortfall = policy
            self.cafe.program.refund_shortfall = policy
            session.flush()

        # --- the stamp card, on the same ledger -------------------------------------------

        stamped = Bundle("stamped")
        card_vouchers = Bundle("card_vouchers")

        @rule(
            target=stamped,
            items=st.integers(min_value=1, max_value=8),
            cents=st.integers(min_value=100, max_value=3_000),
        )
        def stamp_visit(self, items: int, cents: int):
            result = self.attempt(
                lambda: earn(
                    session,
                    member=self.regular,
                    amount_cents=cents,
                    items=items,
                    idempotency_key=self.key(),
                    at=self.now,
                ),
                self.regular.id,
            )
            if result is None:
                return None
            # The reward has no stock limit: no visit leaves a full card behind.
            assert result.balance < 3
            return result.transaction_id

        @rule(purchase=stamped, share=st.sampled_from([None, 2]))
        def refund_stamped_visit(self, purchase: int | None, share: int | None) -> None:
            if purchase is None:
                return
            original = session.get(LoyaltyTransaction, purchase)
            cents = None if share is None else max(1, original.amount_cents // share)
            self.attempt(
                lambda: reverse(
                    session,
                    purchase=original,
                    amount_cents=cents,
                    idempotency_key=self.key(),
                    actor=self.cafe_manager,
                    now=self.now,
                ),
                self.regular.id,
            )

        @rule(purchase=stamped)
        def replay_stamp_visit(self, purchase: int | None) -> None:
            if purchase is None:
                return
            original = session.get(LoyaltyTransaction, purchase)
            before = ledger_figures(session, self.regular.id)
            vouchers_before = session.scalar(select(func.count(Voucher.id)))
            again = earn(
                session,
                member=self.regular,
                amount_cents=original.amount_cents,
                idempotency_key=original.idempotency_key,
                at=self.now,
            )
            assert again.replayed
            assert again.transaction_id == original.id
            assert ledger_figures(session, self.regular.id) == before
            assert session.scalar(select(func.count(Voucher.id))) == vouchers_before

        @rule(points=st.integers(min_value=-4, max_value=7).filter(bool))
        def manager_corrects_stamps(self, points: int) -> None:
            self.attempt(
                lambda: adjust(
                    session,
                    member=self.regular,
                    points=points,
                    reason="stamp correction",
                    idempotency_key=self.key(),
                    actor=self.cafe_manager,
                    now=self.now,
                ),
                self.regular.id,
            )

        @rule(target=card_vouchers)
        def look_at_the_newest_card_voucher(self):
            voucher = session.scalars(
                select(Voucher)
                .where(Voucher.member_id == self.regular.id)
                .order_by(Voucher.id.desc())
                .limit(1)
            ).first()
            return voucher.code if voucher else None

        @rule(code=consumes(card_vouchers), cancel=st.booleans())
        def card_voucher_is_used_or_cancelled(self, code: str | None, cancel: bool) -> None:
            if code is None:
                return
            from loyalty.services.vouchers import find_voucher

            if cancel:
                voucher = find_voucher(session, merchant=self.cafe.merchant, code=code)
                operation = lambda: void_voucher(  # noqa: E731
                    session,
                    voucher=voucher,
                    reason="changed mind",
                    idempotency_key=self.key(),
                    actor=self.cafe_manager,
                    now=self.now,
                )
            else:
                operation = lambda: use_voucher(  # noqa: E731
                    session,
                    merchant=self.cafe.merchant,
                    code=code,
                    idempotency_key=self.key(),
                    actor=self.cafe_manager,
                    now=self.now,
                )
            self.attempt(operation, self.regular.id)

        @rule(kind=st.sampled_from(list(ProgramKind)))
        def merchant_tries_to_switch_between_points_and_stamps(self, kind: ProgramKind) -> None:
            program = self.tenant.program
            held = stamps.outstanding(session, program)[0]
            was = program.kind
            result = self.attempt(
                lambda: programme_settings.update(
                    session,
                    program=program,
                    actor=self.owner,
                    settings=programme_settings.ProgrammeSettings(
                        name=program.name,
                        points_per_euro=program.points_per_euro,
                        rounding=program.rounding,
                        expiry_policy=program.expiry_policy,
                        expiry_days=program.expiry_days,
                        expiry_inactivity_months=program.expiry_inactivity_months,
                        signup_bonus=0,
                        birthday_bonus=0,
                        currency=program.currency,
                        primary_color=program.primary_color,
                        secondary_color=program.secondary_color,
                        kind=kind,
                        stamp_reward_id=self.rewards[0].id,
                        pending_days=0,
                    ),
                )
            )
            if held and kind != was:
                assert result is None
                assert program.kind == was

        @invariant()
        def every_full_card_is_one_voucher_for_exactly_a_card_of_stamps(self) -> None:
            if not hasattr(self, "regular"):
                return
            assert_ledger_consistent(session, self.regular.id)
            cards = session.scalars(
                select(LoyaltyTransaction.points).where(
                    LoyaltyTransaction.member_id == self.regular.id,
                    LoyaltyTransaction.reference_type == stamps.CARD_REFERENCE,
                )
            ).all()
            assert all(points == -3 for points in cards)
            vouchers = session.scalar(
                select(func.count(Voucher.id)).where(Voucher.member_id == self.regular.id)
            )
            assert vouchers == len(cards)

        @rule(cents=st.integers(min_value=1, max_value=5_000))
        def a_friend_joins_on_the_members_invitation_and_shops(self, cents: int) -> None:
            self.friends += 1
            friend = self.attempt(
                lambda: enroll(
                    session,
                    program=self.tenant.program,
                    idempotency_key=self.key(),
                    terms_accepted=True,
                    email=f"friend{self.friends}@example.com",
                    referral_code=referrals.code_for(session, self.member),
                    now=self.now,
                )
            )
            if friend is None:
                return
            for _ in range(2):  # a second purchase never pays the referral again
                self.attempt(
                    lambda: earn(
                        session,
                        member=friend,
                        amount_cents=cents,
                        idempotency_key=self.key(),
                        at=self.now,
                    )
                )
            assert_ledger_consistent(session, friend.id)

        @rule(days=st.sampled_from([0, 3, 14]))
        def merchant_sets_the_return_window(self, days: int) -> None:
            self.tenant.program.pending_days = days
            session.flush()

        @rule(days=st.integers(min_value=0, max_value=10))
        def time_passes_and_pending_points_are_released(self, days: int) -> None:
            self.now += timedelta(days=days)
            release_due(session, now=self.now)

        @rule(on=st.booleans())
        def merchant_charges_for_the_card(self, on: bool) -> None:
            self.tenant.program.paid_membership = on
            self.tenant.program.membership_price_cents = 2000
            session.flush()

        @rule()
        def member_pays_the_membership_at_the_till(self) -> None:
            # A 0-point ledger row: the figures stay whole, and a lapsed card then earns again.
            self.attempt(
                lambda: membership.renew(
                    session,
                    member=self.member,
                    actor=self.manager,
                    idempotency_key=self.key(),
                    now=self.now,
                )
            )

        @rule(purchase=purchases)
        def replay_purchase(self, purchase: int | None) -> None:
            if purchase is None:
                return
            original = session.get(LoyaltyTransaction, purchase)
            before = ledger_figures(session, self.member.id)
            again = earn(
                session,
                member=self.member,
                amount_cents=original.amount_cents,
                idempotency_key=original.idempotency_key,
                at=self.now,
            )
            assert again.replayed
            assert again.transaction_id == original.id
            assert ledger_figures(session, self.member.id) == before

        @invariant()
        def ledger_is_whole(self) -> None:
            if hasattr(self, "member"):
                assert_ledger_consistent(session, self.member.id)

        @invariant()
        def a_once_per_member_reward_is_held_at_most_once(self) -> None:
            if hasattr(self, "member"):
                held = session.scalar(
                    select(func.count()).where(
                        Voucher.member_id == self.member.id,
                        Voucher.reward_id == self.rewards[3].id,
                        Voucher.status != VoucherStatus.VOID,
                    )
                )
                assert held <= 1

    return LedgerMachine


@pytest.mark.slow
def test_any_sequence_of_operations_keeps_the_ledger_whole(session: Session) -> None:
    machine = ledger_machine(session)
    machine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    machine.TestCase("runTest").runTest()
