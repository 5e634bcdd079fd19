"""From sign-up to a live programme: the onboarding, shop and password reset services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, InvalidToken, LimitReached, PermissionDenied
from loyalty.models import Offering, OutboxMessage, PasswordResetToken, Role
from loyalty.passwords import verify_password
from loyalty.services import onboarding, password_reset, programme_settings, shops
from loyalty.services.merchants import program_of
from tests import factories


def owner_of(session, merchant):
    membership = next(m for m in merchant_memberships(session, merchant))
    return factories.actor_for(membership.user, Role(membership.role))


def merchant_memberships(session, merchant):
    from loyalty.models import Membership

    return session.scalars(select(Membership).where(Membership.merchant_id == merchant.id))


@pytest.fixture
def signed_up(session):
    return onboarding.sign_up(
        session,
        business_name="Café Lumière",
        email="Claire@Example.com",
        password="croissant-42-beurre",
    )


def test_sign_up_makes_a_basic_business_with_its_owner(session, signed_up):
    assert signed_up.merchant.offering == Offering.BASIC
    assert signed_up.user.email == "claire@example.com"
    membership = next(merchant_memberships(session, signed_up.merchant))
    assert membership.role == Role.OWNER
    assert program_of(session, signed_up.merchant).launched_at is None


def test_sign_up_refuses_a_short_password_and_changes_nothing(session):
    with pytest.raises(InvalidInput, match="at least"):
        onboarding.sign_up(session, business_name="X", email="x@example.com", password="short")


def test_basic_allows_one_shop_and_says_so(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    shops.create(session, merchant=signed_up.merchant, actor=actor, name="Grand-Rue")
    with pytest.raises(LimitReached, match="Basic offering includes up to 1 shop"):
        shops.create(session, merchant=signed_up.merchant, actor=actor, name="Gare")


def test_plus_allows_ten_shops(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS)  # one shop already
    actor = factories.actor_for(factories.make_user(session, tenant))
    for n in range(9):
        shops.create(session, merchant=tenant.merchant, actor=actor, name=f"Shop {n}")
    with pytest.raises(LimitReached, match="up to 10 shops"):
        shops.create(session, merchant=tenant.merchant, actor=actor, name="Eleventh")


def test_two_shops_cannot_share_a_name(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS)
    actor = factories.actor_for(factories.make_user(session, tenant))
    gare = shops.create(session, merchant=tenant.merchant, actor=actor, name="Gare")
    with pytest.raises(InvalidInput, match="already a shop called GARE"):
        shops.create(session, merchant=tenant.merchant, actor=actor, name="GARE")
    with pytest.raises(InvalidInput, match="already a shop called"):
        shops.update(
            session,
            merchant=tenant.merchant,
            actor=actor,
            shop=tenant.shop,
            name="gare",
            address="",
            timezone="Europe/Luxembourg",
        )
    # A shop keeps its own name when its address changes.
    shops.update(
        session,
        merchant=tenant.merchant,
        actor=actor,
        shop=gare,
        name="Gare",
        address="1 Place de la Gare",
        timezone="Europe/Luxembourg",
    )


def test_a_closed_shop_frees_its_place_and_reopening_checks_the_limit(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    first = shops.create(session, merchant=signed_up.merchant, actor=actor, name="Old")
    shops.set_active(session, merchant=signed_up.merchant, actor=actor, shop=first, active=False)
    shops.create(session, merchant=signed_up.merchant, actor=actor, name="New")
    with pytest.raises(LimitReached):
        shops.set_active(session, merchant=signed_up.merchant, actor=actor, shop=first, active=True)


def test_shop_with_unknown_time_zone_is_refused(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    with pytest.raises(InvalidInput, match="not a time zone"):
        shops.create(
            session, merchant=signed_up.merchant, actor=actor, name="X", timezone="Mars/Olympus"
        )


def test_staff_cannot_add_shops(session, tenant):
    clerk = factories.make_user(session, tenant, role=Role.STAFF)
    with pytest.raises(PermissionDenied):
        shops.create(
            session,
            merchant=tenant.merchant,
            actor=factories.actor_for(clerk, Role.STAFF),
            name="X",
        )


def test_choosing_an_offering_is_for_owners_and_only_before_launch(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    manager = factories.actor_for(factories.make_user(session), Role.MANAGER)
    with pytest.raises(PermissionDenied):
        onboarding.choose_offering(
            session, merchant=signed_up.merchant, actor=manager, offering=Offering.ENTERPRISE
        )
    onboarding.choose_offering(
        session, merchant=signed_up.merchant, actor=actor, offering=Offering.PLUS
    )
    assert signed_up.merchant.offering == Offering.PLUS
    _configure(session, signed_up.merchant, actor)
    shops.create(session, merchant=signed_up.merchant, actor=actor, name="Grand-Rue")
    onboarding.go_live(session, merchant=signed_up.merchant, actor=actor)
    with pytest.raises(PermissionDenied, match="live"):
        onboarding.choose_offering(
            session, merchant=signed_up.merchant, actor=actor, offering=Offering.BASIC
        )


def test_a_smaller_offering_than_the_open_shops_is_refused(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    onboarding.choose_offering(
        session, merchant=signed_up.merchant, actor=actor, offering=Offering.PLUS
    )
    for name in ("A", "B"):
        shops.create(session, merchant=signed_up.merchant, actor=actor, name=name)
    with pytest.raises(LimitReached, match="2 open shops"):
        onboarding.choose_offering(
            session, merchant=signed_up.merchant, actor=actor, offering=Offering.BASIC
        )
    assert signed_up.merchant.offering == Offering.PLUS


def _configure(session, merchant, actor):
    programme_settings.update(
        session,
        program=program_of(session, merchant),
        actor=actor,
        settings=programme_settings.ProgrammeSettings(
            name="Lumière Club",
            points_per_euro="2.5",
            rounding="round",
            expiry_policy="after_days",
            expiry_days=365,
            expiry_inactivity_months=None,
            signup_bonus=50,
            birthday_bonus=100,
            currency="EUR",
            primary_color="#2A4B7A",
            secondary_color="#f5efe6",
        ),
    )


def test_programme_settings_are_applied_together(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    _configure(session, signed_up.merchant, actor)
    program = program_of(session, signed_up.merchant)
    assert program.points_per_euro == Decimal("2.5")
    assert program.expiry_days == 365
    assert program.primary_color == "#2a4b7a"


def test_bad_programme_settings_change_nothing(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    program = program_of(session, signed_up.merchant)
    before = program.name
    with pytest.raises(InvalidInput) as refused:
        programme_settings.update(
            session,
            program=program,
            actor=actor,
            settings=programme_settings.ProgrammeSettings(
                name="New name",
                points_per_euro="lots",
                rounding="floor",
                expiry_policy="none",
                expiry_days=None,
                expiry_inactivity_months=None,
                signup_bonus=0,
                birthday_bonus=0,
                currency="EUR",
                primary_color="#000000",
                secondary_color="#ffffff",
            ),
        )
    assert refused.value.field == "points_per_euro"
    assert program.name == before


def test_managers_cannot_change_programme_settings(session, tenant):
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    with pytest.raises(PermissionDenied):
        _configure(session, tenant.merchant, factories.actor_for(manager, Role.MANAGER))


def test_go_live_needs_the_required_steps_and_says_which_are_missing(session, signed_up):
    actor = owner_of(session, signed_up.merchant)
    with pytest.raises(InvalidInput, match="Add your first shop"):
        onboarding.go_live(session, merchant=signed_up.merchant, actor=actor)
    onboarding.choose_offering(
        session, merchant=signed_up.merchant, actor=actor, offering=Offering.BASIC
    )
    _configure(session, signed_up.merchant, actor)
    shops.create(session, merchant=signed_up.merchant, actor=actor, name="Grand-Rue")
    steps = {step.key: step.done for step in onboarding.checklist(session, signed_up.merchant)}
    assert steps == {
        "offering": True,
        "programme": True,
        "shop": True,
        "staff": False,
        "promotion": False,
    }
    launched = onboarding.go_live(session, merchant=signed_up.merchant, actor=actor)
    assert program_of(session, signed_up.merchant).launched_at == launched
    assert onboarding.go_live(session, merchant=signed_up.merchant, actor=actor) == launched


# --- password reset ---------------------------------------------------------------------------


def reset_link(token: str) -> str:
    return f"http://test/reset-password/{token}"


def test_reset_mail_belongs_to_no_merchant_and_sets_a_new_password(session, signed_up):
    token = password_reset.request_reset(session, email="claire@example.com", reset_url=reset_link)
    assert token
    mail = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "password_reset")
    ).one()
    assert mail.merchant_id is None
    assert mail.payload["link"] == reset_link(token)
    user = password_reset.reset_password(session, token=token, password="a brand new password")
    assert verify_password(user.password_hash, "a brand new password")


def test_reset_for_an_unknown_address_sends_nothing(session, signed_up):
    assert (
        password_reset.request_reset(session, email="nobody@example.com", reset_url=reset_link)
        is None
    )
    assert (
        password_reset.request_reset(session, email="not an address", reset_url=reset_link) is None
    )
    assert session.scalar(select(OutboxMessage.id)) is None


def test_reset_link_works_once_and_kills_older_links(session, signed_up):
    now = utcnow()
    first = password_reset.request_reset(
        session, email="claire@example.com", reset_url=reset_link, now=now
    )
    second = password_reset.request_reset(
        session,
        email="claire@example.com",
        reset_url=reset_link,
        now=now + password_reset.RESEND_INTERVAL + timedelta(seconds=1),
    )
    password_reset.reset_password(session, token=second, password="a brand new password")
    for token in (first, second):
        with pytest.raises(InvalidToken) as refused:
            password_reset.reset_password(session, token=token, password="yet another password")
        assert refused.value.details["reason"] == "used"


def test_reset_link_expires_after_an_hour(session, signed_up):
    now = utcnow()
    token = password_reset.request_reset(
        session, email="claire@example.com", reset_url=reset_link, now=now
    )
    with pytest.raises(InvalidToken) as refused:
        password_reset.check_token(
            session, token=token, now=now + password_reset.RESET_TTL + timedelta(seconds=1)
        )
    assert refused.value.details["reason"] == "expired"


def test_reset_requests_are_throttled_per_account(session, signed_up):
    now = utcnow()
    assert password_reset.request_reset(
        session, email="claire@example.com", reset_url=reset_link, now=now
    )
    assert (
        password_reset.request_reset(
            session, email="claire@example.com", reset_url=reset_link, now=now
        )
        is None
    )
    assert len(session.scalars(select(PasswordResetToken)).all()) == 1
