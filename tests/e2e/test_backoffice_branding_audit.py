"""Branding (Enterprise) and the audit log pages: gates, validation, pass refresh, filters."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.errors import FeatureNotInOffering, InvalidInput
from loyalty.models import AuditLog, Offering, Role, WalletPlatform
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.branding import BrandingDraft, update_branding
from tests import factories
from wallet import passes as wallet_passes


@pytest.fixture
def enterprise(session):
    return factories.make_tenant(session, offering=Offering.ENTERPRISE, name="Wagner")


def logo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 120), (180, 30, 30)).save(out, format="PNG")
    return out.getvalue()


BRAND = {"primary_color": "#B3261E", "secondary_color": "#fff", "sender_name": "Wagner Bonus"}


# --- branding: service ---------------------------------------------------------------------


def test_update_branding_normalises_colours_and_says_whether_anything_changed(
    session, enterprise, tmp_path
):
    actor = factories.actor_for(factories.make_user(session, enterprise))
    change = update_branding(
        session,
        merchant=enterprise.merchant,
        actor=actor,
        draft=BrandingDraft("#B3261E", "fff", "Wagner Bonus"),
        folder=tmp_path,
    )
    assert change.changed
    assert enterprise.merchant.branding == {
        "primary_color": "#b3261e",
        "secondary_color": "#ffffff",
        "sender_name": "Wagner Bonus",
    }
    again = update_branding(
        session,
        merchant=enterprise.merchant,
        actor=actor,
        draft=BrandingDraft("#b3261e", "#ffffff", "Wagner Bonus"),
        folder=tmp_path,
    )
    assert not again.changed


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (BrandingDraft(primary_color="red"), "primary_color"),
        (BrandingDraft(secondary_color="#12345"), "secondary_color"),
        (BrandingDraft(sender_name="Evil <boss@example.com>"), "sender_name"),
        (BrandingDraft(sender_name='a"b'), "sender_name"),
        (BrandingDraft(sender_name="x" * 61), "sender_name"),
    ],
)
def test_bad_branding_is_refused_and_changes_nothing(session, enterprise, tmp_path, draft, field):
    actor = factories.actor_for(factories.make_user(session, enterprise))
    with pytest.raises(InvalidInput) as refusal:
        update_branding(
            session, merchant=enterprise.merchant, actor=actor, draft=draft, folder=tmp_path
        )
    assert refusal.value.field == field
    assert enterprise.merchant.branding == {}


def test_plus_merchant_cannot_white_label(session, tenant, tmp_path):
    actor = factories.actor_for(factories.make_user(session, tenant))
    with pytest.raises(FeatureNotInOffering):
        update_branding(
            session,
            merchant=tenant.merchant,
            actor=actor,
            draft=BrandingDraft("#000000"),
            folder=tmp_path,
        )


# --- branding: pages -----------------------------------------------------------------------


def test_branding_is_hidden_and_explained_below_enterprise(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    page = client.get("/backoffice/branding")
    assert page.status_code == 200
    assert b"Enterprise offering" in page.data
    assert b'href="/backoffice/branding"' not in page.data
    answer = client.post("/backoffice/branding", data=BRAND)
    assert answer.status_code == 409
    assert tenant.merchant.branding == {}


def test_saving_the_brand_refreshes_every_wallet_card(client, login_as, session, enterprise):
    member = factories.make_member(session, enterprise)
    wallet_pass = wallet_passes.pass_for(session, member, WalletPlatform.APPLE)
    wallet_pass.updated_at = before = utcnow() - timedelta(days=1)
    session.flush()
    login_as(factories.make_user(session, enterprise))
    assert b'href="/backoffice/branding"' in client.get("/backoffice/branding").data
    answer = client.post(
        "/backoffice/branding",
        data={**BRAND, "logo": (io.BytesIO(logo()), "logo.png")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    session.refresh(enterprise.merchant)
    session.refresh(wallet_pass)
    branding = enterprise.merchant.branding
    assert branding["primary_color"] == "#b3261e"
    assert branding["sender_name"] == "Wagner Bonus"
    assert branding["logo_path"].endswith(".png")
    assert wallet_pass.updated_at.astimezone(UTC) > before.astimezone(UTC)
    served = client.get("/backoffice/branding/logo.png")
    assert served.status_code == 200
    assert served.data.startswith(b"\x89PNG")
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == "merchant.branding_changed")
    ).one()
    assert "logo_path" in entry.details["changed"]


def test_bad_colour_on_the_page_is_shown_and_saves_nothing(client, login_as, session, enterprise):
    login_as(factories.make_user(session, enterprise))
    answer = client.post("/backoffice/branding", data={**BRAND, "primary_color": "#zzzzzz"})
    assert answer.status_code == 422
    assert b"is not a colour" in answer.data
    session.refresh(enterprise.merchant)
    assert enterprise.merchant.branding == {}


def test_a_manager_sees_the_brand_but_cannot_change_it(client, login_as, session, enterprise):
    login_as(factories.make_user(session, enterprise, role=Role.MANAGER))
    assert b"Only the owner" in client.get("/backoffice/branding").data
    assert client.post("/backoffice/branding", data=BRAND).status_code == 403
    session.refresh(enterprise.merchant)
    assert enterprise.merchant.branding == {}


def test_custom_domain_is_set_from_the_branding_page(client, login_as, session, enterprise):
    login_as(factories.make_user(session, enterprise))
    answer = client.post("/backoffice/branding/domain", data={"custom_domain": "Rewards.Wagner.LU"})
    assert answer.status_code == 302
    session.refresh(enterprise.merchant)
    assert enterprise.merchant.custom_domain == "rewards.wagner.lu"
    bad = client.post("/backoffice/branding/domain", data={"custom_domain": "http://x/y"})
    assert bad.status_code == 422
    assert b"not a bare domain" in bad.data
    session.refresh(enterprise.merchant)
    assert enterprise.merchant.custom_domain == "rewards.wagner.lu"


def test_shop_staff_cannot_open_branding_or_the_audit_log(client, login_as, session, enterprise):
    login_as(factories.make_user(session, enterprise, role=Role.STAFF, shop=enterprise.shop))
    assert client.get("/backoffice/branding").status_code == 403
    assert client.post("/backoffice/branding", data=BRAND).status_code == 403
    assert client.get("/backoffice/audit").status_code == 403


# --- audit log -------------------------------------------------------------------------------


def _entry(session, tenant, user, action, at, **details):
    entry = audit.record(
        session,
        merchant_id=tenant.merchant.id,
        actor=Actor(user_id=user.id if user else None, role=Role.OWNER),
        action=action,
        **details,
    )
    entry.created_at = at
    session.flush()
    return entry


def test_audit_log_filters_by_person_action_and_merchant_day(client, login_as, session, tenant):
    owner = factories.make_user(session, tenant)
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    manager.name = "Sophie Manager"
    # 23:30 UTC on 2 March is already 3 March in Luxembourg.
    _entry(
        session,
        tenant,
        owner,
        "tier.created",
        datetime(2026, 3, 2, 23, 30, tzinfo=UTC),
        name="Gold",
    )
    _entry(
        session,
        tenant,
        manager,
        "reward.updated",
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        name="€5 off",
    )
    other = factories.make_tenant(session)
    _entry(
        session,
        other,
        factories.make_user(session, other),
        "tier.created",
        datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        name="Secret tier",
    )
    login_as(owner)
    everything = client.get("/backoffice/audit")
    assert everything.status_code == 200
    assert b"Tier created" in everything.data
    assert b"Reward updated" in everything.data
    assert b"Secret tier" not in everything.data
    # Shown in the merchant's time zone: 00:30 on 3 March in Luxembourg.
    assert b'03 Mar 2026,</span> <span class="text-nowrap">00:30' in everything.data
    by_person = client.get(f"/backoffice/audit?user={manager.id}")
    assert "€5 off".encode() in by_person.data
    assert b"Gold" not in by_person.data
    by_action = client.get("/backoffice/audit?action=tier.created")
    assert b"Gold" in by_action.data
    assert b"\xe2\x82\xac5 off" not in by_action.data
    on_third = client.get("/backoffice/audit?since=2026-03-03&until=2026-03-03")
    assert b"Gold" in on_third.data
    assert "€5 off".encode() not in on_third.data


@pytest.mark.parametrize(
    "query", ["user=abc", "user=999999", "action=nope", "since=2026-13-40", "page=-4", "until=x"]
)
def test_bad_audit_filters_are_explained_not_a_500(client, login_as, session, tenant, query):
    login_as(factories.make_user(session, tenant))
    answer = client.get(f"/backoffice/audit?{query}")
    assert answer.status_code in (200, 422)


def test_audit_pages_keep_the_filter(client, login_as, session, tenant):
    owner = factories.make_user(session, tenant)
    for n in range(30):
        _entry(
            session,
            tenant,
            owner,
            "promotion.created",
            utcnow() - timedelta(minutes=n),
            name=f"P{n}",
        )
    login_as(owner)
    page = client.get("/backoffice/audit?action=promotion.created")
    assert (
        b"action=promotion.created&amp;page=2" in page.data
        or b"page=2&amp;action=promotion.created" in page.data
    )


# --- the sender name reaches members' e-mails -----------------------------------------------


def test_a_white_label_sender_name_is_the_display_name_of_members_emails(session, enterprise):
    from loyalty.models import OutboxChannel
    from loyalty.notify import outbox
    from loyalty.notify.senders import sender_for

    message = outbox.enqueue(
        session,
        merchant_id=enterprise.merchant.id,
        channel=OutboxChannel.EMAIL,
        template="welcome",
        address="ana@example.com",
        payload={"name": "Ana", "program": "Wagner", "card_number": "123456789012"},
    )
    platform = "Loyalty <no-reply@loyalty.example>"
    assert sender_for(message, platform) == platform  # no sender name yet
    enterprise.merchant.branding = {"sender_name": "Wagner Bonus Card"}
    assert sender_for(message, platform) == "Wagner Bonus Card <no-reply@loyalty.example>"
    enterprise.merchant.offering = Offering.PLUS  # after a downgrade: the platform's name
    assert sender_for(message, platform) == platform
