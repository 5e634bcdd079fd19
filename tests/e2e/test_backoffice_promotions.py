"""The promotion pages: create (with the onboarding's `next`), edit, preview, end; refusals."""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.models import Offering, Promotion, PromotionType, Role
from tests import factories


def count_promotions(session, tenant) -> int:
    return session.scalar(
        select(func.count(Promotion.id)).where(Promotion.merchant_id == tenant.merchant.id)
    )


FORM = {
    "name": "Double points Tuesdays",
    "type": "points_multiplier",
    "value": "2",
    "weekdays": ["1"],
    "active": "y",
    "save": "Save promotion",
}


def test_new_promotion_page_is_at_the_address_onboarding_links_to(
    client, login_as, session, tenant
):
    login_as(factories.make_user(session, tenant))
    page = client.get("/backoffice/promotions/new?next=/backoffice/")
    assert page.status_code == 200
    assert b'name="next" type="hidden" value="/backoffice/"' in page.data


def test_creating_a_promotion_returns_to_next(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    answer = client.post(
        "/backoffice/promotions/new", data={**FORM, "next": "/onboarding/checklist"}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/onboarding/checklist"
    promotion = session.scalars(
        select(Promotion).where(Promotion.merchant_id == tenant.merchant.id)
    ).one()
    assert promotion.type == PromotionType.POINTS_MULTIPLIER
    assert promotion.conditions == {"weekdays": [1]}


def test_an_outside_next_is_ignored(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    answer = client.post(
        "/backoffice/promotions/new", data={**FORM, "next": "https://evil.example/"}
    )
    promotion = session.scalars(
        select(Promotion).where(Promotion.merchant_id == tenant.merchant.id)
    ).one()
    assert answer.headers["Location"] == f"/backoffice/promotions/{promotion.id}"
    page = client.get("/backoffice/promotions/new?next=//evil.example/")
    assert b"evil.example" not in page.data


def test_bad_promotion_input_shows_the_error_and_saves_nothing(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    for bad in (
        {"value": "eleven"},
        {"value": "50"},
        {"type": "discount_fixed", "value": "abc"},
        {"min_spend": "-3"},
        {"weekdays": ["9"]},
        {"max_redemptions": "0"},
        {"starts_on": "2026-02-30"},
        {"type": "nonsense"},
        {"name": ""},
    ):
        answer = client.post("/backoffice/promotions/new", data={**FORM, **bad})
        assert answer.status_code == 422, bad
        assert b"invalid-feedback" in answer.data or b"alert-danger" in answer.data, bad
    assert count_promotions(session, tenant) == 0


def test_preview_button_counts_members_without_saving(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    for _ in range(3):
        factories.make_member(session, tenant)
    answer = client.post(
        "/backoffice/promotions/new",
        data={**FORM, "save": "", "show_preview": "Preview who qualifies"},
    )
    assert answer.status_code == 200
    assert b'data-testid="preview-count">3<' in answer.data
    assert count_promotions(session, tenant) == 0


def test_edit_and_end_a_promotion(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    client.post("/backoffice/promotions/new", data=FORM)
    promotion = session.scalars(
        select(Promotion).where(Promotion.merchant_id == tenant.merchant.id)
    ).one()
    page = client.get(f"/backoffice/promotions/{promotion.id}")
    assert b"Double points Tuesdays" in page.data
    assert b"preview-count" in page.data
    answer = client.post(
        f"/backoffice/promotions/{promotion.id}", data={**FORM, "name": "Triple", "value": "3"}
    )
    assert answer.status_code == 302
    session.refresh(promotion)
    assert promotion.name == "Triple"
    confirm = client.get(f"/backoffice/promotions/{promotion.id}/end")
    assert b"End promotion" in confirm.data
    assert client.post(f"/backoffice/promotions/{promotion.id}/end").status_code == 302
    session.refresh(promotion)
    assert promotion.ends_at is not None
    listing = client.get("/backoffice/promotions")
    assert b"Ended" in listing.data
    assert b"Triple" in listing.data


def test_basic_merchant_sees_no_tier_conditions(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    factories.make_tier(session, basic, name="Gold", min_points=1)
    login_as(factories.make_user(session, basic))
    page = client.get("/backoffice/promotions/new")
    assert b'name="tiers"' not in page.data
    assert b"Tier conditions come with the Plus offering" in page.data


def test_shop_staff_cannot_open_promotion_pages(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    assert client.get("/backoffice/promotions").status_code == 403
    assert client.get("/backoffice/promotions/new").status_code == 403
    assert client.post("/backoffice/promotions/new", data=FORM).status_code == 403
    assert count_promotions(session, tenant) == 0


def test_empty_list_explains_promotions(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    page = client.get("/backoffice/promotions")
    assert b"No promotions yet" in page.data
