"""The public REST API v1 through the Flask client: keys, resources, idempotency, problems."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.models import ApiKey, ApiScope, LoyaltyTransaction, Offering, RedemptionLimit
from loyalty.services import api_keys
from loyalty.services.actors import Actor
from tests import factories
from tests.e2e.api_support import ApiTenant, make_api_tenant
from tests.invariants import assert_ledger_consistent


@pytest.fixture
def api(session: Session) -> ApiTenant:
    return make_api_tenant(session, name="Supermarché Test")


def _ledger_rows(session: Session, member_id: int) -> int:
    return session.scalar(select(func.count()).where(LoyaltyTransaction.member_id == member_id))


def test_a_request_without_a_key_is_401_problem_json(client) -> None:
    response = client.get("/api/v1/shops")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "invalid_api_key"
    assert response.json["type"].endswith("#problem-invalid_api_key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_is_refused(client, session: Session, api: ApiTenant) -> None:
    key = session.scalars(select(ApiKey)).all()[-1]
    api_keys.revoke_key(
        session, merchant=api.tenant.merchant, key_id=key.id, actor=Actor.system("test")
    )
    assert client.get("/api/v1/shops", headers=api.headers).status_code == 401


def test_a_basic_merchants_key_is_refused_naming_the_offering(
    client, session: Session, api: ApiTenant
) -> None:
    api.tenant.merchant.offering = Offering.BASIC  # a downgrade keeps the key, not the API
    session.flush()
    response = client.get("/api/v1/shops", headers=api.headers)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "feature_not_in_offering"
    assert response.json["required_offering"] == "enterprise"
    assert "Enterprise" in response.json["detail"]


def test_keys_are_created_only_for_enterprise_merchants(session: Session) -> None:
    from loyalty.errors import FeatureNotInOffering

    basic = factories.make_tenant(session, offering=Offering.BASIC)
    with pytest.raises(FeatureNotInOffering):
        api_keys.create_key(session, merchant=basic.merchant, actor=Actor.system("test"))


def test_enrol_look_up_earn_and_read_the_new_balance(
    client, session: Session, api: ApiTenant
) -> None:
    created = client.post(
        "/api/v1/members",
        json={
            "name": "Anna Muller",
            "email": "Anna@Example.com",
            "external_id": "POS-1",
            "terms_accepted": True,
        },
        headers=api.headers,
    )
    assert created.status_code == 201, created.json
    member = created.json
    assert member["email"] == "anna@example.com"
    found = client.get("/api/v1/members/lookup?external_id=POS-1", headers=api.headers)
    assert found.json["id"] == member["id"]
    by_card = client.get(
        f"/api/v1/members/lookup?card_number={member['card_number']}", headers=api.headers
    )
    assert by_card.json["id"] == member["id"]

    earned = client.post(
        "/api/v1/transactions",
        json={
            "member_id": member["id"],
            "amount_cents": 2550,
            "shop_id": api.tenant.shop.id,
            "order_reference": "R-1001",
        },
        headers=api.headers,
    )
    assert earned.status_code == 201, earned.json
    assert earned.json["points"] == 25
    assert earned.json["balance"] == member["points_balance"] + 25
    assert earned.json["transaction"]["order_reference"] == "R-1001"
    assert_ledger_consistent(session, member["id"])

    listed = client.get(
        f"/api/v1/transactions?member_id={member['id']}&type=earn", headers=api.headers
    )
    assert [row["id"] for row in listed.json["data"]] == [earned.json["transaction"]["id"]]


def test_refund_takes_points_back_and_returns_the_balance(
    client, session: Session, api: ApiTenant
) -> None:
    member = factories.make_member(session, api.tenant)
    earned = client.post(
        "/api/v1/transactions",
        json={"member_id": member.id, "amount_cents": 1000},
        headers=api.headers,
    ).json
    refunded = client.post(
        f"/api/v1/transactions/{earned['transaction']['id']}/refund",
        json={"amount_cents": 500},
        headers=api.headers,
    )
    assert refunded.status_code == 201, refunded.json
    assert refunded.json["balance"] == 5
    assert refunded.json["transaction"]["type"] == "reverse"


def test_redeem_then_check_use_and_void_the_voucher(
    client, session: Session, api: ApiTenant
) -> None:
    member = factories.make_member(session, api.tenant)
    reward = factories.make_reward(session, api.tenant, cost=10)
    client.post(
        "/api/v1/transactions",
        json={"member_id": member.id, "amount_cents": 3000},
        headers=api.headers,
    )
    redeemed = client.post(
        "/api/v1/redemptions",
        json={"member_id": member.id, "reward_id": reward.id},
        headers=api.headers,
    )
    assert redeemed.status_code == 201, redeemed.json
    assert redeemed.json["balance"] == 20
    code = redeemed.json["voucher"]["code"]
    checked = client.get(f"/api/v1/vouchers/{code}", headers=api.headers)
    assert checked.json["usable"] is True
    voided = client.post(
        f"/api/v1/vouchers/{code}/void", json={"reason": "changed mind"}, headers=api.headers
    )
    assert voided.status_code == 200, voided.json
    assert voided.json["balance"] == 30
    used = client.post(f"/api/v1/vouchers/{code}/use", json={}, headers=api.headers)
    assert used.status_code == 409
    assert used.json["code"] == "voucher_not_usable"


def test_a_second_redemption_of_a_once_per_member_reward_is_a_stable_problem(
    client, session: Session, api: ApiTenant
) -> None:
    member = factories.make_member(session, api.tenant)
    reward = factories.make_reward(session, api.tenant, cost=10, limit=RedemptionLimit.MONTH)
    client.post(
        "/api/v1/transactions",
        json={"member_id": member.id, "amount_cents": 3000},
        headers=api.headers,
    )
    body = {"member_id": member.id, "reward_id": reward.id}
    first = client.post("/api/v1/redemptions", json=body, headers=api.headers)
    assert first.status_code == 201, first.json
    rows = _ledger_rows(session, member.id)
    second = client.post("/api/v1/redemptions", json=body, headers=api.headers)
    assert second.status_code == 409
    assert second.mimetype == "application/problem+json"
    assert second.json["code"] == "reward_limit_reached"
    assert second.json["type"].endswith("/api/v1/docs#problem-reward_limit_reached")
    assert "once per calendar month" in second.json["detail"]
    assert second.json["available_again_at"].startswith(("20", "21"))
    assert _ledger_rows(session, member.id) == rows
    listed = client.get("/api/v1/rewards", headers=api.headers).json["data"]
    assert [(r["redemption_limit"], r["limit_days"]) for r in listed] == [("month", None)]
    assert b"problem-reward_limit_reached" in client.get("/api/v1/docs").data


def test_a_used_reward_brought_back_is_returned_through_the_api(
    client, session: Session, api: ApiTenant
) -> None:
    member = factories.make_member(session, api.tenant)
    reward = factories.make_reward(session, api.tenant, cost=10, stock=2)
    client.post(
        "/api/v1/transactions",
        json={"member_id": member.id, "amount_cents": 3000},
        headers=api.headers,
    )
    code = client.post(
        "/api/v1/redemptions",
        json={"member_id": member.id, "reward_id": reward.id},
        headers=api.headers,
    ).json["voucher"]["code"]
    early = client.post(
        f"/api/v1/vouchers/{code}/return", json={"reason": "back"}, headers=api.headers
    )
    assert early.status_code == 409
    assert early.json["code"] == "nothing_to_reverse"
    client.post(f"/api/v1/vouchers/{code}/use", json={}, headers=api.headers)
    returned = client.post(
        f"/api/v1/vouchers/{code}/return", json={"reason": "back"}, headers=api.headers
    )
    assert returned.status_code == 200, returned.json
    assert returned.json["balance"] == 30
    assert returned.json["voucher"]["status"] == "void"
    session.refresh(reward)
    assert reward.stock == 2
    assert_ledger_consistent(session, member.id)


def test_a_replayed_post_returns_the_first_answer_and_earns_once(
    client, session: Session, api: ApiTenant
) -> None:
    member = factories.make_member(session, api.tenant)
    headers = {**api.headers, "Idempotency-Key": "order-77"}
    body = {"member_id": member.id, "amount_cents": 1200}
    first = client.post("/api/v1/transactions", json=body, headers=headers)
    again = client.post("/api/v1/transactions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _ledger_rows(session, member.id) == 1


def test_the_same_key_with_another_body_is_422(client, session: Session, api: ApiTenant) -> None:
    member = factories.make_member(session, api.tenant)
    headers = {**api.headers, "Idempotency-Key": "order-78"}
    client.post(
        "/api/v1/transactions", json={"member_id": member.id, "amount_cents": 1200}, headers=headers
    )
    other = client.post(
        "/api/v1/transactions", json={"member_id": member.id, "amount_cents": 9900}, headers=headers
    )
    assert other.status_code == 422
    assert other.json["code"] == "idempotency_key_reused"
    assert _ledger_rows(session, member.id) == 1


def test_a_refused_request_releases_its_key_for_the_corrected_one(
    client, session: Session, api: ApiTenant
) -> None:
    member = factories.make_member(session, api.tenant)
    headers = {**api.headers, "Idempotency-Key": "order-79"}
    refused = client.post(
        "/api/v1/transactions", json={"member_id": member.id, "amount_cents": 0}, headers=headers
    )
    assert refused.status_code == 422
    fixed = client.post(
        "/api/v1/transactions", json={"member_id": member.id, "amount_cents": 100}, headers=headers
    )
    assert fixed.status_code == 201


def test_validation_errors_list_every_field(client, api: ApiTenant) -> None:
    response = client.post(
        "/api/v1/transactions",
        json={"member_id": "seven", "amount_cents": -5, "colour": "red"},
        headers=api.headers,
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "validation_failed"
    fields = {error["field"] for error in response.json["errors"]}
    assert {"member_id", "amount_cents", "colour"} <= fields


def test_a_read_only_key_reads_but_cannot_change_anything(
    client, session: Session, api: ApiTenant
) -> None:
    reader = api_keys.create_key(
        session, merchant=api.tenant.merchant, actor=Actor.system("t"), scope=ApiScope.READ
    )
    headers = {"Authorization": f"Bearer {reader.secret}"}
    member = factories.make_member(session, api.tenant)
    assert client.get(f"/api/v1/members/{member.id}", headers=headers).status_code == 200
    refused = client.post(
        "/api/v1/transactions", json={"member_id": member.id, "amount_cents": 100}, headers=headers
    )
    assert refused.status_code == 403
    assert refused.json["code"] == "insufficient_scope"
    priced = client.post(
        "/api/v1/promotions/evaluate",
        json={"member_id": member.id, "amount_cents": 1000},
        headers=headers,
    )
    assert priced.status_code == 200
    assert priced.json["points"] == 10
    assert _ledger_rows(session, member.id) == 0


def test_another_merchants_member_is_404(client, session: Session, api: ApiTenant) -> None:
    theirs = factories.make_member(session, factories.make_tenant(session))
    assert client.get(f"/api/v1/members/{theirs.id}", headers=api.headers).status_code == 404
    earn = client.post(
        "/api/v1/transactions",
        json={"member_id": theirs.id, "amount_cents": 100},
        headers=api.headers,
    )
    assert earn.status_code == 404


def test_update_and_erase_a_member(client, session: Session, api: ApiTenant) -> None:
    member = factories.make_member(session, api.tenant, email="old@example.com")
    changed = client.patch(
        f"/api/v1/members/{member.id}",
        json={"name": "New Name", "phone": "+352 621 123 456"},
        headers=api.headers,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "New Name"
    assert changed.json["phone"] == "+352621123456"
    erased = client.delete(f"/api/v1/members/{member.id}", headers=api.headers)
    assert erased.status_code == 200
    assert erased.json["erased"] is True
    assert erased.json["email"] is None


def test_the_openapi_document_and_reference_page_need_no_key(client) -> None:
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    assert document.json["openapi"] == "3.1.0"
    assert "/api/v1/transactions" in document.json["paths"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"Earn points on a purchase" in page.data
    assert b"problem-insufficient_points" in page.data
