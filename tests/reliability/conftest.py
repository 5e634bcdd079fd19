"""What the reliability tests share: committed data, real worker processes, a counting provider.

These tests run `python -m jobs` as separate processes against the PostgreSQL test database,
exactly as production runs the worker, with Twilio pointed at the local fake
(tests/fakes/twilio.py), which records every request with its recipient and arrival time.
They commit for real, so the tables are emptied afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db import Base, make_engine
from loyalty.models import Campaign, OutboxMessage, OutboxStatus
from loyalty.services import campaigns
from loyalty.services.campaigns import CampaignDraft
from tests.factories import Tenant
from tests.fakes.twilio import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
SENDER = "+352661000000"
CONSENTS = '{"marketing_sms": {"granted": true, "at": "2026-01-01"}}'
TEXT = "Spring at {shop}: double points this weekend, {first_name}!"


@pytest.fixture
def committed(app: Flask) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=3)
    yield sessionmaker(engine, expire_on_commit=False)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
    engine.dispose()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


class Worker:
    """One `python -m jobs` process; its log goes to a file shown when a test fails."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jobs"], cwd=ROOT, env=env, stdout=out, stderr=out
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ready(self) -> bool:
        return self.log.exists() and b"worker started" in self.log.read_bytes()

    def kill(self) -> None:
        """SIGKILL: no clean-up, no release of claims, sends cut off wherever they are."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


class Workers:
    """Starts worker processes with the test database and the fake provider; stops them all."""

    def __init__(self, app: Flask, twilio: FakeTwilio, logs: Path) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": "token",
            "TWILIO_FROM": SENDER,
            "TWILIO_API_BASE": twilio.url,
            "RATE_LIMIT_SMS": "0",  # unthrottled unless a test sets a limit
            "QUIET_HOURS": "off",
        }
        self.logs = logs
        self.started: list[Worker] = []

    def start(self, **env: str) -> Worker:
        worker = Worker({**self.env, **env}, self.logs / f"worker-{len(self.started)}.log")
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()

    def tail(self) -> str:
        return "\n".join(
            f"--- {w.log.name} (pid {w.pid})\n" + w.log.read_text()[-3000:] for w in self.started
        )


@pytest.fixture
def workers(
    app: Flask, twilio: FakeTwilio, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Workers]:
    started = Workers(app, twilio, tmp_path)
    yield started
    started.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(started.tail())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def seed_members(session: Session, tenant: Tenant, count: int, *, prefix: str) -> list[str]:
    """`count` members with an SMS number and marketing consent, set-based; their numbers."""
    ids = {"merchant": tenant.merchant.id, "program": tenant.program.id, "n": count}
    session.execute(
        text(
            """INSERT INTO customers (merchant_id, name, name_search, language, consents, created_at)
               SELECT :merchant, 'Member ' || g, 'member ' || g, 'en', CAST(:consents AS json), now()
               FROM generate_series(1, :n) AS g"""
        ),
        {**ids, "consents": CONSENTS},
    )
    session.execute(
        text(
            """INSERT INTO loyalty_members (merchant_id, program_id, customer_id, card_number,
                   qr_secret, points_balance, lifetime_points, status, enrolled_at,
                   last_activity_at, updated_at)
               SELECT :merchant, :program, c.id, (300000000000 + c.id)::text, md5(c.id::text),
                      0, 0, 'active', now(), now(), now()
               FROM customers AS c
               WHERE c.merchant_id = :merchant"""
        ),
        ids,
    )
    return list(
        session.scalars(
            text(
                """INSERT INTO channel_identities (merchant_id, member_id, kind, address, created_at)
                   SELECT :merchant, m.id, 'sms', :prefix || lpad(m.id::text, 7, '0'), now()
                   FROM loyalty_members AS m WHERE m.program_id = :program
                   RETURNING address"""
            ),
            {**ids, "prefix": prefix},
        )
    )


def start_campaign(session: Session, tenant: Tenant, name: str = "Spring") -> int:
    """A campaign to every member by SMS, materialised into the outbox; its id."""
    draft = CampaignDraft(name=name, channels=["sms"], message=TEXT, channel_messages={})
    campaign = campaigns.save_campaign(session, merchant=tenant.merchant, draft=draft)
    campaigns.start(session, campaign)
    return campaign.id


def hold(
    sessions: sessionmaker[Session],
    campaign_id: int,
    *,
    until_ready: list[Worker],
    settle: float = 0.0,
) -> None:
    """Keep the campaign's messages back until every worker has started, then release them,
    so that all the workers compete for them from the first claim."""
    with sessions.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.campaign_id == campaign_id)
            .values(next_attempt_at=func.now() + text("interval '1 hour'"))
        )
    wait_for(lambda: all(w.ready for w in until_ready), timeout=120, what="the workers to start")
    time.sleep(settle)  # their start-up jobs (the daily slots) run first, as after a deploy
    with sessions.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.campaign_id == campaign_id)
            .values(next_attempt_at=func.now())
        )


def unsettled(sessions: sessionmaker[Session], campaign_id: int) -> int:
    """Messages of the campaign still queued or being sent."""
    with sessions() as session:
        return session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
            )
        )


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.2
) -> None:
    """Poll until `condition()`; a bound on the test's time, not an assertion about speed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def received(twilio: FakeTwilio) -> Counter[str]:
    """Requests the provider received, per recipient."""
    return Counter(sms.to for sms in list(twilio.messages))


def progress(sessions: sessionmaker[Session], campaign_id: int) -> dict[str, int]:
    """The counts the back-office's campaign page shows."""
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaigns.progress(session, campaign)
