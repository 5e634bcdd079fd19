"""Stamp cards on the points ledger: filling, overflow, refunds, per item, switching, replays."""
# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty.db import is_postgres
from loyalty.errors import IdempotencyConflict, InvalidInput, RewardUnavailable
from loyalty.models import (
    LoyaltyTransaction,
    ProgramKind,
    RedemptionLimit,
    RefundShortfall,
    Reward,
    Role,
    StampPer,
    TransactionType,
    Voucher,
    VoucherStatus,
)
from loyalty.services import earn as earning
from loyalty.services import programme_settings, stamps
from loyalty.services.corrections import adjust, reverse
from loyalty.services.earn import earn, preview_earn
from loyalty.services.rewards import redeem
from loyalty.services.vouchers import use_voucher, void_voucher
from tests import factories
from tests.fakes.wallet import wallet_certs, wallet_settings  # noqa: F401  (fixtures)
from tests.invariants import assert_ledger_consistent

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def coffee(session, tenant):
    return factories.make_reward(session, tenant, cost=1, name="Free coffee")


@pytest.fixture
def card(session, tenant, coffee):
    """Ten stamps, one per visit, the full card gives a free coffee."""
    factories.make_stamp_card(session, tenant, per=StampPer.VISIT, reward=coffee)
    return tenant.program


@pytest.fixture
def manager(session, tenant):
    return factories.actor_for(factories.make_user(session, tenant), Role.MANAGER)


def visit(session, member, key, cents=350, **kwargs):
    return earn(session, member=member, amount_cents=cents, idempotency_key=key, at=NOW, **kwargs)


def test_each_visit_stamps_the_card_once_whatever_the_amount(session, card, member):
    first = visit(session, member, "v1", cents=350)
    second = visit(session, member, "v2", cents=9_000)
    assert (first.points, second.points, second.balance) == (1, 1, 2)
    assert stamps.card_of(member).grid == "●●○○○○○○○○"
    assert stamps.card_of(member).summary == "2 of 10 stamps: 8 more stamps for Free coffee."
    assert assert_ledger_consistent(session, member.id) == 2


def test_the_tenth_stamp_fills_the_card_issues_the_reward_and_starts_a_new_card(
    session, card, member, coffee
):
    for n in range(9):
        assert visit(session, member, f"v{n}").card_vouchers == ()
    tenth = visit(session, member, "v9")
    assert tenth.points == 1
    assert tenth.balance == 0  # a fresh card
    assert len(tenth.card_vouchers) == 1
    voucher = session.scalars(select(Voucher).where(Voucher.code == tenth.card_vouchers[0])).one()
    assert (voucher.reward_id, voucher.points_spent, voucher.status) == (
        coffee.id,
        10,
        VoucherStatus.ISSUED,
    )
    completion = session.get(LoyaltyTransaction, voucher.transaction_id)
    assert (completion.type, completion.points, completion.reference_type) == (
        TransactionType.REDEEM,
        -10,
        stamps.CARD_REFERENCE,
    )
    assert completion.reference_id == str(tenth.transaction_id)
    assert stamps.card_of(member).grid == "○" * 10
    assert assert_ledger_consistent(session, member.id) == 0


def test_stamps_beyond_a_full_card_carry_onto_the_next_card(session, card, member):
    card.stamp_per = StampPer.ITEM
    visit(session, member, "a", items=8)
    result = visit(session, member, "b", items=5)  # 13 stamps: one full card and 3 on the next
    assert (result.points, result.balance, len(result.card_vouchers)) == (5, 3, 1)
    big = visit(session, member, "c", items=27)  # 30 stamps: three cards, none left over
    assert (big.balance, len(big.card_vouchers)) == (0, 3)
    assert assert_ledger_consistent(session, member.id) == 0


def test_per_item_counts_items_and_each_stamp_needs_the_minimum_spend(session, card, member):
    card.stamp_per = StampPer.ITEM
    card.stamp_min_spend_cents = 300
    assert visit(session, member, "a", cents=1_000, items=2).points == 2
    assert visit(session, member, "b", cents=900, items=5).points == 3  # €9 pays for 3 stamps
    assert visit(session, member, "c", cents=250, items=1).points == 0
    assert visit(session, member, "d", cents=600).points == 1  # no count given: one item
    assert member.points_balance == 6
    assert assert_ledger_consistent(session, member.id) == 6


