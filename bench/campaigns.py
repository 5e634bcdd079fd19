"""Campaign materialisation for 1,000,000 members, and the unthrottled send rate to a local fake
provider next to the fake's own capacity, measured in the same run.

    python -m bench.campaigns [--members 1000000] [--sends 20000] [--threads 4]

On PostgreSQL (BENCH_DATABASE_URL, default loyalty_bench): seeds members with an SMS number and
consent (set-based SQL), then times `loyalty.services.campaigns.materialise` of a campaign to
all of them. Then the fake Twilio (tests/fakes/twilio.py) runs in its own process; first its
capacity is measured with bare HTTP posts from `--threads` threads through urllib3 (the same concurrency the
delivery loop uses, `DeliveryPolicy.concurrency`), then the delivery loop sends `--sends`
of the campaign's messages through twilio's client, unthrottled. Targets: ≥ 1000 msg/s and
≥ 0.8 of the fake's capacity.
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from decimal import Decimal

import urllib3
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bench.common import bench_url, migrate, recreate_database, report
from loyalty.db import make_engine
from loyalty.models import Offering, OutboxChannel, OutboxMessage, OutboxStatus
from loyalty.notify.delivery import Deliverer, DeliveryPolicy
from loyalty.services import campaigns, merchants
from loyalty.services.campaigns import CampaignDraft
from loyalty_bot.sms_sender import TwilioSmsSender

TARGET = 0.8
TARGET_RATE = 1000
ACCOUNT = "AC" + "1" * 32
CONSENTS = '{"marketing_sms": {"granted": true, "at": "2026-01-01"}}'

SEED = (
    """INSERT INTO customers (merchant_id, name, name_search, language, consents, created_at)
       SELECT :merchant, 'Member ' || g, 'member ' || g, 'en', CAST(:consents AS json), now()
       FROM generate_series(1, :members) AS g""",
    """INSERT INTO loyalty_members (merchant_id, program_id, customer_id, card_number, qr_secret,
           points_balance, lifetime_points, status, enrolled_at, last_activity_at, updated_at)
       SELECT :merchant, :program, c.id, (100000000000 + c.id)::text, md5(c.id::text),
              c.id % 500, c.id % 500, 'active', now(), now(), now()
       FROM customers AS c WHERE c.merchant_id = :merchant""",
    """INSERT INTO channel_identities (merchant_id, member_id, kind, address, created_at)
       SELECT :merchant, m.id, 'sms', '+3526' || lpad(m.id::text, 8, '0'), now()
       FROM loyalty_members AS m WHERE m.program_id = :program""",
)


def serve_fake(pipe) -> None:
    """The fake provider in its own process, so it does not share the loop's interpreter."""
    from tests.fakes.twilio import FakeTwilio

    fake = FakeTwilio().start()
    pipe.send(fake.url)
    while pipe.recv() != "stop":
        pipe.send(len(fake.messages))
    fake.stop()


def seed(Session: sessionmaker[Session], members: int) -> int:
    with Session.begin() as session:
        merchant = merchants.create_merchant(
            session, name="Bench Bakery", offering=Offering.PLUS, points_per_euro=Decimal("1")
        )
        program = merchants.program_of(session, merchant)
        ids = {"merchant": merchant.id, "program": program.id}
        for statement in SEED:
            session.execute(text(statement), {**ids, "members": members, "consents": CONSENTS})
        merchant_id = merchant.id
    return merchant_id


def time_materialise(Session: sessionmaker[Session], merchant_id: int) -> tuple[float, int, int]:
    from loyalty.models import Merchant

    with Session.begin() as session:
        merchant = session.get(Merchant, merchant_id)
        draft = CampaignDraft(
            name="Spring",
            channels=["sms"],
            message="Spring at our shops: double points this weekend, {first_name}!",
            channel_messages={},
        )
        campaign = campaigns.save_campaign(session, merchant=merchant, draft=draft)
        session.flush()
        started = time.perf_counter()
        queued = campaigns.materialise(session, campaign)
        elapsed = time.perf_counter() - started
        campaign_id = campaign.id
    return elapsed, queued, campaign_id


