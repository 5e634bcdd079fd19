"""Sign-in links for members: signed, expiring, single-use, and only for their own programme."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty.errors import InvalidInput, InvalidToken
from loyalty.models import ExpiryPolicy, OutboxChannel, OutboxMessage
from loyalty.models.access import MemberAccessToken
from loyalty.services import member_access
from loyalty.services.actors import SYSTEM
from loyalty.services.earn import earn
from loyalty.services.enroll import enroll
from loyalty.services.gdpr import erase_member
from tests import factories

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
KEY = b"test-secret-key"


def link_url(program, token: str) -> str:
    return f"https://loyalty.example/p/{program.slug}/in/{token}"


@pytest.fixture
def member(session, tenant):
    return factories.make_member(
        session, tenant, name="Ann", email="ann@example.com", phone="+352621123456"
    )


def reason(excinfo) -> str:
    return excinfo.value.details["reason"]


def test_a_link_opens_the_members_card_once(session, tenant, member):
    token = member_access.issue_link(session, member=member, secret_key=KEY, now=NOW)
    opened = member_access.open_link(
        session, program=tenant.program, token=token, secret_key=KEY, now=NOW
    )
    assert opened.id == member.id
    with pytest.raises(InvalidToken, match="already used") as excinfo:
        member_access.open_link(
            session, program=tenant.program, token=token, secret_key=KEY, now=NOW
        )
    assert reason(excinfo) == "used"


def test_only_a_hash_of_the_link_is_stored(session, tenant, member):
    token = member_access.issue_link(session, member=member, secret_key=KEY, now=NOW)
    stored = session.scalars(select(MemberAccessToken.token_hash)).all()
    assert token not in stored
    assert len(stored) == 1
    assert len(stored[0]) == 64


def test_an_expired_link_is_refused_with_its_date(session, tenant, member):
    token = member_access.issue_link(session, member=member, secret_key=KEY, now=NOW)
    later = NOW + member_access.SIGN_IN_TTL + timedelta(seconds=1)
    with pytest.raises(InvalidToken, match="expired on 06 May 2024") as excinfo:
        member_access.open_link(
            session, program=tenant.program, token=token, secret_key=KEY, now=later
        )
    assert reason(excinfo) == "expired"


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-2], lambda t: t + "x", lambda t: "A" + t[1:], lambda t: ""]
)
def test_a_tampered_link_is_refused(session, tenant, member, tamper):
    token = member_access.issue_link(session, member=member, secret_key=KEY, now=NOW)
    with pytest.raises(InvalidToken, match="not valid") as excinfo:
        member_access.open_link(
            session, program=tenant.program, token=tamper(token), secret_key=KEY, now=NOW
        )
    assert reason(excinfo) == "not_valid"


def test_a_link_signed_with_another_key_is_refused(session, tenant, member):
    token = member_access.issue_link(session, member=member, secret_key=b"other-key", now=NOW)
    with pytest.raises(InvalidToken, match="not valid"):
        member_access.open_link(
            session, program=tenant.program, token=token, secret_key=KEY, now=NOW
        )


def test_a_link_of_another_merchant_does_not_open_this_programme(session, tenant, member):
    other = factories.make_tenant(session, name="Other Shop")
    token = member_access.issue_link(session, member=member, secret_key=KEY, now=NOW)
    with pytest.raises(InvalidToken, match=f"not for {other.program.name}") as excinfo:
        member_access.open_link(
            session, program=other.program, token=token, secret_key=KEY, now=NOW
        )
    assert reason(excinfo) == "other_programme"
    assert tenant.program.name not in str(excinfo.value)
    # Refused, not used up: it still opens the programme it belongs to.
    assert (
        member_access.open_link(
            session, program=tenant.program, token=token, secret_key=KEY, now=NOW
        ).id
        == member.id
    )


def test_an_erased_members_links_stop_working(session, tenant, member):
    token = member_access.issue_link(session, member=member, secret_key=KEY, now=NOW)
    erase_member(session, member=member, actor=SYSTEM, now=NOW)
    with pytest.raises(InvalidToken):
        member_access.open_link(
            session, program=tenant.program, token=token, secret_key=KEY, now=NOW
        )


@pytest.mark.parametrize(
    ("contact", "channel", "address"),
    [
        (" ANN@example.com ", OutboxChannel.EMAIL, "ann@example.com"),
        ("621 123 456", OutboxChannel.SMS, "+352621123456"),
    ],
)
def test_a_sign_in_link_is_queued_to_the_address_asked_with(
    session, tenant, member, contact, channel, address
):
    message = member_access.send_sign_in_link(
        session, program=tenant.program, contact=contact, secret_key=KEY, link_url=link_url, now=NOW
    )
    assert message is not None
    assert (message.channel, message.address, message.template) == (
        channel,
        address,
        "sign_in_link",
    )
    token = message.payload["link"].rsplit("/", 1)[1]
    assert (
        member_access.open_link(
            session, program=tenant.program, token=token, secret_key=KEY, now=NOW
        ).id
        == member.id
    )


def test_no_link_is_queued_for_an_unknown_address_or_another_merchants_member(
    session, tenant, member
):
    other = factories.make_tenant(session)
    for program, contact in (
        (tenant.program, "nobody@example.com"),
        (other.program, "ann@example.com"),
    ):
        assert (
            member_access.send_sign_in_link(
                session,
                program=program,
                contact=contact,
                secret_key=KEY,
                link_url=link_url,
                now=NOW,
            )
            is None
        )
    assert session.scalars(select(OutboxMessage)).all() == []


def test_a_second_request_within_a_minute_sends_nothing_more(session, tenant, member):
    send = lambda now: member_access.send_sign_in_link(  # noqa: E731
        session,
        program=tenant.program,
        contact="ann@example.com",
        secret_key=KEY,
        link_url=link_url,
        now=now,
    )
    assert send(NOW) is not None
    assert send(NOW + timedelta(seconds=30)) is None
    assert send(NOW + timedelta(seconds=61)) is not None


@pytest.mark.parametrize("contact", ["", "not-an-email@", "12"])
def test_a_malformed_contact_is_refused(session, tenant, member, contact):
    with pytest.raises(InvalidInput):
        member_access.send_sign_in_link(
            session, program=tenant.program, contact=contact, secret_key=KEY, link_url=link_url
        )


def test_the_welcome_message_gets_the_member_page_and_card_links(session, tenant):
    member = enroll(
        session,
        program=tenant.program,
        idempotency_key="w1",
        terms_accepted=True,
        email="zoe@example.com",
        now=NOW,
    )
    message = member_access.complete_welcome(
        session,
        member=member,
        secret_key=KEY,
        link_url=link_url,
        links={"apple": "a", "google": "g", "qr": "q", "telegram": "t"},
        now=NOW,
    )
    assert message.payload["links"]["apple"] == "a"
    assert message.payload["member_id"] == member.id
    token = message.payload["links"]["member_page"].rsplit("/", 1)[1]
    # A welcome link lasts for days: the e-mail is not always read at once.
    opened = member_access.open_link(
        session, program=tenant.program, token=token, secret_key=KEY, now=NOW + timedelta(days=13)
    )
    assert opened.id == member.id
    again = member_access.complete_welcome(
        session, member=member, secret_key=KEY, link_url=link_url, links={}, now=NOW
    )
    assert again.payload["links"]["member_page"] == message.payload["links"]["member_page"]


def test_tier_progress_counts_towards_the_next_tier(session, tenant, member):
    factories.make_tier(session, tenant, name="Silver", min_points=100)
    factories.make_tier(session, tenant, name="Gold", min_points=500)
    earn(
        session, member=member, amount_cents=25_000, idempotency_key="e1", shop=tenant.shop, at=NOW
    )
    progress = member_access.tier_progress(session, member=member, now=NOW)
    assert progress.current.name == "Silver"
    assert progress.next.name == "Gold"
    assert (progress.qualifying_points, progress.points_to_next) == (250, 250)
    assert progress.percent == 37  # (250 - 100) of the 400 between Silver and Gold


def test_tier_progress_at_the_top_has_no_next_tier(session, tenant, member):
    progress = member_access.tier_progress(session, member=member, now=NOW)
    assert progress.next is None
    assert progress.current is None


def test_points_expiring_soon_are_listed_by_date(session, tenant, member):
    tenant.program.expiry_policy = ExpiryPolicy.AFTER_DAYS
    tenant.program.expiry_days = 20
    earn(session, member=member, amount_cents=1_000, idempotency_key="e1", shop=tenant.shop, at=NOW)
    soon = member_access.expiring_points(session, member=member, now=NOW)
    assert [(p.expires_at, p.points) for p in soon] == [(NOW + timedelta(days=20), 10)]
    assert (
        member_access.expiring_points(session, member=member, now=NOW, within=timedelta(days=10))
        == []
    )


def test_history_is_newest_first(session, tenant, member):
    for n in range(3):
        earn(
            session,
            member=member,
            amount_cents=100 * (n + 1),
            idempotency_key=f"h{n}",
            shop=tenant.shop,
            at=NOW + timedelta(minutes=n),
        )
    assert [t.points for t in member_access.history(session, member=member)] == [3, 2, 1]
