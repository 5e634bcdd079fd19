"""Webhook delivery against a receiver on 127.0.0.1: signatures as documented, retries, disabling."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.senders import Senders, WorkerConfig
from loyalty.db import utcnow
from loyalty.models import (
    Offering,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Role,
    WebhookDelivery,
    WebhookEndpoint,
)
from loyalty.notify.delivery import Deliverer, DeliveryPolicy
from loyalty.notify.webhooks import WebhookSender, WebhookSettings
from loyalty.services import events, webhooks
from loyalty.services.webhooks import DisablePolicy
from tests import factories
from tests.fakes.webhook_receiver import FakeWebhookReceiver

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _doc_block(language: str) -> str:
    """The code block of `language` under "Checking the signature" in docs/webhooks.md."""
    section = DOCS.read_text().split("## Checking the signature", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def _documented_verify() -> Callable[..., bool]:
    """The receiver's check exactly as the docs print it."""
    namespace: dict = {}
    exec(compile(_doc_block("python"), str(DOCS), "exec"), namespace)
    return namespace["verify"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    fake = FakeWebhookReceiver().start()
    yield fake
    fake.stop()


@pytest.fixture
def tenant(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, offering=Offering.ENTERPRISE)


@pytest.fixture
def owner_user(session, tenant):
    return factories.make_user(session, tenant, role=Role.OWNER)


@pytest.fixture
def endpoint(session, tenant, owner_user, receiver) -> WebhookEndpoint:
    return webhooks.create_endpoint(
        session,
        merchant=tenant.merchant,
        actor=factories.actor_for(owner_user),
        url=receiver.hook_url(),
        event_types=list(events.EVENT_TYPES),
        allow_local_http=True,
    )


def _emit(session, tenant, n: int = 1) -> str | None:
    return events.emit(
        session,
        merchant_id=tenant.merchant.id,
        type="points.earned",
        data={"member": {"id": 1, "card_number": "4000"}, "points": n, "balance": n},
    )


def _deliverer(session, clock=utcnow, sender_clock=utcnow, **settings) -> Deliverer:
    sender = WebhookSender(session, WebhookSettings(**settings), clock=sender_clock)
    return Deliverer({OutboxChannel.WEBHOOK: sender}, policy=DeliveryPolicy(), clock=clock)


def _message(session, tenant) -> OutboxMessage:
    return session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.merchant_id == tenant.merchant.id,
            OutboxMessage.channel == OutboxChannel.WEBHOOK,
        )
    ).one()


def _log(session, endpoint) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id)
        )
    )


def test_a_delivery_verifies_with_the_documented_python_recipe(
    session, tenant, endpoint, receiver
) -> None:
    event_id = _emit(session, tenant)
    assert _deliverer(session).run(session) == {OutboxStatus.SENT: 1}
    [request] = receiver.received
    assert request.path == "/hooks"
    verify = _documented_verify()
    header = request.headers["Loyalty-Signature"]
    assert verify(header, request.body, endpoint.secret)
    assert request.headers["Loyalty-Event-Id"] == event_id
    assert request.headers["Loyalty-Event-Type"] == "points.earned"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["id"] == event_id
    assert body["data"]["points"] == 1
    # What the check must refuse: another secret, a changed body, an old or garbled header.
    assert not verify(header, request.body, "whsec_wrong")
    assert not verify(header, request.body.replace(b'"points":1', b'"points":9'), endpoint.secret)
    stale = re.sub(r"t=\d+", "t=1000000000", header)
    assert not verify(stale, request.body, endpoint.secret)
    assert not verify("v1=" + header.split("v1=")[1], request.body, endpoint.secret)
    assert not verify("garbage", request.body, endpoint.secret)
    [logged] = _log(session, endpoint)
    assert (logged.status_code, logged.succeeded, logged.attempt) == (200, True, 1)
    assert logged.response_excerpt == "ok"
    assert logged.event_id == event_id
    assert _message(session, tenant).status == OutboxStatus.SENT


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_delivery_verifies_with_the_documented_shell_recipe(
    session, tenant, endpoint, receiver, tmp_path
) -> None:
    _emit(session, tenant)
    _deliverer(session).run(session)
    [request] = receiver.received
    (tmp_path / "body.json").write_bytes(request.body)

    def shell(secret: str) -> str:
        env = os.environ | {"HEADER": request.headers["Loyalty-Signature"], "SECRET": secret}
        done = subprocess.run(
            ["sh", "-c", _doc_block("sh")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert shell(endpoint.secret) == "valid"
    assert shell("whsec_wrong") == "INVALID"


def test_a_receiver_failing_three_times_gets_growing_delays_then_succeeds(
    session, tenant, endpoint, receiver
) -> None:
    receiver.answer_next(500, b"database down", times=3)
    _emit(session, tenant)
    clock = Clock(utcnow())
    deliverer = _deliverer(session, clock=clock)
    delays = []
    for _ in range(3):
        assert deliverer.run(session) == {OutboxStatus.QUEUED: 1}
        message = _message(session, tenant)
        delays.append(message.next_attempt_at - clock.now)
        assert deliverer.run(session) == {}  # not due yet: nothing is sent early
        clock.now = message.next_attempt_at
    assert deliverer.run(session) == {OutboxStatus.SENT: 1}
    assert delays[0] < delays[1] < delays[2]
    assert timedelta(seconds=15) <= delays[0] <= timedelta(seconds=30)
    assert timedelta(seconds=60) <= delays[2] <= timedelta(seconds=120)
    log = _log(session, endpoint)
    assert [(d.attempt, d.status_code, d.succeeded) for d in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
        (4, 200, True),
    ]
    assert log[0].response_excerpt == "database down"
    assert [r.headers["Loyalty-Delivery-Attempt"] for r in receiver.received] == list("1234")
    assert len({r.headers["Loyalty-Event-Id"] for r in receiver.received}) == 1
    assert endpoint.consecutive_failures == 0


def test_an_endpoint_failing_long_enough_is_disabled_and_the_owner_told(
    session, tenant, endpoint, receiver, owner_user
) -> None:
    receiver.answer_next(503, times=10)
    for n in range(3):
        _emit(session, tenant, n)
    clock = Clock(utcnow())
    deliverer = _deliverer(
        session,
        clock=clock,
        sender_clock=clock,
        disable=DisablePolicy(failures=3, period=timedelta(hours=1)),
    )
    deliverer.run(session)
    # Three failures within a minute: a burst, not a dead receiver.
    assert endpoint.active
    assert endpoint.consecutive_failures == 3
    clock.now += timedelta(hours=2)
    deliverer.run(session)
    assert not endpoint.active
    assert "failed deliveries in a row" in endpoint.disabled_reason
    [mail] = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "webhook_disabled")
    ).all()
    assert (mail.channel, mail.address) == (OutboxChannel.EMAIL, owner_user.email)
    assert endpoint.url in mail.payload["text"]
    # Nothing more is queued for it, and what was waiting is dropped at send time.
    assert _emit(session, tenant) is None
    clock.now += timedelta(hours=2)
    deliverer.run(session)
    statuses = {
        m.status
        for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == OutboxChannel.WEBHOOK)
        )
    }
    assert OutboxStatus.QUEUED not in statuses
    assert OutboxStatus.SENDING not in statuses