def measure_capacity(url: str, threads: int, requests_each: int) -> float:
    """The fake's throughput for bare HTTP posts from `threads` clients (no database, no loop).

    Through the HTTP library and pool the sender itself uses (urllib3, kept-alive
    connections), so that the client's own cost weighs no more here than in the loop: with
    requests, twice as costly a client, the fake looked half as fast as it is.
    """
    endpoint = f"{url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    pool = urllib3.PoolManager(maxsize=threads, retries=False)
    headers = urllib3.util.make_headers(basic_auth=f"{ACCOUNT}:token")

    def client(index: int) -> None:
        for i in range(requests_each):
            form = {"To": f"+3527{index:02d}{i:06d}", "From": "+352661000000", "Body": "x"}
            answer = pool.request(
                "POST", endpoint, fields=form, encode_multipart=False, headers=headers
            )
            if answer.status != 201:
                raise SystemExit(f"the fake answered {answer.status}")

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    pool.clear()
    return threads * requests_each / elapsed


def measure_loop(
    Session: sessionmaker[Session], url: str, campaign_id: int, sends: int, threads: int
) -> float:
    """Messages per second through the delivery loop (claim, check, send, record), unthrottled."""
    with Session.begin() as session:
        # Only `sends` of the million are due now; the rest wait, as if later in the run.
        first = select(OutboxMessage.id).order_by(OutboxMessage.id).limit(sends).subquery()
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.campaign_id == campaign_id, OutboxMessage.id.not_in(select(first)))
            .values(next_attempt_at=func.now() + text("interval '1 day'"))
            .execution_options(synchronize_session=False)
        )
    # That setup UPDATE leaves a dead version of each postponed row behind, which a running
    # system's autovacuum would have cleared: clear it, so the claims do not wade through it.
    engine = Session.kw["bind"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE outbox_messages"))
    sender = TwilioSmsSender(ACCOUNT, "token", "+352661000000", api_base=url, timeout=10)
    deliverer = Deliverer(
        {OutboxChannel.SMS: sender},
        policy=DeliveryPolicy(quiet_hours=None, concurrency=threads),
    )
    with Session() as session:
        started = time.perf_counter()
        counts = deliverer.run(session)
        elapsed = time.perf_counter() - started
    sent = counts.get(OutboxStatus.SENT, 0)
    if sent != sends:
        raise SystemExit(f"expected {sends} sent, got {counts}")
    return sent / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--sends", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=DeliveryPolicy().concurrency)
    args = parser.parse_args()

    url = bench_url()
    recreate_database(url)
    migrate(url)
    engine = make_engine(url, pool_size=4)
    Session = sessionmaker(engine, expire_on_commit=False)
    started = time.perf_counter()
    merchant_id = seed(Session, args.members)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s")
    elapsed, queued, campaign_id = time_materialise(Session, merchant_id)
    print(f"materialise: {queued:,} outbox rows for {args.members:,} members in {elapsed:.2f} s")

    parent, child = multiprocessing.Pipe()
    fake = multiprocessing.get_context("spawn").Process(target=serve_fake, args=(child,))
    fake.start()
    fake_url = parent.recv()
    try:
        capacity = measure_capacity(fake_url, args.threads, max(500, args.sends // args.threads))
        print(f"fake Twilio capacity, {args.threads} HTTP clients: {capacity:.0f} req/s")
        rate = measure_loop(Session, fake_url, campaign_id, args.sends, args.threads)
        parent.send("count")
        at_fake = parent.recv()
        print(
            f"delivery loop, unthrottled, {args.sends:,} campaign messages: {rate:.0f} msg/s "
            f"({at_fake:,} requests at the fake in all); target ≥ {TARGET_RATE} msg/s"
        )
    finally:
        parent.send("stop")
        fake.join(timeout=10)
    engine.dispose()
    print(report("campaigns", rate, "msg/s", capacity, TARGET))


if __name__ == "__main__":
    main()
