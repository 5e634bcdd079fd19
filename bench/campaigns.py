"""Campaign materialisation for 1,000,000 members, and the unthrottled send rate to a local fake
provider next to the fake's own capacity, measured in the same run.

    python -m bench.campaigns [--members 1000000] [--sends 20000] [--latency 0.025]
                              [--workers 2] [--threads 16]

On PostgreSQL (BENCH_DATABASE_URL, default loyalty_bench): seeds members with an SMS number and
consent (set-based SQL), then times `loyalty.services.campaigns.materialise` of a campaign to
all of them. Then the fake Twilio (tests/fakes/twilio.py) runs in its own process, answering
each request after `--latency` seconds, a provider's round trip (Twilio's own is 100-300 ms;
25 ms is a fast provider). Its capacity is measured with bare HTTP posts through the sender's
own transport (loyalty.notify.keepalive) from `--workers` processes of `--threads` threads,
the connections the loop will hold; then the delivery loop runs as `--workers` worker
processes with `--threads` send threads each and sends `--sends` of the campaign's messages
through twilio's client, unthrottled, the copies sharing the outbox through their claims.
Targets: ≥ 1000 msg/s and ≥ 0.8 of that capacity.

The same two measurements against a fake that answers at once are printed first, for the
record: there the loop is bound by its own CPU (the database work per message), not by the
provider.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import threading
import time
from decimal import Decimal
from urllib.parse import urlencode

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bench.common import bench_url, migrate, recreate_database, report
from loyalty.db import make_engine
from loyalty.models import Offering, OutboxChannel, OutboxMessage, OutboxStatus
from loyalty.notify.delivery import Deliverer, DeliveryPolicy
from loyalty.notify.keepalive import KeptAliveConnections, basic_authorization
from loyalty.services import campaigns, merchants
from loyalty.services.campaigns import CampaignDraft
from loyalty_bot.sms_sender import TwilioSmsSender

TARGET = 0.8
TARGET_RATE = 1000
# The worker's own setting (jobs/__main__.py): a woken send thread gets the interpreter soon.
SWITCH_INTERVAL = 0.001
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


def serve_fake(pipe, latency: float) -> None:
    """The fake provider in its own process, so it does not share the loop's interpreter."""
    from tests.fakes.twilio import FakeTwilio

    fake = FakeTwilio()
    fake.delay = latency
    fake.start()
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