def test_per_visit_minimum_spend_gives_no_stamp_below_it(session, card, member):
    card.stamp_min_spend_cents = 500
    assert visit(session, member, "small", cents=499).points == 0
    assert visit(session, member, "enough", cents=500).points == 1


def test_items_must_be_a_sensible_count_and_nothing_is_written_otherwise(session, card, member):
    for bad in (0, -1, 1000, True, "3"):
        with pytest.raises(InvalidInput, match="number of items"):
            visit(session, member, f"bad-{bad}", items=bad)
    assert session.scalar(select(func.count(LoyaltyTransaction.id))) == 0


def test_preview_shows_the_stamps_without_writing(session, card, member):
    card.stamp_per = StampPer.ITEM
    quote = preview_earn(session, member=member, amount_cents=1200, items=4)
    assert (quote.points, quote.stamps) == (4, True)
    assert member.points_balance == 0


def test_a_retry_at_the_till_returns_the_same_card_and_voucher_and_writes_nothing(
    session, card, member
):
    for n in range(9):
        visit(session, member, f"v{n}")
    first = visit(session, member, "tenth")
    rows = session.scalar(select(func.count(LoyaltyTransaction.id)))
    again = visit(session, member, "tenth")
    assert again.replayed
    assert (again.transaction_id, again.card_vouchers, again.balance) == (
        first.transaction_id,
        first.card_vouchers,
        0,
    )
    assert session.scalar(select(func.count(LoyaltyTransaction.id))) == rows
    assert session.scalar(select(func.count(Voucher.id))) == 1
    with pytest.raises(IdempotencyConflict):
        visit(session, member, "tenth", cents=999)


def test_refund_of_a_stamped_purchase_removes_its_stamps(session, card, member, manager):
    card.stamp_per = StampPer.ITEM
    sale = visit(session, member, "sale", cents=1_200, items=4)
    refund = reverse(
        session,
        purchase=session.get(LoyaltyTransaction, sale.transaction_id),
        idempotency_key="refund",
        actor=manager,
        now=NOW,
    )
    assert refund.points == -4
    assert member.points_balance == 0
    assert assert_ledger_consistent(session, member.id) == 0


def test_refund_of_the_purchase_that_filled_the_card_cancels_its_unused_voucher(
    session, card, member, manager, coffee
):
    for n in range(9):
        visit(session, member, f"v{n}")
    tenth = visit(session, member, "tenth")
    refund = reverse(
        session,
        purchase=session.get(LoyaltyTransaction, tenth.transaction_id),
        idempotency_key="refund",
        actor=manager,
        now=NOW + timedelta(hours=1),
    )
    voucher = session.scalars(select(Voucher)).one()
    assert voucher.status == VoucherStatus.VOID
    assert refund.points == -1
    assert member.points_balance == 9  # back to the nine stamps before the refunded visit
    assert "not recovered" not in refund.description
    assert assert_ledger_consistent(session, member.id) == 9


def test_undo_at_the_till_cancels_the_purchase_that_filled_the_card_and_its_voucher(
    session, tenant, card, member
):
    from loyalty.services import undo

    cashier = factories.actor_for(
        factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop),
        Role.STAFF,
        tenant.shop,
    )
    card.stamp_per = StampPer.ITEM
    visit(session, member, "before", items=8)
    filled = earn(
        session,
        member=member,
        amount_cents=900,
        items=3,
        idempotency_key="filled",
        actor=cashier,
        shop=tenant.shop,
        at=NOW,
    )
    assert filled.balance == 1
    last = undo.undoable(
        session, merchant=tenant.merchant, actor=cashier, shop=tenant.shop, now=NOW
    )
    assert last.id == filled.transaction_id  # the purchase, not the full card's row
    undo.undo_last(
        session,
        merchant=tenant.merchant,
        actor=cashier,
        shop=tenant.shop,
        idempotency_key="undo",
        now=NOW + timedelta(minutes=1),
    )
    assert member.points_balance == 8
    assert session.scalars(select(Voucher)).one().status == VoucherStatus.VOID
    assert assert_ledger_consistent(session, member.id) == 8


