"""Tier and reward pages: offering gates in the UI, validation, pictures, roles."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from loyalty.models import LoyaltyTier, Offering, RedemptionLimit, Reward, RewardType, Role
from tests import factories


def count(session, model, tenant) -> int:
    return session.scalar(
        select(func.count(model.id)).where(model.merchant_id == tenant.merchant.id)
    )


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


TIER = {
    "name": "Silver",
    "min_points": "500",
    "earn_multiplier": "1.25",
    "benefits": "Free coffee\nEarly sales",
}
REWARD = {
    "name": "€5 off",
    "type": "discount_fixed",
    "value": "5.00",
    "points_cost": "140",
    "validity_days": "30",
    "active": "y",
}


# --- tiers -------------------------------------------------------------------------------


def test_basic_merchant_has_no_tiers_link_and_the_page_explains(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    login_as(factories.make_user(session, basic))
    home = client.get("/backoffice/promotions")
    assert b'href="/backoffice/tiers"' not in home.data
    assert b'href="/backoffice/rewards"' in home.data
    page = client.get("/backoffice/tiers")
    assert page.status_code == 200
    assert b"not included in your Basic offering" in page.data
    assert b"Plus offering" in page.data


def test_basic_merchant_posting_a_tier_is_refused_without_a_500(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    login_as(factories.make_user(session, basic))
    answer = client.post("/backoffice/tiers/new", data=TIER)
    assert answer.status_code == 409
    assert b"Upgrade to Plus" in answer.data
    assert count(session, LoyaltyTier, basic) == 0


def test_after_a_downgrade_existing_tiers_are_listed_and_kept(client, login_as, session, tenant):
    factories.make_tier(session, tenant, name="Gold", min_points=1000)
    tenant.merchant.offering = Offering.BASIC
    session.flush()
    login_as(factories.make_user(session, tenant))
    page = client.get("/backoffice/tiers")
    assert b"Gold" in page.data
    assert b"Your tiers are kept" in page.data
    assert count(session, LoyaltyTier, tenant) == 1


def test_a_downgrade_from_plus_to_basic_hides_tiers_and_keeps_them(
    client, login_as, session, tenant
):
    from loyalty.services import merchants
    from loyalty.services.actors import Actor

    gold = factories.make_tier(session, tenant, name="Gold", min_points=1000)
    member = factories.make_member(session, tenant)
    member.tier_id = gold.id
    admin = factories.make_user(session, platform_admin=True)
    merchants.change_offering(
        session, merchant=tenant.merchant, offering=Offering.BASIC, actor=Actor.operator(admin.id)
    )
    session.flush()
    login_as(factories.make_user(session, tenant))
    page = client.get("/backoffice/tiers")
    assert b'href="/backoffice/tiers"' not in page.data  # not in the menu any more
    assert b"Your tiers are kept" in page.data
    assert b"Gold" in page.data
    assert client.post(f"/backoffice/tiers/{gold.id}", data=TIER).status_code == 409
    assert client.post(f"/backoffice/tiers/{gold.id}/delete").status_code == 409
    session.refresh(gold)
    session.refresh(member)
    assert (gold.name, member.tier_id) == ("Gold", gold.id)


def test_plus_merchant_creates_edits_and_deletes_a_tier(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    assert b'href="/backoffice/tiers"' in client.get("/backoffice/tiers").data
    assert client.post("/backoffice/tiers/new", data=TIER).status_code == 302
    tier = session.scalars(
        select(LoyaltyTier).where(LoyaltyTier.merchant_id == tenant.merchant.id)
    ).one()
    assert tier.benefits == {"perks": ["Free coffee", "Early sales"]}
    edit = client.get(f"/backoffice/tiers/{tier.id}")
    assert b"Early sales" in edit.data
    assert (
        client.post(f"/backoffice/tiers/{tier.id}", data={**TIER, "min_points": "600"}).status_code
        == 302
    )
    session.refresh(tier)
    assert tier.min_points == 600
    assert b"Delete the tier" in client.get(f"/backoffice/tiers/{tier.id}/delete").data
    assert client.post(f"/backoffice/tiers/{tier.id}/delete").status_code == 302
    assert count(session, LoyaltyTier, tenant) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"min_points": "lots"},
        {"min_points": "-5"},
        {"earn_multiplier": "0.5"},
        {"earn_multiplier": "abc"},
        {"qualification_window_days": "0"},
        {"name": ""},
    ],
)
def test_bad_tier_input_is_shown_and_saves_nothing(client, login_as, session, tenant, bad):
    login_as(factories.make_user(session, tenant))
    answer = client.post("/backoffice/tiers/new", data={**TIER, **bad})
    assert answer.status_code == 422
    assert b"invalid-feedback" in answer.data
    assert count(session, LoyaltyTier, tenant) == 0


# --- rewards -----------------------------------------------------------------------------


def test_basic_merchant_is_offered_only_discount_reward_types(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    login_as(factories.make_user(session, basic))
    page = client.get("/backoffice/rewards/new")
    assert b'value="discount_fixed"' in page.data
    assert b'value="free_item"' not in page.data
    answer = client.post(
        "/backoffice/rewards/new", data={**REWARD, "type": "free_item", "value": ""}
    )
    assert answer.status_code == 422
    assert count(session, Reward, basic) == 0
    assert client.post("/backoffice/rewards/new", data=REWARD).status_code == 302
    assert count(session, Reward, basic) == 1


def test_a_rewards_missing_or_bad_value_is_explained_in_its_own_words(
    client, login_as, session, tenant
):
    login_as(factories.make_user(session, tenant))
    no_amount = client.post("/backoffice/rewards/new", data={**REWARD, "value": ""})
    assert no_amount.status_code == 422
    assert "Enter the amount off, like 12.50." in no_amount.text
    percent = {**REWARD, "type": "discount_percent", "value": "-10"}
    negative = client.post("/backoffice/rewards/new", data=percent)
    assert "a whole number from 1 to 100" in negative.text
    assert count(session, Reward, tenant) == 0


def test_a_reward_with_a_picture_is_created_and_the_picture_served_as_png(
    client, login_as, session, tenant
):
    login_as(factories.make_user(session, tenant))
    answer = client.post(
        "/backoffice/rewards/new",
        data={**REWARD, "image": (io.BytesIO(picture()), "photo.jpg")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    reward = session.scalars(select(Reward).where(Reward.merchant_id == tenant.merchant.id)).one()
    assert reward.image_file is not None
    served = client.get(f"/backoffice/rewards/{reward.id}/picture")
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.data.startswith(b"\x89PNG")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_a_bad_picture_is_refused_and_the_reward_not_created(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    answer = client.post(
        "/backoffice/rewards/new",
        data={**REWARD, "image": (io.BytesIO(b"<html><script>x</script>"), "photo.png")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert b"not a picture we can read" in answer.data
    assert count(session, Reward, tenant) == 0


def test_the_reward_form_sets_how_often_a_member_may_redeem(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    form = client.get("/backoffice/rewards/new").get_data(as_text=True)
    assert "How often per member" in form
    assert "Once per member per calendar month" in form
    missing_n = client.post(
        "/backoffice/rewards/new", data={**REWARD, "redemption_limit": "days", "limit_days": ""}
    )
    assert missing_n.status_code == 422
    assert "For “once every N days”, enter N" in missing_n.get_data(as_text=True)
    assert count(session, Reward, tenant) == 0
    created = client.post(
        "/backoffice/rewards/new", data={**REWARD, "redemption_limit": "days", "limit_days": "14"}
    )
    assert created.status_code == 302
    reward = session.scalars(select(Reward).where(Reward.merchant_id == tenant.merchant.id)).one()
    assert (reward.redemption_limit, reward.limit_days) == (RedemptionLimit.DAYS, 14)
    assert "once every 14 days" in client.get("/backoffice/rewards").get_data(as_text=True)
    edit = client.get(f"/backoffice/rewards/{reward.id}").get_data(as_text=True)
    assert '<option selected value="days">' in edit
    client.post(f"/backoffice/rewards/{reward.id}", data={**REWARD, "redemption_limit": "once"})
    session.refresh(reward)
    assert (reward.redemption_limit, reward.limit_days) == (RedemptionLimit.ONCE, None)
    bogus = client.post(
        f"/backoffice/rewards/{reward.id}", data={**REWARD, "redemption_limit": "x"}
    )
    assert bogus.status_code == 422
    session.refresh(reward)
    assert reward.redemption_limit == RedemptionLimit.ONCE


def test_editing_a_reward_changes_stock_and_can_switch_it_off(client, login_as, session, tenant):
    reward = factories.make_reward(session, tenant, type=RewardType.DISCOUNT_FIXED, value=500)
    login_as(factories.make_user(session, tenant))
    form = client.get(f"/backoffice/rewards/{reward.id}")
    assert b'value="5.00"' in form.data
    data = {**REWARD, "stock": "7"}
    data.pop("active")
    assert client.post(f"/backoffice/rewards/{reward.id}", data=data).status_code == 302
    session.refresh(reward)
    assert (reward.stock, reward.active) == (7, False)
    assert b"Not offered" in client.get("/backoffice/rewards").data


@pytest.mark.parametrize(
    "bad",
    [{"points_cost": "0"}, {"points_cost": "x"}, {"value": "five"}, {"stock": "-1"}, {"type": "x"}],
)
def test_bad_reward_input_is_shown_and_saves_nothing(client, login_as, session, tenant, bad):
    login_as(factories.make_user(session, tenant))
    answer = client.post("/backoffice/rewards/new", data={**REWARD, **bad})
    assert answer.status_code == 422
    assert count(session, Reward, tenant) == 0


# --- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/backoffice/tiers",
        "/backoffice/tiers/new",
        "/backoffice/rewards",
        "/backoffice/rewards/new",
    ],
)
def test_shop_staff_cannot_open_catalogue_pages(client, login_as, session, tenant, path):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    assert client.get(path).status_code == 403
    assert client.post(path, data={**TIER, **REWARD}).status_code in (403, 405)
    assert count(session, LoyaltyTier, tenant) == 0
    assert count(session, Reward, tenant) == 0
