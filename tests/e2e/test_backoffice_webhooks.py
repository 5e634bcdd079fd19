"""The back-office webhook pages: owners of Enterprise businesses only, every action through the form."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalty.models import (
    Offering,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Role,
    WebhookDelivery,
    WebhookEndpoint,
)
from loyalty.services import events
from tests import factories


@pytest.fixture
def tenant(session) -> factories.Tenant:
    return factories.make_tenant(session, offering=Offering.ENTERPRISE, name="Bakery Dupont")


@pytest.fixture
def owner(session, tenant, login_as):
    user = factories.make_user(session, tenant, role=Role.OWNER)
    login_as(user)
    return user


def _create(client, url="https://hooks.example.com/in", types=("points.earned",), **extra):
    return client.post(
        "/backoffice/webhooks/new",
        data={"url": url, "description": "E-shop sync", "event_types": list(types), **extra},
    )


def _endpoints(session, tenant) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == tenant.merchant.id)
        )
    )


def test_an_owner_adds_an_endpoint_and_sees_its_secret(client, session, tenant, owner) -> None:
    page = client.get("/backoffice/webhooks")
    assert page.status_code == 200
    assert b"No endpoints yet" in page.data
    answer = _create(client)
    [endpoint] = _endpoints(session, tenant)
    assert answer.status_code == 302
    assert answer.location.endswith(f"/backoffice/webhooks/{endpoint.id}")
    assert endpoint.event_types == ["points.earned"]
    detail = client.get(answer.location)
    assert endpoint.secret.encode() in detail.data
    assert b"Nothing delivered yet" in detail.data
    assert b"https://hooks.example.com/in" in client.get("/backoffice/webhooks").data


def test_the_navigation_shows_webhooks_to_enterprise_owners(client, session, tenant, owner) -> None:
    assert b'href="/backoffice/webhooks"' in client.get("/backoffice/").data


def test_a_bad_url_is_explained_on_the_form_and_nothing_saved(
    client, session, tenant, owner
) -> None:
    answer = _create(client, url="http://hooks.example.com/in")
    assert answer.status_code == 422
    assert b"must use https://" in answer.data
    answer = _create(client, types=())
    assert answer.status_code == 422
    assert b"Choose at least one event" in answer.data
    assert _endpoints(session, tenant) == []


def test_edit_disable_enable_rotate_and_delete(client, session, tenant, owner) -> None:
    _create(client)
    [endpoint] = _endpoints(session, tenant)
    base = f"/backoffice/webhooks/{endpoint.id}"
    edited = client.post(
        f"{base}/edit",
        data={
            "url": "https://hooks.example.com/v2",
            "event_types": ["voucher.used", "tier.changed"],
        },
    )
    assert edited.status_code == 302
    session.refresh(endpoint)
    assert endpoint.url == "https://hooks.example.com/v2"
    assert endpoint.event_types == ["tier.changed", "voucher.used"]

    client.post(f"{base}/disable")
    session.refresh(endpoint)
    assert not endpoint.active
    assert b"Disabled" in client.get(base).data
    client.post(f"{base}/enable")
    session.refresh(endpoint)
    assert endpoint.active

    secret = endpoint.secret
    confirm = client.get(f"{base}/rotate")
    assert b"stops working at once" in confirm.data
    session.refresh(endpoint)
    assert endpoint.secret == secret  # asking is not doing
    client.post(f"{base}/rotate")
    session.refresh(endpoint)
    assert endpoint.secret != secret

    confirm = client.get(f"{base}/delete")
    assert b"cannot be undone" in confirm.data
    assert _endpoints(session, tenant) == [endpoint]
    assert client.post(f"{base}/delete").location.endswith("/backoffice/webhooks")
    session.expire_all()
    assert _endpoints(session, tenant) == []


def test_send_test_event_queues_it_for_that_endpoint(client, session, tenant, owner) -> None:
    _create(client)
    [endpoint] = _endpoints(session, tenant)
    answer = client.post(f"/backoffice/webhooks/{endpoint.id}/test", follow_redirects=True)
    assert b"Test event queued" in answer.data
    [message] = session.scalars(
        select(OutboxMessage).where(OutboxMessage.channel == OutboxChannel.WEBHOOK)
    ).all()
    assert message.template == events.TEST_EVENT
    assert message.payload["endpoint_id"] == endpoint.id


def test_the_delivery_log_pages_and_resends(client, session, tenant, owner) -> None:
    for n in range(30):
        factories.make_webhook_delivery(session, tenant, status_code=500, n=n + 1)
    endpoint = factories.make_webhook_endpoint(session, tenant)
    base = f"/backoffice/webhooks/{endpoint.id}"
    first = client.get(base)
    assert first.data.count(b">Resend</button>") == 25
    assert b"500" in first.data
    assert f"{base}?page=2".encode() in first.data
    second = client.get(f"{base}?page=2")
    assert second.data.count(b">Resend</button>") == 5
    delivery = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).first()
    client.post(f"{base}/deliveries/{delivery.id}/resend")
    [message] = session.scalars(
        select(OutboxMessage).where(OutboxMessage.channel == OutboxChannel.WEBHOOK)
    ).all()
    assert message.status == OutboxStatus.QUEUED
    assert message.payload["event"]["id"] == delivery.event_id


def test_a_delivery_of_another_endpoint_is_not_found_under_this_one(
    client, session, tenant, owner
) -> None:
    delivery = factories.make_webhook_delivery(session, tenant)
    other = WebhookEndpoint(
        merchant_id=tenant.merchant.id, url="https://b.example.com", event_types=[], secret="s"
    )
    session.add(other)
    session.flush()
    answer = client.post(f"/backoffice/webhooks/{other.id}/deliveries/{delivery.id}/resend")
    assert answer.status_code == 404


def test_another_businesss_endpoint_is_404(client, session, tenant, owner) -> None:
    theirs = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    endpoint = factories.make_webhook_endpoint(session, theirs)
    delivery = factories.make_webhook_delivery(session, theirs)
    base = f"/backoffice/webhooks/{endpoint.id}"
    for method, url in [
        ("GET", base),
        ("GET", f"{base}/edit"),
        ("POST", f"{base}/edit"),
        ("POST", f"{base}/disable"),
        ("POST", f"{base}/enable"),
        ("POST", f"{base}/test"),
        ("POST", f"{base}/rotate"),
        ("POST", f"{base}/delete"),
        ("POST", f"{base}/deliveries/{delivery.id}/resend"),
    ]:
        assert client.open(url, method=method).status_code == 404, url
    assert endpoint.active
    assert session.get(WebhookEndpoint, endpoint.id) is not None


def test_a_plus_business_is_told_which_offering_has_webhooks(client, session, login_as) -> None:
    plus = factories.make_tenant(session, offering=Offering.PLUS)
    login_as(factories.make_user(session, plus, role=Role.OWNER))
    page = client.get("/backoffice/webhooks")
    assert page.status_code == 200
    assert b"not included in your Plus offering" in page.data
    assert b"Enterprise" in page.data
    assert b"Add endpoint" not in page.data
    assert b'href="/backoffice/webhooks"' not in client.get("/backoffice/").data
    refused = _create(client)
    assert refused.status_code == 409
    assert b"Upgrade to Enterprise" in refused.data
    assert _endpoints(session, plus) == []


def test_managers_cannot_open_the_webhook_pages(client, session, tenant, login_as) -> None:
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    assert client.get("/backoffice/webhooks").status_code == 403
    assert _create(client).status_code == 403
    assert _endpoints(session, tenant) == []