@pytest.mark.parametrize(
    ("rule", "balance", "debt", "wording"),
    [
        (RefundShortfall.ABSORB, 0, 0, "1 points already spent, not recovered"),
        (RefundShortfall.CLAW_BACK, 0, 1, "1 points already spent, recovered from future"),
    ],
)
def test_refund_after_the_reward_was_used_follows_the_programme_refund_rule(
    session, tenant, card, member, manager, rule, balance, debt, wording
):
    card.refund_shortfall = rule
    for n in range(9):
        visit(session, member, f"v{n}")
    tenth = visit(session, member, "tenth")
    use_voucher(
        session,
        merchant=tenant.merchant,
        code=tenth.card_vouchers[0],
        idempotency_key="coffee",
        actor=manager,
        now=NOW,
    )
    refund = reverse(
        session,
        purchase=session.get(LoyaltyTransaction, tenth.transaction_id),
        idempotency_key="refund",
        actor=manager,
        now=NOW + timedelta(hours=1),
    )
    assert wording in refund.description
    assert (member.points_balance, member.points_debt) == (balance, debt)
    if debt:  # the next stamp pays the debt before it counts on the card
        later = visit(session, member, "later")
        assert (later.points, later.debt_recovered, later.balance) == (1, 1, 0)
    assert_ledger_consistent(session, member.id)


def test_a_full_card_waits_when_its_reward_is_out_of_stock(session, card, member, coffee):
    coffee.stock = 0
    card.stamp_per = StampPer.ITEM
    full = visit(session, member, "full", items=10)
    assert (full.balance, full.card_vouchers) == (10, ())
    assert stamps.card_of(member).to_go == 0
    coffee.stock = 5
    session.flush()
    later = visit(session, member, "later", items=2)
    assert (later.balance, len(later.card_vouchers)) == (2, 1)
    assert assert_ledger_consistent(session, member.id) == 2


def test_a_full_card_waits_when_its_reward_was_already_had_once_per_member(
    session, card, member, coffee
):
    coffee.redemption_limit = RedemptionLimit.ONCE
    card.stamp_per = StampPer.ITEM
    first = visit(session, member, "first", items=10)
    assert (first.balance, len(first.card_vouchers), first.card_held) == (0, 1, None)
    second = visit(session, member, "second", items=13)  # the same limit a redemption obeys
    assert (second.balance, second.card_vouchers) == (13, ())  # the stamps stay on the card
    assert "can be redeemed once per member" in second.card_held
    assert "already redeemed it on 1 Jun 2026. The full card keeps its stamps." in second.card_held
    assert session.scalar(select(func.count(Voucher.id))) == 1
    assert assert_ledger_consistent(session, member.id) == 13


def test_one_purchase_filling_two_cards_gets_one_voucher_of_a_once_per_member_reward(
    session, card, member, coffee
):
    coffee.redemption_limit = RedemptionLimit.ONCE
    card.stamp_per = StampPer.ITEM
    result = visit(session, member, "big", items=25)
    assert (result.balance, len(result.card_vouchers)) == (15, 1)
    assert result.card_held is not None
    assert assert_ledger_consistent(session, member.id) == 15


def test_a_monthly_reward_completes_the_waiting_card_once_the_new_month_begins(
    session, card, member, coffee
):
    coffee.redemption_limit = RedemptionLimit.MONTH
    card.stamp_per = StampPer.ITEM
    visit(session, member, "june", items=10)
    held = earn(
        session,
        member=member,
        amount_cents=2_000,
        items=10,
        idempotency_key="june-2",
        at=NOW + timedelta(days=5),
    )
    assert (held.balance, held.card_vouchers) == (10, ())
    assert "again from 1 Jul 2026. The full card keeps its stamps until then." in held.card_held
    july = earn(
        session,
        member=member,
        amount_cents=350,
        items=1,
        idempotency_key="july",
        at=datetime(2026, 7, 1, 9, tzinfo=UTC),
    )
    assert (july.balance, len(july.card_vouchers), july.card_held) == (1, 1, None)
    assert assert_ledger_consistent(session, member.id) == 1


