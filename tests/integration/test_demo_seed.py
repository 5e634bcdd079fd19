"""The demo seed: idempotent, and its six months of history keep every ledger invariant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from loyalty import demo
from loyalty.identity import normalize_email, normalize_phone, parse_card_number
from loyalty.models import (
    Customer,
    LoyaltyMember,
    LoyaltyTransaction,
    Membership,
    Merchant,
    PointLot,
    Reward,
    Shop,
    User,
    Voucher,
)
from loyalty.passwords import verify_password

MEMBERS = 60
COUNTED = (Merchant, Shop, User, Membership, Customer, LoyaltyMember, LoyaltyTransaction, PointLot)


def _counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.scalar(select(func.count()).select_from(model)) for model in COUNTED
    }


def _violations(session: Session, sql: str) -> list:
    return session.execute(text(sql)).all()


@pytest.fixture
def seeded(session: Session) -> demo.SeedReport:
    report = demo.seed(session, members=MEMBERS)
    session.flush()
    return report


def test_seed_creates_three_merchants_with_their_offerings_and_shops(session, seeded):
    assert seeded.created == [spec.name for spec in demo.MERCHANTS]
    shops = dict(
        session.execute(
            select(Merchant.offering, func.count(Shop.id))
            .join(Shop, Shop.merchant_id == Merchant.id)
            .group_by(Merchant.offering)
        ).all()
    )
    assert shops == {"basic": 1, "plus": 3, "enterprise": 12}
    assert seeded.members == MEMBERS
    assert seeded.transactions > MEMBERS  # a sign-up bonus each, and visits on top
    assert seeded.vouchers > 0


def test_seed_twice_creates_nothing_new(session, seeded):
    before = _counts(session)
    again = demo.seed(session, members=MEMBERS)
    session.flush()
    assert again.created == []
    assert again.skipped == [spec.name for spec in demo.MERCHANTS]
    assert _counts(session) == before


def test_if_empty_leaves_a_database_with_merchants_alone(session, seeded):
    before = _counts(session)
    report = demo.seed(session, members=MEMBERS, if_empty=True)
    assert report.skipped_because_not_empty
    assert _counts(session) == before


def test_every_demo_login_signs_in_with_the_documented_password(session, seeded):
    for login in demo.demo_logins():
        user = session.scalars(select(User).where(User.email == login.email)).one()
        assert verify_password(user.password_hash, demo.DEMO_PASSWORD)
    admin = session.scalars(select(User).where(User.email == demo.ADMIN_EMAIL)).one()
    assert admin.is_platform_admin
    staff = session.scalars(
        select(Membership).join(User).where(User.email == "joao.pereira@cafe-mosel.example")
    ).one()
    assert staff.role == "staff"
    assert staff.shop_id is not None
    assert len(demo.DEMO_PASSWORD) >= 10


def test_balance_equals_ledger_sum_equals_open_lots(session, seeded):
    rows = _violations(
        session,
        """
        SELECT m.id, m.points_balance,
               (SELECT COALESCE(SUM(t.points), 0) FROM loyalty_transactions t
                 WHERE t.member_id = m.id) AS ledger,
               (SELECT COALESCE(SUM(l.remaining), 0) FROM point_lots l
                 WHERE l.member_id = m.id) AS lots
        FROM loyalty_members m
        """,
    )
    assert len(rows) == MEMBERS
    assert [r for r in rows if not (r[1] == r[2] == r[3] and r[1] >= 0)] == []


def test_balance_after_is_the_running_balance_and_never_negative(session, seeded):
    assert (
        _violations(
            session,
            """
            SELECT id FROM (
              SELECT id, balance_after,
                     SUM(points) OVER (PARTITION BY member_id ORDER BY created_at, id) AS running
              FROM loyalty_transactions
            ) ledger
            WHERE balance_after <> running OR balance_after < 0
            """,
        )
        == []
    )
    # Row order and time order agree, so "the last row" means the same thing to everyone.
    assert (
        _violations(
            session,
            """
            SELECT a.id FROM loyalty_transactions a JOIN loyalty_transactions b
              ON a.member_id = b.member_id AND a.id < b.id AND a.created_at > b.created_at
            """,
        )
        == []
    )


def test_lifetime_points_are_the_sum_of_earn_and_bonus_rows(session, seeded):
    assert (
        _violations(
            session,
            """
            SELECT m.id FROM loyalty_members m
            WHERE m.lifetime_points <> (
              SELECT COALESCE(SUM(t.points), 0) FROM loyalty_transactions t
              WHERE t.member_id = m.id AND t.type IN ('earn', 'bonus'))
            """,
        )
        == []
    )


def test_redemptions_consume_the_oldest_lots_first(session, seeded):
    # A newer lot may only be touched once every older lot of the member is used up.
    assert (
        _violations(
            session,
            """
            SELECT older.id FROM point_lots older JOIN point_lots newer
              ON older.member_id = newer.member_id AND older.id < newer.id
            WHERE older.remaining > 0 AND newer.remaining < newer.points
            """,
        )
        == []
    )
    assert (
        _violations(
            session,
            """
            SELECT l.id FROM point_lots l JOIN loyalty_transactions t ON t.id = l.transaction_id
            WHERE t.member_id <> l.member_id OR t.points <> l.points
               OR t.type NOT IN ('earn', 'bonus') OR l.created_at <> t.created_at
            """,
        )
        == []
    )


def test_every_redemption_has_its_voucher(session, seeded):
    redeemed = session.scalar(
        select(func.count())
        .select_from(LoyaltyTransaction)
        .where(LoyaltyTransaction.type == "redeem")
    )
    assert redeemed == session.scalar(select(func.count(Voucher.id))) > 0
    assert (
        _violations(
            session,
            """
            SELECT v.id FROM vouchers v JOIN loyalty_transactions t ON t.id = v.transaction_id
            WHERE t.type <> 'redeem' OR v.points_spent <> -t.points OR v.member_id <> t.member_id
               OR (v.status = 'used') <> (v.used_at IS NOT NULL)
               OR v.status NOT IN ('used', 'issued')
            """,
        )
        == []
    )
    codes = session.execute(select(Voucher.merchant_id, Voucher.code)).all()
    assert len(codes) == len(set(codes))
    stocks = session.scalars(select(Reward.stock).where(Reward.stock.is_not(None))).all()
    assert stocks
    assert all(stock >= 0 for stock in stocks)


def test_idempotency_keys_and_card_numbers_are_unique_per_programme(session, seeded):
    keys = session.execute(
        select(LoyaltyTransaction.program_id, LoyaltyTransaction.idempotency_key)
    ).all()
    assert len(keys) == len(set(keys))
    cards = session.execute(select(LoyaltyMember.program_id, LoyaltyMember.card_number)).all()
    assert len(cards) == len(set(cards))
    for _, card in cards:
        assert parse_card_number(card) == card  # the check digit is right


def test_history_lies_in_the_past_after_each_enrolment(session, seeded):
    now = datetime.now(UTC)
    times = session.execute(
        select(LoyaltyTransaction.created_at, LoyaltyMember.enrolled_at).join(
            LoyaltyMember, LoyaltyMember.id == LoyaltyTransaction.member_id
        )
    ).all()
    assert all(created.tzinfo is not None for created, _ in times)
    assert all(enrolled <= created < now for created, enrolled in times)
    span = max(c for c, _ in times) - min(c for c, _ in times)
    assert span.days >= 60  # months of history, not one afternoon
    last_activity = session.execute(
        select(LoyaltyMember.last_activity_at, func.max(LoyaltyTransaction.created_at))
        .join(LoyaltyTransaction, LoyaltyTransaction.member_id == LoyaltyMember.id)
        .group_by(LoyaltyMember.id, LoyaltyMember.last_activity_at)
    ).all()
    assert all(member == latest for member, latest in last_activity)


def test_cafe_members_sit_in_the_tier_their_lifetime_points_reach(session, seeded):
    assert (
        _violations(
            session,
            """
            SELECT m.id FROM loyalty_members m
            JOIN loyalty_programs p ON p.id = m.program_id
            WHERE EXISTS (SELECT 1 FROM loyalty_tiers x WHERE x.program_id = p.id)
              AND COALESCE(m.tier_id, -1) <> COALESCE((
                SELECT t.id FROM loyalty_tiers t
                WHERE t.program_id = p.id AND t.min_points <= m.lifetime_points
                ORDER BY t.min_points DESC LIMIT 1), -1)
            """,
        )
        == []
    )


def test_customers_have_luxembourg_contact_details(session, seeded):
    customers = session.scalars(select(Customer)).all()
    assert len(customers) == MEMBERS
    for customer in customers:
        assert customer.email or customer.phone
        if customer.phone:
            assert customer.phone.startswith("+3526")
            assert normalize_phone(customer.phone) == customer.phone
        if customer.email:
            assert normalize_email(customer.email) == customer.email
            assert customer.email.split("@")[1].split(".")[-1] in {"com", "net", "org", "example"}
            assert "example" in customer.email
        assert customer.consents["terms"]["granted"] is True


def test_cli_seeds_and_prints_the_logins(session, runner):
    result = runner.invoke(args=["demo", "seed", "--members", "30", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert demo.ADMIN_EMAIL in result.output
    assert demo.DEMO_PASSWORD in result.output
    again = runner.invoke(args=["demo", "seed", "--members", "30", "--if-empty"])
    assert again.exit_code == 0, again.output
    assert "already has merchants" in again.output
