# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)
"""Providers that fail: a full disk at the mail server (SMTP 452), a full mailbox (552), Twilio
answering 500 or not at all, Telegram answering 502 or not at all, APNs never answering.

The outbox is delivered with the worker's own wiring (jobs.senders built from the environment,
jobs' delivery policy) against local fakes on PostgreSQL. The clock jumps over each backoff
instead of sleeping through it. Every run returns normally (a provider never takes the worker
down), a temporary failure is tried again later with growing backoff, and each message ends up
sent, or failed with the provider's reason on its row.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from jobs.__main__ import delivery_policy
from jobs.senders import Senders, WorkerConfig
from loyalty.models import OutboxChannel, OutboxMessage, OutboxStatus
from loyalty.notify import outbox
from loyalty.notify.delivery import Deliverer
from tests import factories
from tests.fakes.smtp import smtp_server
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.fakes.wallet import (  # noqa: F401  (fixtures)
    apns_server_certs,
    config_for,
    fake_apns,
    wallet_certs,
)

pytestmark = pytest.mark.postgres_only

NOON = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
TIMEOUT = 1.0  # PROVIDER_TIMEOUT_SECONDS: how long a send may wait for its provider
STALL = TIMEOUT + 1.5  # a provider that answers only after the worker has given up
MAX_ATTEMPTS = 4
APNS_TOKEN = "ab" * 32


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never says a word: a provider that has hung."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now


def test_provider_errors_and_timeouts_are_retried_with_backoff_and_end_sent_or_failed(
    committed, wallet_certs, fake_apns, silent_server
) -> None:
    twilio, telegram = FakeTwilio().start(), FakeTelegram().start()
    with smtp_server() as (mailbox, port), committed() as session:
        tenant = factories.make_tenant(session)
        messages: dict[str, OutboxMessage] = {}

        def queue(name: str, channel: OutboxChannel, address: str, **payload) -> None:
            message = outbox.enqueue(
                session,
                merchant_id=tenant.merchant.id,
                channel=channel,
                template="points_changed" if channel != OutboxChannel.APPLE else "pass_update",
                address=address,
                payload={"program": "Bakery", "points": 12, "balance": 112, **payload},
            )
            message.next_attempt_at = NOON - timedelta(seconds=1)
            messages[name] = message

        queue("disk full, then sent", OutboxChannel.EMAIL, "ana@example.com")
        mailbox.rcpt_replies["ana@example.com"] = ["452 4.3.1 Insufficient system storage"]
        queue("mailbox full", OutboxChannel.EMAIL, "full@example.com")
        mailbox.data_replies["full@example.com"] = ["552 5.2.2 Mailbox full"]
        queue("twilio 500, then sent", OutboxChannel.SMS, "+352621000001")
        twilio.script("+352621000001", (500, 20500))
        queue("twilio stalls, then sent", OutboxChannel.SMS, "+352621000002")
        twilio.script("+352621000002", STALL)
        queue("twilio down for good", OutboxChannel.SMS, "+352621000003")
        twilio.script("+352621000003", *[(503, 20503)] * MAX_ATTEMPTS)
        queue("telegram 502, then sent", OutboxChannel.TELEGRAM, "4242")
        telegram.fail_next("sendMessage", 502, "Bad Gateway")
        queue("telegram stalls, then sent", OutboxChannel.TELEGRAM, "4343")
        telegram.stall_next("sendMessage", STALL)
        queue("apns hangs, then sent", OutboxChannel.APPLE, APNS_TOKEN, pass_id=1)
        session.commit()

        env = {
            **config_for(wallet_certs),
            "APNS_URL": silent_server,  # until it is "back", below
            "APNS_CA_FILE": str(wallet_certs.ca_certificate),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_STARTTLS": "0",
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": "token",
            "TWILIO_FROM": "+352661000000",
            "TWILIO_API_BASE": twilio.url,
            "TELEGRAM_BOT_TOKEN": "123:ABC",
            "TELEGRAM_API_BASE": telegram.url,
            "PROVIDER_TIMEOUT_SECONDS": str(TIMEOUT),
            "OUTBOX_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "QUIET_HOURS": "off",
            **{f"RATE_LIMIT_{c.upper()}": "0" for c in OutboxChannel},
        }
        config = WorkerConfig(env)
        senders = Senders(config)
        clock = Clock()
        waits: dict[str, list[float]] = {name: [] for name in messages}
        reasons: dict[str, list[str]] = {name: [] for name in messages}
        rounds = 0
        try:
            while rounds < MAX_ATTEMPTS + 2:
                rounds += 1
                deliverer = Deliverer(
                    senders.for_session(session), policy=delivery_policy(config), clock=clock
                )
                deliverer.run(session)  # returns normally, whatever the providers did
                session.commit()
                env["APNS_URL"] = fake_apns.url  # APNs answers again from the next run on
                session.expire_all()
                queued = [m for m in messages.values() if m.status == OutboxStatus.QUEUED]
                if not queued:
                    break
                for name, message in messages.items():
                    if message.status == OutboxStatus.QUEUED:
                        assert message.last_error, name  # why it waits is on the row
                        waits[name].append((message.next_attempt_at - clock.now).total_seconds())
                        reasons[name].append(message.last_error)
                clock.now = max(m.next_attempt_at for m in queued)
        finally:
            senders.close()
            twilio.stop()
            telegram.stop()

        session.expire_all()
        final = {name: (m.status, m.attempts, m.last_error) for name, m in messages.items()}
        for name, (status, attempts, error) in final.items():
            print(
                f"{name}: {status} after {attempts} attempts; waited {waits[name]} s after "
                f"{reasons[name]}; final error {error}"
            )
        stuck = session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING])
            )
        ).all()

    assert stuck == []  # every message settled: sent or failed, none left hanging
    sent_after_one_retry = [
        "disk full, then sent",
        "twilio 500, then sent",
        "twilio stalls, then sent",
        "telegram 502, then sent",
        "telegram stalls, then sent",
        "apns hangs, then sent",
    ]
    for name in sent_after_one_retry:
        assert final[name][:2] == (OutboxStatus.SENT, 2), (name, final[name])
        assert len(waits[name]) == 1, (name, waits[name])  # one wait, then sent
        assert waits[name][0] > 0
    # While it waited, the row said why, in the provider's terms; a stall is a timeout.
    assert reasons["disk full, then sent"] == [
        "SMTP refused ana@example.com: 452 4.3.1 Insufficient system storage"
    ]
    assert reasons["twilio 500, then sent"] == [
        "Twilio 500 20500: Unable to create record: fake error 20500"
    ]
    assert "timed out" in reasons["twilio stalls, then sent"][0].lower()
    assert (
        "timed out"
        in " ".join(
            reasons["telegram stalls, then sent"] + reasons["telegram 502, then sent"]
        ).lower()
    )
    assert "Bad Gateway" in " ".join(
        reasons["telegram stalls, then sent"] + reasons["telegram 502, then sent"]
    )
    assert "Timeout" in reasons["apns hangs, then sent"][0]
    # A full mailbox is permanent (5xx): failed at once, the server's words kept.
    assert final["mailbox full"][:2] == (OutboxStatus.FAILED, 1)
    assert final["mailbox full"][2] == "SMTP 552: 5.2.2 Mailbox full"
    # Twilio down for good: tried MAX_ATTEMPTS times, each wait about twice the last.
    status, attempts, error = final["twilio down for good"]
    assert (status, attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert error.startswith(f"gave up after {MAX_ATTEMPTS} attempts: Twilio 503 20503")
    backoffs = waits["twilio down for good"]
    assert len(backoffs) == MAX_ATTEMPTS - 1
    assert all(later > earlier for earlier, later in itertools.pairwise(backoffs))
    # What reached the providers: each message once, the mail server's full disk aside.
    assert [m["To"] for m in mailbox.messages] == ["ana@example.com"]
    assert sorted(s.to for s in twilio.messages) == ["+352621000001", "+352621000002"]
    # Telegram: one call refused with 502 and two that went through (the stalled one timed
    # out before the fake recorded it; which chat met which failure is the threads' choice).
    chats = [c.params["chat_id"] for c in telegram.sent()]
    assert len(chats) == 3
    assert set(chats) == {4242, 4343}
    assert [p.path for p in fake_apns.pushes] == [f"/3/device/{APNS_TOKEN}"]
