"""Passes stay current: a change queues pushes, APNs hears of it over HTTP/2, Google gets a PATCH."""

# ruff: noqa: F811  (fixtures imported from tests.fakes.wallet are parameters here)

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import (
    AppleRegistration,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    WalletPlatform,
)
from loyalty.services.earn import earn
from tests.factories import make_member, make_tenant
from tests.fakes.wallet import (  # noqa: F401  (fixtures)
    PASS_TYPE_ID,
    apns_server_certs,
    fake_apns,
    fake_google,
    push_settings,
    wallet_certs,
    wallet_settings,
)
from wallet import passes as wallet_passes
from wallet.delivery import deliver_queued
from wallet.google import GoogleWalletSender, object_id
from wallet.push import ApnsSender, queue_pass_updates

SECRET = b"test-secret-key"
TOKENS = ["a1" * 32, "b2" * 32]


def _member_with_passes(session: Session, devices: list[str] = TOKENS):
    tenant = make_tenant(session)
    member = make_member(session, tenant, name="Ada Lovelace")
    apple_pass = wallet_passes.pass_for(session, member, WalletPlatform.APPLE)
    google_pass = wallet_passes.pass_for(session, member, WalletPlatform.GOOGLE)
    for n, token in enumerate(devices):
        session.add(
            AppleRegistration(
                device_library_identifier=f"device{n}", push_token=token, pass_id=apple_pass.id
            )
        )
    session.flush()
    return member, apple_pass, google_pass


def _queued(session: Session, channel: OutboxChannel) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel, OutboxMessage.template == "pass_update")
            .order_by(OutboxMessage.id)
        )
    )


def test_nothing_is_queued_for_passes_that_did_not_change(session: Session) -> None:
    _member_with_passes(session)
    assert queue_pass_updates(session, utcnow() + timedelta(seconds=1))["passes"] == 0


def test_an_earn_queues_one_push_per_device_and_one_google_update(session: Session) -> None:
    member, apple_pass, google_pass = _member_with_passes(session)
    earn(session, member=member, amount_cents=1250, idempotency_key="till-1")
    counts = queue_pass_updates(session)
    assert counts == {"passes": 2, "apple": 2, "google": 1}
    apple = _queued(session, OutboxChannel.APPLE)
    assert sorted(m.address for m in apple) == sorted(TOKENS)
    assert {m.payload["pass_id"] for m in apple} == {apple_pass.id}
    google = _queued(session, OutboxChannel.GOOGLE)
    assert [m.payload["pass_id"] for m in google] == [google_pass.id]
    # Queued once: running again finds nothing new.
    assert queue_pass_updates(session)["passes"] == 0


def test_a_branding_change_requeues_every_pass_of_the_programme(session: Session) -> None:
    member, _, _ = _member_with_passes(session, devices=[TOKENS[0]])
    wallet_passes.branding_changed(session, member.program, at=utcnow() + timedelta(seconds=1))
    assert queue_pass_updates(session) == {"passes": 2, "apple": 1, "google": 1}


def test_a_new_qr_code_reaches_installed_passes_through_the_update_push(
    session: Session, wallet_settings
) -> None:
    from loyalty.services import lookup
    from loyalty.services.actors import SYSTEM
    from wallet.content import card_content

    member, apple_pass, _ = _member_with_passes(session, devices=[TOKENS[0]])
    old = lookup.qr_token(member, SECRET)
    lookup.rotate_qr_token(
        session, member=member, actor=SYSTEM, now=utcnow() + timedelta(seconds=1)
    )
    assert queue_pass_updates(session) == {"passes": 2, "apple": 1, "google": 1}
    content = card_content(apple_pass, settings=wallet_settings, secret_key=SECRET)
    assert content.qr_message == lookup.qr_token(member, SECRET) != old


def test_apns_push_reaches_the_http2_fake_with_the_pass_type_topic(
    session: Session, push_settings, fake_apns
) -> None:
    member, _, _ = _member_with_passes(session)
    earn(session, member=member, amount_cents=500, idempotency_key="till-2")
    queue_pass_updates(session)
    sender = ApnsSender(session, push_settings)
    try:
        counts = deliver_queued(session, {OutboxChannel.APPLE: sender})
    finally:
        sender.close()
    assert counts == {OutboxStatus.SENT: 2}
    assert sorted(p.path for p in fake_apns.pushes) == sorted(f"/3/device/{t}" for t in TOKENS)
    for push in fake_apns.pushes:
        assert push.headers[":method"] == "POST"
        assert push.headers["apns-topic"] == PASS_TYPE_ID
        assert push.body == b"{}"
        # Authenticated with the Pass Type ID certificate, as APNs requires for passes.
        assert f"userId={PASS_TYPE_ID}" in push.client_subject
    assert all(m.provider_id for m in _queued(session, OutboxChannel.APPLE))


