"""The till through HTTP: identify, earn, redeem, vouchers, undo; every refusal clear and harmless."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import qrcode
from sqlalchemy import func, select

from loyalty.db import utcnow
from loyalty.identity import format_card_number, luhn_check_digit
from loyalty.models import (
    ChannelKind,
    LoyaltyTransaction,
    MemberStatus,
    Offering,
    OutboxMessage,
    RedemptionLimit,
    RefundShortfall,
    RewardType,
    Role,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services import lookup, merchants
from loyalty.services.actors import SYSTEM
from loyalty.services.earn import earn
from loyalty.services.rewards import redeem
from tests import factories
from tests.invariants import assert_ledger_consistent

JSON = {"Accept": "application/json"}


@pytest.fixture
def tenant(session):
    return factories.make_tenant(session, offering=Offering.PLUS, name="Bakery Dupont")


@pytest.fixture
def member(session, tenant):
    member = factories.make_member(
        session, tenant, name="Éloïse Muller", email="eloise@example.com"
    )
    factories.add_channel(session, member, ChannelKind.EMAIL, "eloise@example.com")
    return member


@pytest.fixture
def cashier(session, tenant, login_as):
    user = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    login_as(user)
    return user


def ledger_count(session, member) -> int:
    return session.scalar(
        select(func.count())
        .select_from(LoyaltyTransaction)
        .where(LoyaltyTransaction.member_id == member.id)
    )


def post(client, url, data, *, as_json=True, **kwargs):
    return client.post(url, data=data, headers=JSON if as_json else {}, **kwargs)


def earn_form(amount="12.50", key="k1", **extra):
    return {"amount": amount, "idempotency_key": key, **extra}


def fund(session, tenant, member, cents=30_000):
    earn(session, member=member, amount_cents=cents, idempotency_key=f"fund-{member.id}")


# --- identify ------------------------------------------------------------------------------


def test_a_scanned_token_opens_the_member(client, session, tenant, member, cashier, secret_key):
    token = lookup.qr_token(member, secret_key)
    response = post(client, "/staff/identify", {"query": token}, as_json=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/staff/members/{member.id}")


def test_a_typed_card_number_opens_the_member(client, session, member, cashier):
    response = post(client, "/staff/identify", {"query": format_card_number(member.card_number)})
    assert response.json["redirect"].endswith(f"/staff/members/{member.id}")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("LY1.{merchant}.{member}.AAAAAAAAAAAAAAAAAAAAAAAA", "not valid (forged"),
        ("LY1.999999.{member}.AAAAAAAAAAAAAAAAAAAAAAAA", "another programme"),
        ("123456789012", "not valid: a digit is probably mistyped"),
        ("{unknown_card}", "not found in Bakery Dupont"),
        ("nobody@example.com", "No member with e-mail"),
        ("", "Scan a card or type"),
    ],
)
def test_identify_refusals_are_specific(client, session, tenant, member, cashier, query, message):
    body = "12345678901"
    unknown = body + luhn_check_digit(body)
    if unknown == member.card_number:  # pragma: no cover - one chance in 10^11
        pytest.skip("collided with the member's card")
    query = query.format(merchant=tenant.merchant.id, member=member.id, unknown_card=unknown)
    response = post(client, "/staff/identify", {"query": query})
    assert response.status_code in (404, 422)
    assert response.mimetype == "application/problem+json"
    assert message in response.json["detail"]


def test_a_rotated_token_is_refused(client, session, member, cashier, secret_key):
    token = lookup.qr_token(member, secret_key)
    lookup.rotate_qr_token(session, member=member, actor=SYSTEM)
    response = post(client, "/staff/identify", {"query": token})
    assert response.status_code == 422
    assert "no longer works" in response.json["detail"]
    found = post(client, "/staff/identify", {"query": lookup.qr_token(member, secret_key)})
    assert found.status_code == 200


def test_the_till_shows_the_codes_age_and_warns_when_it_is_too_old(
    client, session, tenant, member, cashier
):
    member.enrolled_at = utcnow() - timedelta(days=3, hours=1)
    session.flush()
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert "QR code issued 3 days ago" in page
    assert 'data-testid="qr-too-old"' not in page
    tenant.program.qr_max_age_days = 2
    session.flush()
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert 'data-testid="qr-too-old"' in page
    assert "3 days old, older than the 2 days this business allows" in page


def test_a_refusal_without_script_comes_back_as_a_message_on_the_till(client, member, cashier):
    response = post(
        client, "/staff/identify", {"query": "123456789012"}, as_json=False, follow_redirects=True
    )
    assert response.request.path == "/staff/"
    assert "probably mistyped" in response.get_data(as_text=True)


def _qr_png(text: str) -> io.BytesIO:
    buffer = io.BytesIO()
    qrcode.make(text).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def test_a_photo_of_the_card_identifies_the_member(client, member, cashier, secret_key):
    photo = _qr_png(lookup.qr_token(member, secret_key))
    response = client.post(
        "/staff/identify/photo",
        data={"photo": (photo, "card.png")},
        headers=JSON,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert response.json["member_id"] == member.id


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an image at all", "not a photo we can read"),
        (None, "No QR code found"),
    ],
)
def test_unreadable_photos_get_a_clear_message(client, member, cashier, content, message):
    if content is None:  # a real image without a code
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (200, 200), "white").save(buffer, format="PNG")
        content = buffer.getvalue()
    response = client.post(
        "/staff/identify/photo",
        data={"photo": (io.BytesIO(content), "card.png")},
        headers=JSON,
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert message in response.json["detail"]


def test_typeahead_finds_by_name_prefix(client, member, cashier):
    results = client.get("/staff/search?q=elo", headers=JSON).json["results"]
    assert [r["id"] for r in results] == [member.id]


# --- earn ----------------------------------------------------------------------------------


def test_preview_shows_points_without_writing(client, session, member, cashier):
    response = client.get(f"/staff/members/{member.id}/preview?amount=12.50", headers=JSON)
    assert response.json["points"] == 12
    assert response.json["balance_after"] == 12
    assert ledger_count(session, member) == 0


def test_preview_names_the_tier_and_its_multiplier_as_people_write_it(
    client, session, tenant, member, cashier
):
    member.tier = factories.make_tier(
        session, tenant, name="Silver", min_points=0, multiplier="1.250"
    )
    session.flush()
    response = client.get(f"/staff/members/{member.id}/preview?amount=10", headers=JSON)
    assert (response.json["tier"], response.json["tier_multiplier"]) == ("Silver", "1.25")


def test_earn_records_the_shop_and_shows_a_receipt(client, session, tenant, member, cashier):
    response = post(client, f"/staff/members/{member.id}/earn", earn_form(), as_json=False)
    assert response.status_code == 303
    transaction = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.member_id == member.id)
    ).one()
    assert transaction.shop_id == tenant.shop.id
    assert transaction.created_by == cashier.id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="points">+12<' in page
    assert 'data-testid="balance">12 pts<' in page


def test_earn_with_basket_lines_applies_category_multipliers(
    client, session, tenant, member, cashier
):
    tenant.program.category_multipliers = {"pastry": "3"}
    session.flush()
    data = earn_form("10.00", line_amount=["4.00", ""], line_category=["pastry", ""])
    response = post(client, f"/staff/members/{member.id}/earn", data)
    assert response.json["points"] == 18  # 6 € at 1 + 4 € at 3


def test_a_double_submit_credits_once(client, session, member, cashier):
    first = post(client, f"/staff/members/{member.id}/earn", earn_form(key="same"))
    second = post(client, f"/staff/members/{member.id}/earn", earn_form(key="same"))
    assert first.json["redirect"] == second.json["redirect"]
    assert second.json["replayed"] is True
    assert ledger_count(session, member) == 1
    assert assert_ledger_consistent(session, member.id) == 12


def test_each_change_queues_one_notice_to_the_member(client, session, member, cashier):
    post(client, f"/staff/members/{member.id}/earn", earn_form(key="n1"))
    post(client, f"/staff/members/{member.id}/earn", earn_form(key="n1"))
    notices = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "points_changed")
    ).all()
    assert len(notices) == 1
    assert notices[0].address == "eloise@example.com"
    assert notices[0].payload["points"] == 12


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "above zero"),
        ("-5", "above zero"),
        ("250000", "more than one purchase can be"),
        ("twelve", "is not an amount"),
        ("", "Enter the amount"),
    ],
)
def test_bad_amounts_are_refused_and_change_nothing(
    client, session, member, cashier, amount, message
):
    response = post(client, f"/staff/members/{member.id}/earn", earn_form(amount))
    assert response.status_code == 422
    assert message in response.json["detail"]
    assert ledger_count(session, member) == 0


def test_a_blocked_member_earns_nothing(client, session, member, cashier):
    member.status = MemberStatus.SUSPENDED
    session.flush()
    response = post(client, f"/staff/members/{member.id}/earn", earn_form())
    assert response.status_code == 409
    assert "suspended" in response.json["detail"]
    assert ledger_count(session, member) == 0


def test_an_operation_without_a_key_is_refused(client, session, member, cashier):
    response = post(client, f"/staff/members/{member.id}/earn", {"amount": "5"})
    assert response.status_code == 422
    assert "Reload the page" in response.json["detail"]
    assert ledger_count(session, member) == 0


def test_an_owner_with_several_shops_must_choose_one(client, login_as, session, tenant, member):
    merchants.create_shop(session, merchant=tenant.merchant, name="Gare")
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = post(client, f"/staff/members/{member.id}/earn", earn_form())
    assert response.status_code == 422
    assert "Choose the shop" in response.json["detail"]
    home = client.get("/staff/").get_data(as_text=True)
    assert 'data-testid="shop-name">All shops<' in home
    post(client, "/staff/shop", {"shop": str(tenant.shop.id)})
    home = client.get("/staff/").get_data(as_text=True)
    assert f'data-testid="shop-name">{tenant.shop.name}<' in home  # the shop it now credits
    assert "Recent activity, all shops" in home
    assert post(client, f"/staff/members/{member.id}/earn", earn_form()).status_code == 200
    assert session.scalars(select(LoyaltyTransaction.shop_id)).one() == tenant.shop.id


def test_an_owner_cannot_choose_another_merchants_shop(client, login_as, session, tenant):
    other = factories.make_tenant(session, name="Florist Weber")
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    response = post(client, "/staff/shop", {"shop": str(other.shop.id)})
    assert response.status_code == 422


# --- redeem and vouchers -------------------------------------------------------------------


def test_every_till_change_records_the_staff_user_and_the_shop(
    client, session, tenant, member, cashier
):
    """Fraud review needs to know who did what where: earn, redeem, voucher, undo alike."""
    fund(session, tenant, member)
    reward = factories.make_reward(session, tenant, cost=100)
    shown = redeem(session, member=member, reward=reward, idempotency_key="by-chat")
    assert (
        post(client, f"/staff/members/{member.id}/earn", earn_form("8.00", "e")).status_code == 200
    )
    redeemed = post(
        client, f"/staff/members/{member.id}/redeem", {"reward": reward.id, "idempotency_key": "r"}
    )
    assert redeemed.status_code == 200, redeemed.json
    used = post(client, "/staff/vouchers/use", {"code": shown.code, "idempotency_key": "v"})
    assert used.status_code == 200, used.json
    undone = post(client, "/staff/undo", {"idempotency_key": "u"})
    assert undone.status_code == 200, undone.json
    at_till = session.scalars(
        select(LoyaltyTransaction).where(
            LoyaltyTransaction.member_id == member.id,
            LoyaltyTransaction.idempotency_key.not_in((f"fund-{member.id}", "by-chat")),
        )
    ).all()
    assert sorted(t.type.value for t in at_till) == ["earn", "redeem", "reverse"]
    assert {(t.created_by, t.shop_id) for t in at_till} == {(cashier.id, tenant.shop.id)}
    vouchers = session.scalars(select(Voucher).where(Voucher.member_id == member.id)).all()
    used_ones = [v for v in vouchers if v.used_at is not None]
    assert len(used_ones) == 2
    assert {(v.used_by, v.used_shop_id) for v in used_ones} == {(cashier.id, tenant.shop.id)}


def test_redeem_issues_and_uses_a_voucher_in_one_step(client, session, tenant, member, cashier):
    fund(session, tenant, member)
    reward = factories.make_reward(session, tenant, cost=100, stock=3)
    data = {"reward": str(reward.id), "idempotency_key": "r1"}
    response = post(client, f"/staff/members/{member.id}/redeem", data)
    assert response.status_code == 200, response.json
    voucher = session.scalars(select(Voucher).where(Voucher.member_id == member.id)).one()
    assert voucher.status == VoucherStatus.USED
    assert voucher.used_shop_id == tenant.shop.id
    assert assert_ledger_consistent(session, member.id) == 200
    again = post(client, f"/staff/members/{member.id}/redeem", data)
    assert again.json["redirect"] == response.json["redirect"]
    assert assert_ledger_consistent(session, member.id) == 200


def test_redeem_refuses_when_balance_too_low(client, session, tenant, member, cashier):
    reward = factories.make_reward(session, tenant, cost=100)
    data = {"reward": str(reward.id), "idempotency_key": "r1"}
    response = post(client, f"/staff/members/{member.id}/redeem", data)
    assert response.status_code == 409
    assert "costs 100 points; the card has 0" in response.json["detail"]
    assert ledger_count(session, member) == 0


def test_a_second_redemption_of_a_once_per_member_reward_is_refused_at_the_till(
    client, session, tenant, member, cashier
):
    fund(session, tenant, member)
    reward = factories.make_reward(
        session, tenant, cost=100, name="Welcome croissant", limit=RedemptionLimit.ONCE
    )
    first = post(
        client, f"/staff/members/{member.id}/redeem", {"reward": reward.id, "idempotency_key": "r1"}
    )
    assert first.status_code == 200, first.json
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert "Already redeemed:" in page
    assert "Welcome croissant (once per member)" in page
    rows = ledger_count(session, member)
    # A second till tab still showing the button: the service refuses, as HTML and as JSON.
    form = {"reward": reward.id, "idempotency_key": "r2"}
    refused = post(client, f"/staff/members/{member.id}/redeem", form, as_json=False)
    assert refused.status_code == 303
    shown = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "“Welcome croissant” can be redeemed once per member" in shown
    answer = post(client, f"/staff/members/{member.id}/redeem", {**form, "idempotency_key": "r3"})
    assert answer.status_code == 409
    assert answer.json["code"] == "reward_limit_reached"
    assert ledger_count(session, member) == rows
    assert assert_ledger_consistent(session, member.id) == 200


def test_redeem_refuses_an_out_of_stock_reward(client, session, tenant, member, cashier):
    fund(session, tenant, member)
    reward = factories.make_reward(session, tenant, cost=100, stock=0)
    data = {"reward": str(reward.id), "idempotency_key": "r1"}
    response = post(client, f"/staff/members/{member.id}/redeem", data)
    assert response.status_code == 409
    assert "out of stock" in response.json["detail"]
    assert assert_ledger_consistent(session, member.id) == 300
    assert ledger_count(session, member) == 1


def test_redeem_refuses_a_reward_outside_the_offering(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    member = factories.make_member(session, basic)
    fund(session, basic, member)
    reward = factories.make_reward(
        session, basic, cost=100, type=RewardType.FREE_ITEM, value=None, name="Croissant"
    )
    login_as(factories.make_user(session, basic, role=Role.STAFF, shop=basic.shop))
    data = {"reward": str(reward.id), "idempotency_key": "r1"}
    response = post(client, f"/staff/members/{member.id}/redeem", data)
    assert response.status_code == 409
    assert "not included in the Basic offering" in response.json["detail"]
    assert ledger_count(session, member) == 1


def test_redeem_of_another_merchants_reward_is_refused(client, session, tenant, member, cashier):
    fund(session, tenant, member)
    other = factories.make_tenant(session, name="Florist Weber")
    reward = factories.make_reward(session, other, cost=10)
    data = {"reward": str(reward.id), "idempotency_key": "r1"}
    response = post(client, f"/staff/members/{member.id}/redeem", data)
    assert response.status_code == 422
    assert ledger_count(session, member) == 1


@pytest.fixture
def voucher(session, tenant, member):
    fund(session, tenant, member)
    reward = factories.make_reward(session, tenant, cost=100)
    return redeem(session, member=member, reward=reward, idempotency_key="chat-redeem")


def test_a_shown_voucher_is_checked_then_marked_used(client, session, voucher, cashier, tenant):
    page = client.get(f"/staff/vouchers?code={voucher.code.lower()}").get_data(as_text=True)
    assert "Mark used" in page
    response = post(client, "/staff/vouchers/use", {"code": voucher.code, "idempotency_key": "v1"})
    assert response.status_code == 200
    assert "accepted" in response.json["message"]
    session.refresh(voucher)
    assert voucher.status == VoucherStatus.USED
    assert voucher.used_shop_id == tenant.shop.id
    notices = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "voucher_used")
    ).all()
    assert len(notices) == 1


def test_a_used_voucher_is_refused_saying_when(client, session, voucher, cashier):
    post(client, "/staff/vouchers/use", {"code": voucher.code, "idempotency_key": "v1"})
    response = post(client, "/staff/vouchers/use", {"code": voucher.code, "idempotency_key": "v2"})
    assert response.status_code == 409
    assert "was already used on" in response.json["detail"]


def test_an_expired_voucher_is_refused(client, session, voucher, cashier):
    voucher.valid_until = utcnow() - timedelta(days=1)
    session.flush()
    response = post(client, "/staff/vouchers/use", {"code": voucher.code, "idempotency_key": "v1"})
    assert response.status_code == 409
    assert "expired on" in response.json["detail"]
    session.refresh(voucher)
    assert voucher.status == VoucherStatus.ISSUED


def test_another_merchants_voucher_is_unknown_here(client, login_as, session, voucher):
    other = factories.make_tenant(session, name="Florist Weber")
    login_as(factories.make_user(session, other, role=Role.STAFF, shop=other.shop))
    response = post(client, "/staff/vouchers/use", {"code": voucher.code, "idempotency_key": "v1"})
    assert response.status_code == 404
    assert "No voucher" in response.json["detail"]
    page = client.get(f"/staff/vouchers?code={voucher.code}")
    assert page.status_code == 404
    assert "No voucher" in page.get_data(as_text=True)
    session.refresh(voucher)
    assert voucher.status == VoucherStatus.ISSUED


def test_checking_an_empty_voucher_code_says_what_to_type(client, cashier):
    assert client.get("/staff/vouchers").status_code == 200  # the empty form, no complaint
    page = client.get("/staff/vouchers?code=+")
    assert page.status_code == 422
    assert "A voucher code has 8 letters and digits" in page.get_data(as_text=True)


# --- undo and receipts ---------------------------------------------------------------------


def test_undo_works_once_from_the_till(client, session, member, cashier):
    earned = post(client, f"/staff/members/{member.id}/earn", earn_form(key="e1"))
    transaction_id = int(earned.json["redirect"].rsplit("/", 1)[1])
    assert "Undo" in client.get(earned.json["redirect"]).get_data(as_text=True)
    first = post(client, "/staff/undo", {"transaction": transaction_id, "idempotency_key": "u1"})
    assert first.status_code == 200
    second = post(client, "/staff/undo", {"transaction": transaction_id, "idempotency_key": "u2"})
    assert second.status_code == 409
    assert "already been undone" in second.json["detail"]
    assert assert_ledger_consistent(session, member.id) == 0
    types = session.scalars(select(LoyaltyTransaction.type).order_by(LoyaltyTransaction.id)).all()
    assert types == [TransactionType.EARN, TransactionType.REVERSE]


def test_send_receipt_queues_one_message(client, session, member, cashier):
    earned = post(client, f"/staff/members/{member.id}/earn", earn_form(key="e1"))
    url = earned.json["redirect"] + "/send"
    for key in ("s1", "s2"):
        assert post(client, url, {"idempotency_key": key}).status_code == 200
    receipts_queued = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "receipt")
    ).all()
    assert len(receipts_queued) == 1


def test_shop_staff_cannot_open_another_shops_receipt(client, session, tenant, member, login_as):
    kiosk = merchants.create_shop(session, merchant=tenant.merchant, name="Kiosk")
    result = earn(session, member=member, amount_cents=500, idempotency_key="k", shop=kiosk)
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    assert client.get(f"/staff/receipts/{result.transaction_id}").status_code == 404


def test_the_till_pages_render_for_staff(client, session, tenant, member, cashier):
    fund(session, tenant, member)
    factories.make_reward(session, tenant, cost=100, name="Free coffee")
    home = client.get("/staff/").get_data(as_text=True)
    assert 'id="query"' in home
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert "Free coffee" in page
    assert 'data-testid="balance">300 <' in page


def test_receipt_and_member_panel_show_spend_carried_to_the_next_point(
    client, session, tenant, member, cashier
):
    tenant.program.points_per_euro = Decimal("0.2")
    tenant.program.carry_over_spend = True
    session.flush()
    response = post(client, f"/staff/members/{member.id}/earn", earn_form("32.00"), as_json=False)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="points">+6<' in page
    assert 'data-testid="carry">€2.00<' in page
    panel = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert "€2.00 towards the next point" in panel


def test_a_purchase_in_the_return_window_shows_its_release_date(
    client, session, tenant, member, cashier
):
    tenant.program.pending_days = 14
    session.flush()
    response = post(client, f"/staff/members/{member.id}/earn", earn_form(), as_json=False)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="points">+12<' in page
    assert 'data-testid="balance">0 pts<' in page  # not spendable yet
    assert 'data-testid="pending-until">' in page
    panel = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert "+ 12 pending" in panel


def test_the_receipt_shows_points_recovered_for_an_earlier_refund(
    client, session, tenant, member, cashier
):
    tenant.program.refund_shortfall = RefundShortfall.CLAW_BACK
    member.points_debt = 5
    session.flush()
    response = post(client, f"/staff/members/{member.id}/earn", earn_form(), as_json=False)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="recovered">-5 pts<' in page
    assert 'data-testid="balance">7 pts<' in page  # 12 earned, 5 of them owed


def test_the_members_movements_are_counted_in_good_english(client, session, member, cashier):
    post(client, f"/staff/members/{member.id}/earn", earn_form(), as_json=False)
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    assert "The member's last 1 points movement, newest first" in page
