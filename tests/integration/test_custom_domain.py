"""A merchant's own web address: validated, Enterprise only, one merchant per name, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import FeatureNotInOffering, InvalidInput, PermissionDenied
from loyalty.models import AuditLog, Offering, Role
from loyalty.services.actors import Actor
from loyalty.services.merchants import set_custom_domain
from tests import factories

PLATFORM = "https://loyalty.example.net"
OPERATOR = Actor.system("test")


@pytest.fixture
def tenant(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, offering=Offering.ENTERPRISE, name="Bakery Dupont")


def set_domain(session: Session, tenant: factories.Tenant, domain: str | None, **kwargs):
    return set_custom_domain(
        session,
        merchant=tenant.merchant,
        domain=domain,
        actor=kwargs.pop("actor", OPERATOR),
        platform_url=kwargs.pop("platform_url", PLATFORM),
    )


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("rewards.example.com", "rewards.example.com"),
        ("  Rewards.Example.COM. ", "rewards.example.com"),
        ("bäckerei-dupont.lu", "xn--bckerei-dupont-5hb.lu"),
        ("xn--bckerei-dupont-5hb.lu", "xn--bckerei-dupont-5hb.lu"),
    ],
)
def test_a_domain_is_stored_as_lower_case_ascii(session, tenant, given, stored):
    set_domain(session, tenant, given)
    assert tenant.merchant.custom_domain == stored


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("https://rewards.example.com", "without http://"),
        ("rewards.example.com/join", "without http://"),
        ("rewards.example.com:8443", "has a port"),
        ("localhost", "not a full domain name"),
        ("192.168.1.10", "not a full domain name"),
        ("rewards..example.com", "not a valid domain name"),
        ("-rewards.example.com", "not a valid domain name"),
        ("rewards_shop.example.com", "not a valid domain name"),
        ("a" * 64 + ".example.com", "not a valid domain name"),
        ("loyalty.example.net", "belongs to the platform"),
        ("Bakery.Loyalty.Example.Net", "belongs to the platform"),
    ],
)
def test_a_bad_domain_is_refused_with_what_to_fix(session, tenant, given, says):
    with pytest.raises(InvalidInput, match=says) as refused:
        set_domain(session, tenant, given)
    assert refused.value.field == "custom_domain"
    assert tenant.merchant.custom_domain is None


@pytest.mark.parametrize("offering", [Offering.BASIC, Offering.PLUS])
def test_only_enterprise_can_have_a_domain(session, offering):
    tenant = factories.make_tenant(session, offering=offering)
    with pytest.raises(FeatureNotInOffering, match="Upgrade to Enterprise"):
        set_domain(session, tenant, "rewards.example.com")
    assert tenant.merchant.custom_domain is None


def test_a_domain_held_by_another_merchant_is_refused_without_naming_it(session, tenant):
    other = factories.make_tenant(session, offering=Offering.ENTERPRISE, name="Secret Rival")
    set_domain(session, other, "rewards.example.com")
    with pytest.raises(InvalidInput, match="already in use") as refused:
        set_domain(session, tenant, "REWARDS.example.com")
    assert "Secret Rival" not in refused.value.message
    assert other.merchant.slug not in refused.value.message
    assert tenant.merchant.custom_domain is None


def test_setting_the_same_domain_again_changes_nothing(session, tenant):
    set_domain(session, tenant, "rewards.example.com")
    set_domain(session, tenant, "rewards.example.com")
    assert len(audit_entries(session, tenant)) == 1


def test_none_or_blank_clears_the_domain_and_frees_it(session, tenant):
    set_domain(session, tenant, "rewards.example.com")
    set_domain(session, tenant, None)
    assert tenant.merchant.custom_domain is None
    other = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    set_domain(session, other, "rewards.example.com")
    set_domain(session, other, "  ")
    assert other.merchant.custom_domain is None


def test_changes_are_audited_with_the_previous_value(session, tenant):
    set_domain(session, tenant, "rewards.example.com")
    set_domain(session, tenant, "club.example.com")
    set_domain(session, tenant, None)
    entries = audit_entries(session, tenant)
    assert [(e.action, e.details["previous"], e.details["domain"]) for e in entries] == [
        ("merchant.custom_domain_set", None, "rewards.example.com"),
        ("merchant.custom_domain_set", "rewards.example.com", "club.example.com"),
        ("merchant.custom_domain_cleared", "club.example.com", None),
    ]


def test_a_downgrade_keeps_the_domain_and_it_can_still_be_cleared(session, tenant):
    set_domain(session, tenant, "rewards.example.com")
    tenant.merchant.offering = Offering.PLUS
    session.flush()
    session.expire(tenant.merchant)
    assert tenant.merchant.custom_domain == "rewards.example.com"
    with pytest.raises(FeatureNotInOffering):
        set_domain(session, tenant, "club.example.com")
    set_domain(session, tenant, None)
    assert tenant.merchant.custom_domain is None


def test_only_an_owner_among_staff_may_change_it(session, tenant):
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    with pytest.raises(PermissionDenied):
        set_domain(
            session, tenant, "rewards.example.com", actor=factories.actor_for(manager, Role.MANAGER)
        )
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    set_domain(session, tenant, "rewards.example.com", actor=factories.actor_for(owner))
    assert tenant.merchant.custom_domain == "rewards.example.com"


def audit_entries(session: Session, tenant: factories.Tenant) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog)
            .where(
                AuditLog.merchant_id == tenant.merchant.id,
                AuditLog.action.like("merchant.custom_domain%"),
            )
            .order_by(AuditLog.id)
        )
    )
