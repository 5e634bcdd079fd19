"""The join page: validation, consent, duplicates, bots, rate limit, branding and the welcome."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.models import Customer, LoyaltyMember, OutboxMessage
from loyalty.notify.templates import render_email, render_sms
from loyalty.services.enroll import enroll
from tests import factories
from web import config as web_config
from web import create_app
from web.extensions import db
from web.public.branding import contrast_ratio


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def tenant(session: Session) -> factories.Tenant:
    tenant = factories.make_tenant(session, name="Boulangerie Dupont")
    tenant.program.signup_bonus = 50
    session.flush()
    return tenant


@pytest.fixture(autouse=True)
def human_speed(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test clients post at once; the time check has its own test below."""
    monkeypatch.setitem(app.config, "JOIN_MIN_SECONDS", 0)


def hidden_fields(client: FlaskClient, slug: str) -> dict[str, str]:
    page = text(client.get(f"/j/{slug}"))
    return dict(
        re.findall(r'<input id="(started|key)" name="\1" type="hidden" value="([^"]*)"', page)
    )


def post_join(client: FlaskClient, slug: str, **fields: str):
    data = hidden_fields(client, slug) | {"language": "en", "terms": "y"} | fields
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"/j/{slug}", data=data)


def people(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Customer)),
        session.scalar(select(func.count()).select_from(LoyaltyMember)),
    )


def test_join_page_has_a_title_and_a_label_for_every_field(client, tenant):
    response = client.get(f"/j/{tenant.program.slug}")
    assert response.status_code == 200
    page = text(response)
    assert f"<title>Join · {tenant.program.name}</title>" in page
    ids = set(re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', page))
    hidden = set(re.findall(r'<input[^>]*id="([^"]+)"[^>]*type="hidden"', page))
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
    assert ids - hidden <= labelled
    assert "https://t.me/LoyaltyDemoBot?start=join_" + tenant.program.join_code in page


def test_an_unknown_programme_is_a_404(client, tenant):
    assert client.get("/j/no-such-programme").status_code == 404


def test_joining_creates_the_card_and_queues_a_welcome_with_every_link(client, session, tenant):
    response = post_join(
        client,
        tenant.program.slug,
        name="Zoé Martin",
        email="Zoe@Example.com",
        phone="621 123 456",
        birthday="1990-04-01",
        marketing_email="y",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/j/{tenant.program.slug}/welcome")
    member = session.scalars(select(LoyaltyMember)).one()
    customer = member.customer
    assert (customer.email, customer.phone) == ("zoe@example.com", "+352621123456")
    assert customer.consents["terms"]["version"] == tenant.program.terms_version
    assert customer.consents["marketing_email"]["granted"] is True
    assert customer.consents["marketing_sms"]["granted"] is False
    assert member.points_balance == 50

    welcome = session.scalars(select(OutboxMessage)).one()
    assert welcome.template == "welcome"
    assert set(welcome.payload["links"]) == {"apple", "google", "qr", "telegram", "member_page"}
    assert welcome.payload["links"]["member_page"].startswith(
        f"http://127.0.0.1:5000/p/{tenant.program.slug}/in/"
    )
    mail = render_email(welcome.template, welcome.payload)
    assert member.card_number[:4] in mail.subject
    for link in welcome.payload["links"].values():
        assert link in mail.text
        assert link.replace("&", "&amp;") in mail.html
    assert f"Member ID: {member.id}" in mail.text
    assert "Add to Apple Wallet" in mail.html
    assert welcome.payload["links"]["member_page"] in render_sms("welcome", welcome.payload)

    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert member.card_number[:4] in text(page)
    assert "zoe@example.com" in text(page)


def test_a_double_submission_makes_one_card(client, session, tenant):
    fields = hidden_fields(client, tenant.program.slug)
    data = fields | {"email": "twice@example.com", "terms": "y", "language": "en"}
    assert client.post(f"/j/{tenant.program.slug}", data=data).status_code == 303
    assert client.post(f"/j/{tenant.program.slug}", data=data).status_code == 303
    assert people(session) == (1, 1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email"}, "is not a valid e-mail address"),
        ({"phone": "12"}, "is not a valid phone number"),
        ({"email": "ok@example.com", "terms": None}, "Accept the programme terms to join."),
        ({"name": "No Contact"}, "Give an e-mail address or a mobile phone number."),
        ({"email": "ok@example.com", "birthday": "2999-01-01"}, "That birthday is not possible"),
    ],
)
def test_bad_input_gets_a_clear_message_and_creates_nothing(
    client, session, tenant, fields, message
):
    response = post_join(client, tenant.program.slug, **fields)
    assert response.status_code == 400
    assert message in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert people(session) == (0, 0)


def test_a_known_email_gets_a_sign_in_link_instead_of_a_second_card(client, session, tenant):
    enroll(
        session,
        program=tenant.program,
        idempotency_key="first",
        terms_accepted=True,
        email="ann@example.com",
    )
    before = people(session)
    response = post_join(client, tenant.program.slug, name="Ann again", email="ANN@example.com")
    assert response.status_code == 200
    assert "already has a" in text(response)
    assert "sent a link to your card by e-mail" in text(response)
    assert people(session) == before
    link = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "sign_in_link")
    ).one()
    assert link.address == "ann@example.com"