def test_a_voided_card_voucher_frees_the_once_per_member_limit(
    session, card, member, coffee, manager
):
    coffee.redemption_limit = RedemptionLimit.ONCE
    card.stamp_per = StampPer.ITEM
    first = visit(session, member, "first", items=10)
    voucher = session.scalars(select(Voucher).where(Voucher.code == first.card_vouchers[0])).one()
    void_voucher(
        session,
        voucher=voucher,
        reason="wrong card",
        idempotency_key="void",
        actor=manager,
        now=NOW,
    )
    again = visit(session, member, "again", items=1)  # the voucher's stamps came back: 11
    assert (again.balance, len(again.card_vouchers)) == (1, 1)


def test_a_full_card_waiting_on_stock_says_so_at_the_till(session, card, member, coffee):
    coffee.stock = 0
    card.stamp_per = StampPer.ITEM
    full = visit(session, member, "full", items=10)
    assert full.card_held == (
        "“Free coffee” is out of stock: the full card keeps its stamps until it is back."
    )


@pytest.mark.parametrize(
    ("limit", "stock", "says"),
    [
        (
            RedemptionLimit.MONTH,
            None,
            "the card is full. Free coffee is once a month: "
            "it comes with your next visit from 1 Jul 2026.",
        ),
        (
            RedemptionLimit.ONCE,
            None,
            "the card is full, but Free coffee is once per member and you have already had it.",
        ),
        (
            RedemptionLimit.REPEATABLE,
            0,
            "the card is full. Free coffee is out of stock: "
            "it comes with your next visit once it is back.",
        ),
    ],
)
def test_a_full_card_held_back_says_when_its_reward_comes_instead_of_on_its_way(
    session, card, member, coffee, limit, stock, says
):
    coffee.redemption_limit = limit
    card.stamp_per = StampPer.ITEM
    visit(session, member, "first", items=10)
    coffee.stock = stock
    held = visit(session, member, "second", items=10)
    assert (held.balance, held.card_vouchers) == (10, ())
    summary = stamps.card_of(member, now=NOW).summary
    assert summary == f"10 of 10 stamps: {says}"
    assert "on its way" not in summary


def test_a_full_card_without_its_reward_says_to_ask_and_once_set_the_reward_is_on_its_way(
    session, card, member
):
    card.stamp_per = StampPer.ITEM
    card.stamp_reward_id = None  # set again before the next purchase completes the card
    visit(session, member, "full", items=10)
    assert stamps.card_of(member, now=NOW).summary == (
        "10 of 10 stamps: the card is full. Ask at the till about its reward."
    )
    card.stamp_reward = session.scalars(select(Reward)).one()
    session.flush()
    assert stamps.card_of(member, now=NOW).summary == (
        "10 of 10 stamps: the card is full, Free coffee is on its way."
    )


def test_a_card_held_back_by_its_limit_tells_the_truth_in_notices_passes_and_chat(
    session, tenant, card, coffee, wallet_settings
):
    from loyalty.models import ChannelKind, OutboxMessage, WalletPlatform
    from loyalty.notify.texts import short_text
    from loyalty.services import receipts
    from tests.integration.test_bot_dialogue import Chat, join_by_telegram
    from wallet import apple, google
    from wallet.content import card_content
    from wallet.passes import pass_for

    coffee.redemption_limit = RedemptionLimit.ONCE
    card.stamp_per = StampPer.ITEM
    card.signup_bonus = 0
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    factories.add_channel(session, member, ChannelKind.EMAIL, "ana@example.com")
    visit(session, member, "first", items=10)
    held = visit(session, member, "second", items=10)
    truth = "the card is full, but Free coffee is once per member and you have already had it."

    transaction = session.get(LoyaltyTransaction, held.transaction_id)
    receipts.notify_points_changed(session, member=member, transaction=transaction, shop=None)
    notice = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "points_changed")
    ).one()
    assert truth in short_text(notice)

    wallet_pass = pass_for(session, member, WalletPlatform.APPLE)
    content = card_content(wallet_pass, settings=wallet_settings, secret_key=b"k")
    back = apple.pass_json(content, wallet_settings)["storeCard"]["backFields"]
    assert truth in {f["key"]: f["value"] for f in back}["stamp_card"]
    google_object = google.loyalty_object(content, wallet_settings, program_slug=card.slug)
    assert truth in google_object["textModulesData"][0]["body"]

    chat.now = NOW
    reply = chat.say("balance")
    assert (
        "Your card is full, but you have already had Free coffee: it is once per member." in reply
    )
    assert "comes with your next visit" not in reply