def test_a_410_from_apns_removes_that_registration(
    session: Session, push_settings, fake_apns
) -> None:
    member, apple_pass, _ = _member_with_passes(session)
    fake_apns.unregistered.add(TOKENS[1])
    earn(session, member=member, amount_cents=500, idempotency_key="till-3")
    queue_pass_updates(session)
    sender = ApnsSender(session, push_settings)
    try:
        counts = deliver_queued(session, {OutboxChannel.APPLE: sender})
    finally:
        sender.close()
    assert counts == {OutboxStatus.SENT: 1, OutboxStatus.SKIPPED: 1}
    remaining = session.scalars(
        select(AppleRegistration.push_token).where(AppleRegistration.pass_id == apple_pass.id)
    ).all()
    assert remaining == [TOKENS[0]]


def test_an_earn_produces_exactly_one_patch_with_the_new_balance(
    session: Session, push_settings, fake_google
) -> None:
    member, _, google_pass = _member_with_passes(session, devices=[])
    result = earn(session, member=member, amount_cents=4200, idempotency_key="till-4")
    queue_pass_updates(session)
    sender = GoogleWalletSender(session, push_settings, secret_key=SECRET)
    counts = deliver_queued(session, {OutboxChannel.GOOGLE: sender})
    assert counts == {OutboxStatus.SENT: 1}, _queued(session, OutboxChannel.GOOGLE)[0].last_error
    patches = fake_google.patches()
    assert len(patches) == 1
    expected_id = object_id(push_settings, google_pass.serial_number)
    assert patches[0].path == f"/walletobjects/v1/loyaltyObject/{expected_id}"
    assert patches[0].body["loyaltyPoints"]["balance"] == {"int": result.balance}
    assert patches[0].body["state"] == "ACTIVE"
    assert patches[0].headers["authorization"] == "Bearer fake-access-token"
    # The token came from a JWT assertion signed with the service-account key.
    assert fake_google.token_requests == 1
    # A second pass over the outbox sends nothing more.
    assert queue_pass_updates(session)["passes"] == 0
    assert deliver_queued(session, {OutboxChannel.GOOGLE: sender}) == {}
    assert len(fake_google.patches()) == 1


def test_google_objects_not_saved_yet_are_skipped_not_retried(
    session: Session, push_settings, fake_google
) -> None:
    member, _, _ = _member_with_passes(session, devices=[])
    fake_google.known_objects = set()
    earn(session, member=member, amount_cents=100, idempotency_key="till-5")
    queue_pass_updates(session)
    sender = GoogleWalletSender(session, push_settings, secret_key=SECRET)
    assert deliver_queued(session, {OutboxChannel.GOOGLE: sender}) == {OutboxStatus.SKIPPED: 1}


def test_earning_itself_queues_nothing(session: Session) -> None:
    member, _, _ = _member_with_passes(session)
    before = session.scalar(select(func.count()).select_from(OutboxMessage))
    earn(session, member=member, amount_cents=100, idempotency_key="till-6")
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before


def _send_google(session: Session, push_settings, clock) -> None:
    queue_pass_updates(session)
    sender = GoogleWalletSender(session, push_settings, secret_key=SECRET, clock=clock)
    assert deliver_queued(session, {OutboxChannel.GOOGLE: sender}) == {OutboxStatus.SENT: 1}


def test_balance_changes_notify_at_most_three_times_in_any_24_hours(
    session: Session, push_settings, fake_google
) -> None:
    member, _, _ = _member_with_passes(session, devices=[])
    start = utcnow()
    for hour in range(5):  # five earns an hour apart: the 4th and 5th update silently
        earn(session, member=member, amount_cents=500, idempotency_key=f"budget-{hour}")
        _send_google(session, push_settings, lambda hour=hour: start + timedelta(hours=hour))
    # 24 h after the first notification one notification is available again, not three.
    for hour in (24, 24.5):
        earn(session, member=member, amount_cents=500, idempotency_key=f"budget-{hour}")
        _send_google(session, push_settings, lambda hour=hour: start + timedelta(hours=hour))
    notified = ["notifyPreference" in patch.body for patch in fake_google.patches()]
    assert notified == [True, True, True, False, False, True, False]
    balances = [patch.body["loyaltyPoints"]["balance"]["int"] for patch in fake_google.patches()]
    assert balances == sorted(balances)  # every update still carries the new balance


def test_an_update_that_leaves_the_balance_alone_is_silent(
    session: Session, push_settings, fake_google
) -> None:
    member, _, google_pass = _member_with_passes(session, devices=[])
    earn(session, member=member, amount_cents=500, idempotency_key="silent-1")
    _send_google(session, push_settings, utcnow)
    wallet_passes.branding_changed(session, member.program, at=utcnow() + timedelta(seconds=1))
    _send_google(session, push_settings, utcnow)
    first, second = fake_google.patches()
    assert first.body["notifyPreference"] == "notifyOnUpdate"
    assert "notifyPreference" not in second.body
    assert google_pass.google_balance_shown == member.points_balance