def in_processes(target, processes: int, *args) -> float:
    """Run `target(*args, start, results)` in `processes` processes started together; returns
    the messages per second of all of them, from the first start to the last finish."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    running = [
        context.Process(target=target, args=(*args, start, results)) for _ in range(processes)
    ]
    for process in running:
        process.start()
    time.sleep(2)  # imported and connected: only the work is timed
    start.set()
    figures = [results.get(timeout=600) for _ in running]
    for process in running:
        process.join()
    if any(isinstance(figure, str) for figure in figures):
        raise SystemExit(next(figure for figure in figures if isinstance(figure, str)))
    done = sum(count for count, _, _ in figures)
    return done / (max(end for _, _, end in figures) - min(begin for _, begin, _ in figures))


def bare_client(url: str, threads: int, requests_each: int, start, results) -> None:
    """Bare HTTP posts from `threads` threads (no database, no loop): the fake's capacity.

    Through the transport the sender itself uses (`loyalty.notify.keepalive`: http.client,
    a kept-alive connection per thread), so that the client's own cost weighs no more here
    than in the loop: through a costlier client (requests, then urllib3's pool) the fake
    looked slower than it is.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
    endpoint = f"{url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    connections = KeptAliveConnections(timeout=10)
    headers = {
        "Authorization": basic_authorization(ACCOUNT, "token"),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    failures = []

    def client(index: int) -> None:
        for i in range(requests_each):
            form = {"To": f"+3527{index:02d}{i:06d}", "From": "+352661000000", "Body": "x"}
            answer = connections.request("POST", endpoint, body=urlencode(form), headers=headers)
            if answer.status != 201:
                failures.append(f"the fake answered {answer.status}")
                return

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    start.wait()
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(failures[0] if failures else (threads * requests_each, began, time.monotonic()))


def delivery_worker(db_url: str, url: str, threads: int, start, results) -> None:
    """One worker copy's delivery loop (claim, check, send, record), unthrottled, until the
    due messages are gone; the copies share them through their claims."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    engine = make_engine(db_url, pool_size=2)
    sender = TwilioSmsSender(ACCOUNT, "token", "+352661000000", api_base=url, timeout=10)
    deliverer = Deliverer(
        {OutboxChannel.SMS: sender},
        policy=DeliveryPolicy(quiet_hours=None, concurrency=threads),
    )
    with Session(engine, expire_on_commit=False) as session:
        start.wait()
        began = time.monotonic()
        counts = deliverer.run(session)
        ended = time.monotonic()
    engine.dispose()
    if set(counts) - {OutboxStatus.SENT}:
        results.put(f"not everything was sent: {counts}")
    else:
        results.put((counts.get(OutboxStatus.SENT, 0), began, ended))


def postpone_all(Session: sessionmaker[Session], campaign_id: int) -> None:
    """The million wait for later in the run; `make_due` releases them a round at a time."""
    with Session.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.campaign_id == campaign_id)
            .values(next_attempt_at=func.now() + text("interval '1 day'"))
            .execution_options(synchronize_session=False)
        )
    # That setup UPDATE leaves a dead version of each row behind, which a running system's
    # autovacuum would have cleared: clear it, so the claims do not wade through it.
    vacuum(Session, "outbox_messages")


def make_due(Session: sessionmaker[Session], campaign_id: int, sends: int) -> None:
    with Session.begin() as session:
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.status == OutboxStatus.QUEUED,
            )
            .order_by(OutboxMessage.id)
            .limit(sends)
        )
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=func.now())
            .execution_options(synchronize_session=False)
        )
    vacuum(Session, "outbox_messages")


def vacuum(Session: sessionmaker[Session], table: str = "") -> None:
    engine = Session.kw["bind"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM ANALYZE {table}"))


def send_round(
    Session: sessionmaker[Session], url: str, campaign_id: int, args: argparse.Namespace
) -> tuple[float, float]:
    """The fake's capacity for the loop's connections, then the loop's rate: (capacity, rate)."""
    db_url = Session.kw["bind"].url.render_as_string(hide_password=False)
    connections = args.workers * args.threads
    capacity = in_processes(
        bare_client, args.workers, url, args.threads, max(200, args.sends // connections)
    )
    make_due(Session, campaign_id, args.sends)
    rate = in_processes(delivery_worker, args.workers, db_url, url, args.threads)
    return capacity, rate


def measured_round(
    Session: sessionmaker[Session], latency: float, campaign_id: int, args: argparse.Namespace
) -> tuple[float, float, int]:
    """A fake with this round trip in its own process, and `send_round` against it:
    (capacity, rate, requests the fake received)."""
    parent, child = multiprocessing.Pipe()
    fake = multiprocessing.get_context("spawn").Process(target=serve_fake, args=(child, latency))
    fake.start()
    try:
        capacity, rate = send_round(Session, parent.recv(), campaign_id, args)
    finally:
        parent.send("count")
        received = parent.recv()
        parent.send("stop")
        fake.join(timeout=10)
    return capacity, rate, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--sends", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.025, help="the fake's round trip, s")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=16, help="send threads per worker")
    args = parser.parse_args()

    url = bench_url()
    recreate_database(url)
    migrate(url)
    engine = make_engine(url, pool_size=4)
    Session = sessionmaker(engine, expire_on_commit=False)
    started = time.perf_counter()
    merchant_id = seed(Session, args.members)
    vacuum(Session)
    print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s")
    elapsed, queued, campaign_id = time_materialise(Session, merchant_id)
    print(f"materialise: {queued:,} outbox rows for {args.members:,} members in {elapsed:.2f} s")

    postpone_all(Session, campaign_id)
    connections = f"{args.workers} processes × {args.threads} threads"

    # Without a round trip the fake answers at once and the loop is bound by its own CPU:
    # for the record, not the target (a real provider takes tens to hundreds of ms).
    capacity, rate, at_fake = measured_round(Session, 0.0, campaign_id, args)
    print(
        f"no round trip ({connections}): fake capacity {capacity:.0f} req/s, delivery loop "
        f"{rate:.0f} msg/s, ratio {rate / capacity:.2f}; {at_fake:,} requests at the fake"
    )
    capacity, rate, at_fake = measured_round(Session, args.latency, campaign_id, args)
    print(
        f"round trip {args.latency * 1000:.0f} ms ({connections}): fake capacity "
        f"{capacity:.0f} req/s; delivery loop, unthrottled, {args.sends:,} campaign messages: "
        f"{rate:.0f} msg/s ({at_fake:,} requests at the fake in all); "
        f"target ≥ {TARGET_RATE} msg/s"
    )
    engine.dispose()
    print(report("campaigns", rate, "msg/s", capacity, TARGET))


if __name__ == "__main__":
    main()
