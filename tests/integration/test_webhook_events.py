"""Webhook events: written with the change that causes them, only for endpoints that listen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import FeatureNotInOffering, InvalidInput, PermissionDenied
from loyalty.models import (
    LoyaltyMember,
    Offering,
    OutboxChannel,
    OutboxMessage,
    Role,
    WebhookEndpoint,
)
from loyalty.services import campaigns, events, webhooks
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from loyalty.services.expiry import expire_points
from loyalty.services.rewards import redeem
from loyalty.services.vouchers import use_voucher
from tests import factories

ALL = list(events.EVENT_TYPES)


@pytest.fixture
def tenant(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, offering=Offering.ENTERPRISE)


@pytest.fixture
def owner(session: Session, tenant: factories.Tenant):
    return factories.actor_for(factories.make_user(session, tenant, role=Role.OWNER))


def _endpoint(session, tenant, owner, types=ALL, url="https://hooks.example.com/loyalty"):
    return webhooks.create_endpoint(
        session, merchant=tenant.merchant, actor=owner, url=url, event_types=types
    )


def _events(session: Session, tenant: factories.Tenant) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.merchant_id == tenant.merchant.id,
                OutboxMessage.channel == OutboxChannel.WEBHOOK,
            )
            .order_by(OutboxMessage.id)
        )
    )


def _types(session, tenant) -> list[str]:
    return [message.template for message in _events(session, tenant)]


class StatementCounter:
    def __init__(self, session: Session) -> None:
        self.engine = session.get_bind().engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args) -> None:
        self.count += 1


def test_without_endpoints_emit_writes_nothing_and_asks_once_in_a_while(session, tenant) -> None:
    session.flush()
    with StatementCounter(session) as counter:
        for _ in range(5):
            assert events.emit(session, merchant_id=tenant.merchant.id, type="x", data={}) is None
    assert counter.count == 1
    assert _events(session, tenant) == []


def test_an_endpoint_written_elsewhere_is_seen_once_the_cache_ages(
    session, tenant, owner, monkeypatch
) -> None:
    assert (
        events.emit(session, merchant_id=tenant.merchant.id, type="points.earned", data={}) is None
    )
    session.execute(  # as another process would: no ORM flush here to tell this one
        WebhookEndpoint.__table__.insert().values(
            merchant_id=tenant.merchant.id,
            url="https://hooks.example.com/x",
            description="",
            event_types=["points.earned"],
            secret="whsec_x",
            consecutive_failures=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    monkeypatch.setattr(events, "TARGETS_TTL", 0.0)
    assert events.emit(session, merchant_id=tenant.merchant.id, type="points.earned", data={})


def test_an_event_goes_to_each_active_endpoint_subscribed_to_it(session, tenant, owner) -> None:
    earned = _endpoint(session, tenant, owner, ["points.earned"])
    _endpoint(session, tenant, owner, ["member.enrolled"])
    off = _endpoint(session, tenant, owner, ["points.earned"])
    webhooks.disable_endpoint(session, merchant=tenant.merchant, actor=owner, endpoint=off)
    event_id = events.emit(
        session, merchant_id=tenant.merchant.id, type="points.earned", data={"points": 3}
    )
    [message] = _events(session, tenant)
    assert message.payload["endpoint_id"] == earned.id
    body = message.payload["event"]
    assert body["id"] == event_id
    assert event_id.startswith("evt_")
    assert body["type"] == "points.earned"
    assert body["merchant"] == {"id": tenant.merchant.id, "slug": tenant.merchant.slug}
    assert body["data"] == {"points": 3}
    assert body["created"].endswith("Z")


def test_the_services_emit_their_events(session, tenant, owner) -> None:
    _endpoint(session, tenant, owner)
    member = enroll(
        session,
        program=tenant.program,
        idempotency_key="join-1",
        terms_accepted=True,
        email="ada@example.com",
    )
    gold = factories.make_tier(session, tenant, name="Gold", min_points=100)
    result = earn(session, member=member, amount_cents=15_000, idempotency_key="earn-1")
    reward = factories.make_reward(session, tenant, cost=50)
    voucher = redeem(session, member=member, reward=reward, idempotency_key="redeem-1")
    use_voucher(
        session,
        merchant=tenant.merchant,
        code=voucher.code,
        idempotency_key="use-1",
        actor=owner,
        shop=tenant.shop,
    )
    assert _types(session, tenant) == [
        "member.enrolled",
        "tier.changed",
        "points.earned",
        "points.redeemed",
        "voucher.issued",
        "voucher.used",
    ]
    by_type = {m.template: m.payload["event"]["data"] for m in _events(session, tenant)}
    card = {"id": member.id, "card_number": member.card_number}
    assert by_type["member.enrolled"]["member"] == card
    assert by_type["points.earned"] == {
        "member": card,
        "transaction_id": result.transaction_id,
        "points": 150,
        "balance": 150,
        "amount_cents": 15_000,
        "shop_id": None,
        "reference_id": None,
        "pending_until": None,
    }
    assert by_type["tier.changed"]["to_tier"] == {"id": gold.id, "name": "Gold"}
    assert by_type["tier.changed"]["upgrade"] is True
    assert by_type["points.redeemed"]["points"] == 50
    assert by_type["points.redeemed"]["balance"] == 100
    assert by_type["voucher.issued"]["voucher"]["code"] == voucher.code
    assert by_type["voucher.used"]["voucher"]["shop_id"] == tenant.shop.id
    assert by_type["voucher.used"]["member"] == card


def test_replays_emit_nothing_more(session, tenant, owner, member) -> None:
    _endpoint(session, tenant, owner, ["points.earned"])
    for _ in range(2):
        earn(session, member=member, amount_cents=1000, idempotency_key="same")
    assert _types(session, tenant) == ["points.earned"]


def test_bulk_expiry_emits_one_event_per_member(session, tenant, owner) -> None:
    _endpoint(session, tenant, owner, ["points.expired"])
    members = [factories.make_member(session, tenant) for _ in range(3)]
    past = utcnow() - timedelta(days=400)
    tenant.program.expiry_policy = "after_days"
    tenant.program.expiry_days = 30
    for n, member in enumerate(members):
        earn(session, member=member, amount_cents=1000 * (n + 1), idempotency_key=f"e{n}", at=past)
    run = expire_points(session, program=tenant.program)
    assert run.members == 3
    expired = {
        m.payload["event"]["data"]["member"]["id"]: m.payload["event"]["data"]
        for m in _events(session, tenant)
    }
    assert set(expired) == {m.id for m in members}
    assert expired[members[1].id]["points"] == 20
    assert expired[members[1].id]["balance"] == 0


def test_rolled_back_work_leaves_no_event(session, tenant, owner, member) -> None:
    _endpoint(session, tenant, owner, ["points.earned"])
    session.commit()
    nested = session.begin_nested()
    earn(session, member=member, amount_cents=1000, idempotency_key="undone")
    nested.rollback()
    assert _events(session, tenant) == []


def test_a_downgraded_merchant_emits_nothing(session, tenant, owner, member) -> None:
    _endpoint(session, tenant, owner, ["points.earned"])
    tenant.merchant.offering = Offering.PLUS
    session.flush()
    events.forget_targets(session)
    earn(session, member=member, amount_cents=1000, idempotency_key="k")
    assert _events(session, tenant) == []


def test_endpoints_need_the_enterprise_offering(session) -> None:
    plus = factories.make_tenant(session, offering=Offering.PLUS)
    actor = factories.actor_for(factories.make_user(session, plus))
    with pytest.raises(FeatureNotInOffering, match="Enterprise"):
        _endpoint(session, plus, actor)
    with pytest.raises(FeatureNotInOffering):
        webhooks.list_endpoints(session, merchant=plus.merchant)
    assert session.scalars(select(WebhookEndpoint)).all() == []


def test_only_owners_manage_endpoints(session, tenant) -> None:
    manager = factories.actor_for(
        factories.make_user(session, tenant, role=Role.MANAGER), Role.MANAGER
    )
    with pytest.raises(PermissionDenied):
        _endpoint(session, tenant, manager)


@pytest.mark.parametrize(
    ("url", "local_ok"),
    [
        ("http://hooks.example.com/x", True),
        ("ftp://hooks.example.com/x", True),
        ("https://", True),
        ("https://user:pw@hooks.example.com/", True),
        ("http://127.0.0.1:8000/hooks", False),
        ("https://10.0.0.5/hooks", False),
        ("https://localhost/hooks", False),
        ("https://hooks.example.com:99999999/x", True),
        ("https://example.com/" + "a" * 500, True),
        ("https://exa mple.com/hooks", True),
        ("https://bad_host!.com/hooks", True),
        ("https://example.com/a\nb", True),
    ],
)
def test_bad_urls_are_refused_with_a_reason(session, tenant, owner, url, local_ok) -> None:
    with pytest.raises(InvalidInput) as refused:
        webhooks.create_endpoint(
            session,
            merchant=tenant.merchant,
            actor=owner,
            url=url,
            event_types=ALL,
            allow_local_http=local_ok,
        )
    assert refused.value.field == "url"


def test_local_http_is_accepted_for_development(session, tenant, owner) -> None:
    endpoint = webhooks.create_endpoint(
        session,
        merchant=tenant.merchant,
        actor=owner,
        url="http://127.0.0.1:9000/hooks",
        event_types=["points.earned"],
        allow_local_http=True,
    )
    assert endpoint.secret.startswith("whsec_")


def test_unknown_or_no_event_types_are_refused(session, tenant, owner) -> None:
    for types in ([], ["points.stolen"]):
        with pytest.raises(InvalidInput):
            _endpoint(session, tenant, owner, types)


def test_rotating_the_secret_changes_it(session, tenant, owner) -> None:
    endpoint = _endpoint(session, tenant, owner)
    before = endpoint.secret
    webhooks.rotate_secret(session, merchant=tenant.merchant, actor=owner, endpoint=endpoint)
    assert endpoint.secret != before
    assert endpoint.secret_rotated_at is not None


def test_another_merchants_endpoint_is_not_found(session, tenant, owner) -> None:
    other = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    theirs = _endpoint(session, other, factories.actor_for(factories.make_user(session, other)))
    with pytest.raises(Exception, match="does not exist"):
        webhooks.disable_endpoint(session, merchant=tenant.merchant, actor=owner, endpoint=theirs)
    assert theirs.active
    assert session.get(LoyaltyMember, 0) is None


def test_a_campaign_voucher_emits_voucher_issued(session, tenant, owner) -> None:
    from tests.integration.test_campaigns import NOON, Sender, deliverer, make_campaign, reachable

    _endpoint(session, tenant, owner, ["voucher.issued"])
    member = reachable(session, tenant)
    reward = factories.make_reward(session, tenant, name="Free coffee")
    campaign = make_campaign(
        session, tenant, channels=("sms",), message="{reward}", reward_id=reward.id
    )
    campaigns.start(session, campaign, now=NOON)
    deliverer(Sender()).run(session)
    [message] = _events(session, tenant)
    data = message.payload["event"]["data"]
    assert data["member"] == {"id": member.id, "card_number": member.card_number}
    assert data["campaign_id"] == campaign.id
    assert data["voucher"]["reward_id"] == reward.id


def test_held_points_say_when_they_become_spendable(session, tenant, owner, member) -> None:
    _endpoint(session, tenant, owner, ["points.earned"])
    tenant.program.pending_days = 14
    session.flush()
    earn(session, member=member, amount_cents=1000, idempotency_key="held")
    [message] = _events(session, tenant)
    data = message.payload["event"]["data"]
    assert data["points"] == 10
    assert data["balance"] == 0  # spendable: the points wait for the return window
    assert data["pending_until"].endswith("Z")