def test_stamps_given_by_a_manager_can_fill_the_card(session, card, member, manager):
    visit(session, member, "v")
    adjust(
        session, member=member, points=12, reason="lost card", idempotency_key="adj", actor=manager
    )
    assert member.points_balance == 3
    assert session.scalar(select(func.count(Voucher.id))) == 1
    assert_ledger_consistent(session, member.id)


def test_stamps_cannot_be_spent_on_catalogue_rewards(session, card, member, coffee):
    card.stamp_per = StampPer.ITEM
    visit(session, member, "v", items=5)
    with pytest.raises(RewardUnavailable, match="stamp card"):
        redeem(session, member=member, reward=coffee, idempotency_key="r", now=NOW)
    assert member.points_balance == 5


def _settings(program, **changes):
    base = {
        "name": program.name,
        "points_per_euro": program.points_per_euro,
        "rounding": program.rounding,
        "expiry_policy": program.expiry_policy,
        "expiry_days": program.expiry_days,
        "expiry_inactivity_months": program.expiry_inactivity_months,
        "signup_bonus": 0,
        "birthday_bonus": 0,
        "currency": program.currency,
        "primary_color": program.primary_color,
        "secondary_color": program.secondary_color,
    }
    return programme_settings.ProgrammeSettings(**(base | changes))


@pytest.fixture
def owner(session, tenant):
    return factories.actor_for(factories.make_user(session, tenant), Role.OWNER)


def test_switching_to_stamps_is_refused_while_members_hold_points(
    session, tenant, member, owner, coffee
):
    earn(session, member=member, amount_cents=2_500, idempotency_key="points", at=NOW)
    with pytest.raises(InvalidInput, match="1 member still holds 25 points") as refused:
        programme_settings.update(
            session,
            program=tenant.program,
            actor=owner,
            settings=_settings(tenant.program, kind="stamps", stamp_reward_id=coffee.id),
        )
    assert refused.value.field == "kind"
    assert tenant.program.kind == ProgramKind.POINTS


def test_switching_to_stamps_works_once_no_points_are_outstanding(
    session, tenant, member, owner, coffee
):
    programme_settings.update(
        session,
        program=tenant.program,
        actor=owner,
        settings=_settings(
            tenant.program,
            kind="stamps",
            stamp_card_size=8,
            stamp_per="item",
            stamp_reward_id=coffee.id,
            stamp_min_spend_cents=200,
        ),
    )
    program = tenant.program
    assert (program.kind, program.stamp_card_size, program.stamp_per) == (
        ProgramKind.STAMPS,
        8,
        StampPer.ITEM,
    )
    assert visit(session, member, "v", cents=1_000, items=3).points == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "stamps"}, "stamp_reward_id"),  # no reward for the full card
        ({"kind": "stickers"}, "kind"),
        ({"kind": "stamps", "stamp_card_size": 1}, "stamp_card_size"),
        ({"kind": "stamps", "stamp_card_size": 51}, "stamp_card_size"),
        ({"kind": "stamps", "stamp_per": "hour"}, "stamp_per"),
        ({"kind": "stamps", "stamp_min_spend_cents": -1}, "stamp_min_spend"),
        ({"kind": "stamps", "pending_days": 14, "use_reward": True}, "pending_days"),
        ({"kind": "stamps", "stamp_reward_id": 10**9}, "stamp_reward_id"),
    ],
)
def test_bad_stamp_card_settings_are_refused_and_change_nothing(
    session, tenant, owner, coffee, changes, field
):
    changes = dict(changes)
    if changes.pop("use_reward", False):
        changes["stamp_reward_id"] = coffee.id
    with pytest.raises(InvalidInput) as refused:
        programme_settings.update(
            session,
            program=tenant.program,
            actor=owner,
            settings=_settings(tenant.program, **changes),
        )
    assert refused.value.field == field
    assert tenant.program.kind == ProgramKind.POINTS