def test_a_known_phone_gets_its_link_by_sms(client, session, tenant):
    enroll(
        session,
        program=tenant.program,
        idempotency_key="first",
        terms_accepted=True,
        phone="+352621123456",
    )
    response = post_join(client, tenant.program.slug, email="new@example.com", phone="621123456")
    assert "sent a link to your card by SMS" in text(response)
    link = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "sign_in_link")
    ).one()
    assert (link.channel.value, link.address) == ("sms", "+352621123456")


def test_the_same_email_joins_another_merchant_as_a_separate_member(client, session, tenant):
    other = factories.make_tenant(session, name="Café Lux")
    enroll(
        session,
        program=other.program,
        idempotency_key="first",
        terms_accepted=True,
        email="ann@example.com",
    )
    response = post_join(client, tenant.program.slug, email="ann@example.com")
    assert response.status_code == 303
    assert people(session) == (2, 2)


def test_the_honeypot_field_refuses_the_submission(client, session, tenant):
    response = post_join(
        client, tenant.program.slug, email="bot@example.com", website="http://spam"
    )
    assert response.status_code == 400
    assert "could not be accepted" in text(response)
    assert people(session) == (0, 0)


def test_a_submission_faster_than_a_person_is_refused(app, client, session, tenant, monkeypatch):
    monkeypatch.setitem(app.config, "JOIN_MIN_SECONDS", 3)
    response = post_join(client, tenant.program.slug, email="fast@example.com")
    assert response.status_code == 400
    assert "quicker than a person can type" in text(response)
    assert people(session) == (0, 0)


def test_a_forged_start_time_is_refused(client, session, tenant):
    response = post_join(client, tenant.program.slug, email="x@example.com", started="forged")
    assert response.status_code == 400
    assert people(session) == (0, 0)


@pytest.fixture
def limited_client(database_uri: str, session: Session) -> Iterator[FlaskClient]:
    """A second app on the same test database with the production limits switched on."""
    config = web_config.test_config(database_uri)
    config.update(RATELIMIT_ENABLED=True, JOIN_MIN_SECONDS=0)
    limited = create_app(config)
    yield limited.test_client()
    with limited.app_context():
        db.engine.dispose()


def test_thirty_quick_submissions_from_one_address_are_rate_limited(limited_client, tenant):
    statuses = [
        limited_client.post(f"/j/{tenant.program.slug}", data={"email": "bad"}).status_code
        for _ in range(30)
    ]
    assert statuses[:10] == [400] * 10  # refused for their content, counted all the same
    assert set(statuses[10:]) == {429}
    blocked = limited_client.post(f"/j/{tenant.program.slug}", data={"email": "bad"})
    assert "Try again in" in text(blocked)
    assert limited_client.get(f"/j/{tenant.program.slug}").status_code == 200  # reading stays open


def test_a_pale_brand_colour_is_darkened_until_white_text_reads(client, session, tenant):
    tenant.program.primary_color = "#ffe66d"  # pale yellow: 1.2:1 with white
    tenant.program.secondary_color = "#333333"  # a dark page tint under dark text
    session.flush()
    css = text(client.get(f"/j/{tenant.program.slug}/theme.css"))
    primary = re.search(r"--brand: (#[0-9a-f]{6});", css).group(1)
    soft = re.search(r"--brand-soft: (#[0-9a-f]{6});", css).group(1)
    assert primary != "#ffe66d"
    assert contrast_ratio(primary, "#ffffff") >= 4.5
    assert contrast_ratio(soft, "#212529") >= 4.5


def test_a_readable_brand_colour_is_kept(client, session, tenant):
    tenant.program.primary_color = "#1d4ed8"
    session.flush()
    assert "--brand: #1d4ed8;" in text(client.get(f"/j/{tenant.program.slug}/theme.css"))
