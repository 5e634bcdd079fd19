"""Tier qualification: lifetime or windowed points, upgrades on earn, nightly downgrades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.models import LoyaltyTransaction, MemberStatus, Offering, Role
from loyalty.services.actors import Actor
from loyalty.services.corrections import adjust, reverse
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from loyalty.services.tiers import recompute_tiers, upgrade_if_qualified
from loyalty.services.vouchers import void_voucher
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
MANAGER = Actor(user_id=None, role=Role.MANAGER, label="test manager")


def buy(session, member, euros: int, at: datetime, key: str):
    result = earn(session, member=member, amount_cents=euros * 100, idempotency_key=key, at=at)
    assert_ledger_consistent(session, member.id)
    return result


def tier_name(session, member) -> str | None:
    session.refresh(member)
    return member.tier.name if member.tier else None


def nightly(session, tenant, now: datetime):
    return recompute_tiers(session, program=tenant.program, now=now)


# --- lifetime tiers ----------------------------------------------------------------------


def test_lifetime_tiers_follow_lifetime_points(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    factories.make_tier(session, tenant, name="Gold", min_points=500)
    buy(session, member, 99, NOW - timedelta(days=900), "e1")
    assert tier_name(session, member) is None
    buy(session, member, 1, NOW - timedelta(days=800), "e2")
    assert tier_name(session, member) == "Silver"
    buy(session, member, 400, NOW, "e3")
    assert tier_name(session, member) == "Gold"


def test_the_exact_threshold_qualifies(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    assert buy(session, member, 100, NOW, "e1").new_tier == "Silver"


def test_spending_points_does_not_lose_a_lifetime_tier(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    buy(session, member, 100, NOW, "e1")
    reward = factories.make_reward(session, tenant, cost=100)
    redeem(session, member=member, reward=reward, idempotency_key="r", now=NOW)
    assert_ledger_consistent(session, member.id)
    nightly(session, tenant, NOW + timedelta(days=1))
    assert tier_name(session, member) == "Silver"


def test_a_refund_can_take_a_lifetime_tier_away_at_night(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    result = buy(session, member, 120, NOW, "e1")
    purchase = session.get(LoyaltyTransaction, result.transaction_id)
    reverse(session, purchase=purchase, amount_cents=5000, idempotency_key="r", actor=MANAGER)
    assert assert_ledger_consistent(session, member.id) == 70
    assert tier_name(session, member) == "Silver"  # downgrades wait for the nightly run
    changes = nightly(session, tenant, NOW + timedelta(days=1))
    assert [(c.member_id, c.upgrade) for c in changes] == [(member.id, False)]
    assert tier_name(session, member) is None


def test_adjustments_do_not_count_towards_tiers(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    adjust(
        session, member=member, points=500, reason="Goodwill", idempotency_key="a", actor=MANAGER
    )
    assert assert_ledger_consistent(session, member.id) == 500
    assert nightly(session, tenant, NOW) == []
    assert tier_name(session, member) is None


# --- windowed tiers ----------------------------------------------------------------------


def test_windowed_tiers_count_only_points_within_the_window(session, tenant, member):
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=365)
    buy(session, member, 60, NOW - timedelta(days=400), "old")
    result = buy(session, member, 60, NOW - timedelta(days=10), "recent")
    assert result.new_tier is None  # 60 in the window, 120 in a lifetime
    assert tier_name(session, member) is None
    assert buy(session, member, 40, NOW, "now").new_tier == "Gold"


def test_nightly_recompute_downgrades_when_the_window_passes(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=50, window_days=30)
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=30)
    buy(session, member, 70, NOW, "a")
    buy(session, member, 40, NOW + timedelta(days=20), "b")
    assert tier_name(session, member) == "Gold"

    assert nightly(session, tenant, NOW + timedelta(days=29)) == []
    changes = nightly(session, tenant, NOW + timedelta(days=31))  # the 70 left the window
    assert [(c.member_id, c.upgrade) for c in changes] == [(member.id, False)]
    assert tier_name(session, member) is None  # 40 left: below Silver too

    assert nightly(session, tenant, NOW + timedelta(days=31)) == []  # nothing moves twice


def test_nightly_recompute_downgrades_one_step_when_that_is_what_qualifies(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=50, window_days=30)
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=30)
    buy(session, member, 50, NOW, "a")
    buy(session, member, 60, NOW + timedelta(days=20), "b")
    assert tier_name(session, member) == "Gold"
    nightly(session, tenant, NOW + timedelta(days=31))
    assert tier_name(session, member) == "Silver"


def test_a_refund_inside_the_window_counts_against_it(session, tenant, member):
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=30)
    result = buy(session, member, 100, NOW, "a")
    purchase = session.get(LoyaltyTransaction, result.transaction_id)
    reverse(session, purchase=purchase, amount_cents=1000, idempotency_key="r", actor=MANAGER)
    assert assert_ledger_consistent(session, member.id) == 90
    nightly(session, tenant, NOW + timedelta(days=1))
    assert tier_name(session, member) is None


def test_a_voided_voucher_does_not_count_as_qualifying_points(session, tenant, member):
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=30)
    buy(session, member, 90, NOW, "a")
    reward = factories.make_reward(session, tenant, cost=90)
    for n in range(3):  # redeem and cancel: no purchase, so no progress towards Gold
        voucher = redeem(session, member=member, reward=reward, idempotency_key=f"r{n}", now=NOW)
        void_voucher(
            session,
            voucher=voucher,
            reason="Mistake",
            idempotency_key=f"v{n}",
            actor=MANAGER,
            now=NOW,
        )
    assert assert_ledger_consistent(session, member.id) == 90
    assert nightly(session, tenant, NOW + timedelta(hours=1)) == []
    assert tier_name(session, member) is None


def test_bonuses_count_towards_windowed_tiers(session, tenant, member):
    from loyalty.services.enroll import enroll

    factories.make_tier(session, tenant, name="Welcome", min_points=20, window_days=30)
    tenant.program.signup_bonus = 20
    session.flush()
    joined = enroll(
        session,
        program=tenant.program,
        idempotency_key="join",
        terms_accepted=True,
        email="new@example.com",
        now=NOW,
    )
    nightly(session, tenant, NOW + timedelta(days=1))
    assert tier_name(session, joined) == "Welcome"


# --- upgrades, downgrades and offerings --------------------------------------------------


def test_upgrade_on_earn_never_downgrades(session, tenant, member):
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=30)
    buy(session, member, 100, NOW, "a")
    assert upgrade_if_qualified(session, member=member, now=NOW + timedelta(days=60)) is None
    assert tier_name(session, member) == "Gold"


def test_upgrades_skip_straight_to_the_highest_qualifying_tier(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    factories.make_tier(session, tenant, name="Gold", min_points=500)
    assert buy(session, member, 600, NOW, "a").new_tier == "Gold"


def test_upgrade_on_earn_with_a_basket_takes_the_general_path_too(session, tenant, member):
    from loyalty.services.points import BasketLine

    factories.make_tier(session, tenant, name="Silver", min_points=100)
    result = earn(
        session,
        member=member,
        amount_cents=10_000,
        basket=[BasketLine(10_000, "bread")],
        idempotency_key="a",
        at=NOW,
    )
    assert result.new_tier == "Silver"


def test_nightly_recompute_reports_upgrades_and_moves_only_who_changes(session, tenant):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    up = factories.make_member(session, tenant)
    stays = factories.make_member(session, tenant)
    up.lifetime_points = 150  # e.g. imported history
    session.flush()
    changes = nightly(session, tenant, NOW)
    assert [(c.member_id, c.old_tier_id is None, c.upgrade) for c in changes] == [
        (up.id, True, True)
    ]
    assert tier_name(session, stays) is None


def test_suspended_members_keep_their_tier(session, tenant, member):
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=30)
    buy(session, member, 100, NOW, "a")
    member.status = MemberStatus.SUSPENDED
    session.flush()
    assert nightly(session, tenant, NOW + timedelta(days=60)) == []
    assert tier_name(session, member) == "Gold"


def test_tiers_do_not_move_for_a_basic_merchant(session):
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    member = factories.make_member(session, tenant)
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    assert buy(session, member, 200, NOW, "a").new_tier is None
    assert nightly(session, tenant, NOW) == []
    assert tier_name(session, member) is None


def test_a_downgraded_merchant_keeps_tiers_but_they_stop_moving(session, tenant, member):
    factories.make_tier(session, tenant, name="Gold", min_points=100, window_days=30)
    buy(session, member, 100, NOW, "a")
    tenant.merchant.offering = Offering.BASIC
    session.flush()
    assert nightly(session, tenant, NOW + timedelta(days=60)) == []
    assert tier_name(session, member) == "Gold"
    assert buy(session, member, 100, NOW + timedelta(days=61), "b").points == 100