def test_another_merchants_reward_cannot_be_the_card_reward(session, tenant, owner):
    other = factories.make_tenant(session)
    foreign = factories.make_reward(session, other, name="Theirs")
    with pytest.raises(InvalidInput, match="this programme's catalogue"):
        programme_settings.update(
            session,
            program=tenant.program,
            actor=owner,
            settings=_settings(tenant.program, kind="stamps", stamp_reward_id=foreign.id),
        )


def test_points_programmes_keep_the_one_statement_earn_and_stamp_cards_take_the_steps(
    session, tenant, member, coffee, monkeypatch
):
    if not is_postgres(session):
        pytest.skip("the one-statement earn exists on PostgreSQL only")
    real = earning._earn_step_by_step
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(earning, "_earn_step_by_step", counted)
    assert earn(session, member=member, amount_cents=500, idempotency_key="p").points == 5
    assert calls == []
    adjust(
        session,
        member=member,
        points=-5,
        reason="switch",
        idempotency_key="zero",
        actor=factories.actor_for(factories.make_user(session, tenant), Role.MANAGER),
    )
    tenant.program.kind = ProgramKind.STAMPS
    tenant.program.stamp_reward_id = coffee.id
    session.flush()
    assert earn(session, member=member, amount_cents=500, idempotency_key="s").points == 1
    assert len(calls) == 1


def test_the_bot_shows_the_stamp_grid_and_what_the_full_card_gives(session, tenant, card):
    from tests.integration.test_bot_dialogue import Chat, join_by_telegram

    tenant.program.signup_bonus = 0
    chat = Chat(session)
    member = join_by_telegram(session, tenant, chat)
    assert "0 of 10 stamps" in chat.replies[0].text  # the welcome names the card, not points
    for n in range(3):
        visit(session, member, f"v{n}")
    reply = chat.say("balance")
    assert "3 of 10 stamps.\n●●●○○○○○○○" in reply
    assert "7 more for Free coffee." in reply
    rewards = chat.say("rewards")
    assert "a full card of 10 stamps gives Free coffee" in rewards
    assert chat.replies[0].buttons  # the menu, no redeem buttons to spend stamps on


def test_the_bot_welcomes_back_a_stamp_card_member_with_the_card_instead_of_failing(
    session, tenant, card
):
    from tests.integration.test_bot_dialogue import Chat, join_by_telegram

    chat = Chat(session)
    join_by_telegram(session, tenant, chat)
    again = chat.say(f"/start join_{tenant.program.join_code}")
    assert "You are already a member" in again
    assert "0 of 10 stamps" in again
    assert "points" not in again


def test_wallet_passes_of_a_stamp_card_carry_its_grid(session, card, member, wallet_settings):
    from loyalty.models import WalletPlatform
    from wallet import apple, google
    from wallet.content import card_content
    from wallet.passes import pass_for

    card.stamp_min_spend_cents = 300
    for n in range(4):
        visit(session, member, f"v{n}")
    wallet_pass = pass_for(session, member, WalletPlatform.APPLE)
    content = card_content(wallet_pass, settings=wallet_settings, secret_key=b"k")
    assert content.stamp_card.grid == "●●●●○○○○○○"
    assert "one stamp per visit of €3.00 or more" in content.how_to_earn
    front = apple.pass_json(content, wallet_settings)["storeCard"]
    assert front["primaryFields"][0]["value"] == "4 of 10"
    google_object = google.loyalty_object(content, wallet_settings, program_slug=card.slug)
    assert google_object["loyaltyPoints"]["balance"] == {"string": "4/10"}