def test_410_gone_disables_the_endpoint_at_once(session, tenant, endpoint, receiver) -> None:
    receiver.answer_next(410)
    _emit(session, tenant)
    assert _deliverer(session).run(session) == {OutboxStatus.FAILED: 1}
    assert not endpoint.active
    assert "410" in endpoint.disabled_reason


def test_redirects_are_not_followed_and_count_as_failures(
    session, tenant, endpoint, receiver
) -> None:
    receiver.answer_next(302, headers={"Location": receiver.hook_url("/elsewhere")})
    _emit(session, tenant)
    assert _deliverer(session).run(session) == {OutboxStatus.QUEUED: 1}
    assert [r.path for r in receiver.received] == ["/hooks"]
    [logged] = _log(session, endpoint)
    assert logged.status_code == 302
    assert "Redirects are not followed" in logged.error


def test_an_unreachable_receiver_is_retried(session, tenant, endpoint, receiver) -> None:
    receiver.stop()
    _emit(session, tenant)
    assert _deliverer(session).run(session) == {OutboxStatus.QUEUED: 1}
    [logged] = _log(session, endpoint)
    assert logged.status_code is None
    assert logged.error.startswith("Could not connect")
    receiver.serve(type(receiver._server.RequestHandlerClass))  # the stopped server is gone
    receiver.start()


def test_events_for_a_deleted_endpoint_are_dropped(
    session, tenant, endpoint, owner_user, receiver
) -> None:
    _emit(session, tenant)
    webhooks.delete_endpoint(
        session, merchant=tenant.merchant, actor=factories.actor_for(owner_user), endpoint=endpoint
    )
    assert _deliverer(session).run(session) == {}
    assert receiver.received == []
    assert _message(session, tenant).status == OutboxStatus.SKIPPED


def test_resend_delivers_the_same_event_again(
    session, tenant, endpoint, owner_user, receiver
) -> None:
    event_id = _emit(session, tenant)
    deliverer = _deliverer(session)
    deliverer.run(session)
    [first] = _log(session, endpoint)
    webhooks.resend(
        session, merchant=tenant.merchant, actor=factories.actor_for(owner_user), delivery=first
    )
    assert deliverer.run(session) == {OutboxStatus.SENT: 1}
    assert [r.headers["Loyalty-Event-Id"] for r in receiver.received] == [event_id, event_id]
    assert len(_log(session, endpoint)) == 2
    # A resend starts a new series of attempts, with the full retry schedule ahead of it.
    assert receiver.received[1].headers["Loyalty-Delivery-Attempt"] == "1"


def test_the_test_event_reaches_the_endpoint(session, tenant, endpoint, owner_user, receiver):
    webhooks.send_test_event(
        session, merchant=tenant.merchant, actor=factories.actor_for(owner_user), endpoint=endpoint
    )
    _deliverer(session).run(session)
    [request] = receiver.received
    assert json.loads(request.body)["type"] == "webhook.test"


def test_the_worker_plugs_in_the_webhook_sender(session) -> None:
    senders = Senders(WorkerConfig({"WEBHOOK_DISABLE_AFTER_FAILURES": "5"}))
    try:
        sender = senders.for_session(session)[OutboxChannel.WEBHOOK]
        assert isinstance(sender, WebhookSender)
        assert sender.settings.disable.failures == 5
        assert "webhook" in senders.describe().split(";")[0]
    finally:
        senders.close()


def test_the_nightly_retention_drops_old_delivery_log_entries(session, tenant) -> None:
    from jobs.tasks import retention_work

    old = factories.make_webhook_delivery(session, tenant)
    recent = factories.make_webhook_delivery(session, tenant)
    old.created_at = utcnow() - timedelta(days=31)
    session.flush()
    assert retention_work(session)["webhook_deliveries"] == 1
    assert session.scalars(select(WebhookDelivery.id)).all() == [recent.id]
