"""Two workers ticking the campaigns-due job at once on PostgreSQL: each due campaign (and each
occurrence of a recurring one) is started once, and every member is queued once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db import Base, make_engine
from loyalty.models import Campaign, ChannelKind, OutboxMessage
from loyalty.services import campaigns
from loyalty.services.campaigns import CampaignDraft
from tests import factories

pytestmark = pytest.mark.postgres_only

NOON = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def committed(app: Flask) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=5, max_overflow=0)
    yield sessionmaker(engine, expire_on_commit=False)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def test_two_workers_start_each_due_campaign_once(committed, database) -> None:
    with committed.begin() as session:
        tenant = factories.make_tenant(session)
        for n in range(40):
            member = factories.make_member(session, tenant)
            member.customer.consents = {"marketing_sms": {"granted": True}}
            factories.add_channel(session, member, ChannelKind.SMS, f"+35262177{n:04d}")
        for n, schedule in enumerate(["at", "at", "at", "recurring", "recurring"]):
            campaign = campaigns.save_campaign(
                session,
                merchant=tenant.merchant,
                draft=CampaignDraft(
                    name=f"C{n}",
                    channels=["sms"],
                    message="Hi {first_name}",
                    channel_messages={},
                    schedule=schedule,
                    send_at_local=datetime(2026, 6, 1, 13, n),
                    repeat_days=7 if schedule == "recurring" else None,
                ),
                now=NOON,
            )
            campaigns.schedule(session, campaign, now=NOON)
    due = NOON + timedelta(hours=2)
    barrier = threading.Barrier(2)

    def worker(_: int) -> dict:
        barrier.wait()
        with committed.begin() as session:
            return campaigns.run_due(session, now=due)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(worker, range(2)))

    assert sum(r["started"] for r in results) == 3
    assert sum(r["runs"] for r in results) == 2
    with committed() as session:
        sent_to = session.execute(
            select(OutboxMessage.campaign_id, func.count(OutboxMessage.id)).group_by(
                OutboxMessage.campaign_id
            )
        ).all()
        assert len(sent_to) == 5  # three one-off campaigns and one run of each recurring one
        assert all(n == 40 for _campaign, n in sent_to)
        runs = session.scalar(
            select(func.count(Campaign.id)).where(Campaign.parent_id.is_not(None))
        )
        assert runs == 2
