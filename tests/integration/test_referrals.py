"""Referrals: a friend joins with a member's code; their first qualifying purchase rewards both, once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalty.errors import FeatureNotInOffering, InvalidInput, NotFound
from loyalty.models import Offering, Referral, ReferralStatus
from loyalty.services import referrals
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from tests import factories
from tests.invariants import assert_ledger_consistent


@pytest.fixture
def programme(session, tenant):
    """Plus bakery: 50 points for the inviting member, 30 for the friend, from a €10 purchase."""
    tenant.program.referrer_bonus = 50
    tenant.program.referee_bonus = 30
    tenant.program.referral_min_spend_cents = 1000
    session.flush()
    return tenant


def join(session, tenant, email, code=None):
    return enroll(
        session,
        program=tenant.program,
        idempotency_key=f"join-{email}",
        terms_accepted=True,
        name=email.split("@")[0],
        email=email,
        referral_code=code,
    )


def buy(session, member, cents, key):
    return earn(session, member=member, amount_cents=cents, idempotency_key=key)


def test_codes_are_short_stable_and_unique(session, programme):
    a, b = (join(session, programme, f"{n}@example.com") for n in "ab")
    code = referrals.code_for(session, a)
    assert len(code) == referrals.CODE_LENGTH
    assert referrals.code_for(session, a) == code
    assert referrals.code_for(session, b) != code


def test_the_friends_first_qualifying_purchase_rewards_both_once(session, programme):
    anna = join(session, programme, "anna@example.com")
    ben = join(session, programme, "ben@example.com", referrals.code_for(session, anna))
    buy(session, ben, 500, "small")  # below the €10 minimum: nothing yet
    assert (anna.points_balance, ben.points_balance) == (0, 5)
    buy(session, ben, 1200, "first")
    assert (anna.points_balance, ben.points_balance) == (50, 5 + 12 + 30)
    buy(session, ben, 1200, "second")
    assert (anna.points_balance, ben.points_balance) == (50, 5 + 24 + 30)
    referral = session.scalars(select(Referral)).one()
    assert referral.status == ReferralStatus.REWARDED
    for member in (anna, ben):
        assert_ledger_consistent(session, member.id)


def test_a_mistyped_code_at_joining_does_not_stop_the_friend_joining(session, programme):
    ben = join(session, programme, "ben@example.com", "NOSUCHCD")
    assert ben.id is not None
    assert session.scalars(select(Referral)).first() is None


def test_nobody_can_use_their_own_code(session, programme):
    anna = join(session, programme, "anna@example.com")
    with pytest.raises(InvalidInput, match="your own invite code"):
        referrals.attach(session, member=anna, code=referrals.code_for(session, anna))


def test_two_members_cannot_invite_each_other(session, programme):
    anna = join(session, programme, "anna@example.com")
    ben = join(session, programme, "ben@example.com", referrals.code_for(session, anna))
    carl = join(session, programme, "carl@example.com", referrals.code_for(session, ben))
    assert carl.id
    # Anna cannot be invited by someone she (indirectly) invited.
    with pytest.raises(InvalidInput, match="cannot invite each other"):
        referrals.attach(session, member=anna, code=referrals.code_for(session, carl))


def test_a_card_is_invited_once_and_only_before_its_first_purchase(session, programme):
    anna = join(session, programme, "anna@example.com")
    dora = join(session, programme, "dora@example.com")
    ben = join(session, programme, "ben@example.com", referrals.code_for(session, anna))
    with pytest.raises(InvalidInput, match="already invited"):
        referrals.attach(session, member=ben, code=referrals.code_for(session, dora))
    eve = join(session, programme, "eve@example.com")
    buy(session, eve, 1500, "eve-1")
    with pytest.raises(InvalidInput, match="before the first purchase"):
        referrals.attach(session, member=eve, code=referrals.code_for(session, anna))


def test_unknown_code_says_so(session, programme):
    anna = join(session, programme, "anna@example.com")
    with pytest.raises(NotFound, match="invite code"):
        referrals.attach(session, member=anna, code="zzzz-zzzz")


def test_basic_merchants_have_no_referral_programme(session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    basic.program.referrer_bonus = 50
    anna = join(session, basic, "anna@example.com")
    assert not referrals.enabled(basic.program)
    with pytest.raises(FeatureNotInOffering):
        referrals.attach(session, member=anna, code="ABCDEFGH")
