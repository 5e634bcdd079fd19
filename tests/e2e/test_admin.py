"""The platform admin: merchants, offering changes, suspension, usage and the job history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.errors import PermissionDenied
from loyalty.models import (
    AuditLog,
    ChannelKind,
    JobOutcome,
    JobRun,
    MerchantStatus,
    Offering,
    OutboxChannel,
    Role,
)
from loyalty.notify import outbox
from loyalty.services import merchants
from loyalty.services.actors import Actor
from loyalty_bot import dialogue
from loyalty_bot.dialogue import Incoming, Settings
from tests import factories


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def admin(session, login_as):
    user = factories.make_user(session, platform_admin=True)
    login_as(user)
    return user


def _admin_urls(app, merchant_id: int) -> list[tuple[str, str]]:
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != "admin":
            continue
        with app.test_request_context():
            values = {"merchant_id": merchant_id} if "merchant_id" in rule.arguments else {}
            url = app.url_map.bind("localhost").build(rule.endpoint, values)
        urls += [(method, url) for method in ("GET", "POST") if method in rule.methods]
    return urls


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER, Role.STAFF])
def test_every_admin_page_is_404_for_merchant_staff(app, client, login_as, session, tenant, role):
    login_as(factories.make_user(session, tenant, role=role))
    urls = _admin_urls(app, tenant.merchant.id)
    assert len(urls) >= 5
    answers = {
        f"{method} {url}": client.open(url, method=method).status_code for method, url in urls
    }
    assert set(answers.values()) == {404}, answers
    assert tenant.merchant.offering == Offering.PLUS  # nothing changed


def test_admin_pages_send_visitors_to_sign_in(app, client, tenant):
    for method, url in _admin_urls(app, tenant.merchant.id):
        response = client.open(url, method=method)
        assert response.status_code in (302, 400), url  # 400: a POST without its CSRF token


def test_managers_cannot_change_the_offering_only_platform_admins_can(session, tenant):
    manager = factories.make_user(session, tenant, role=Role.MANAGER)
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    for user, role in ((manager, Role.MANAGER), (owner, Role.OWNER)):
        with pytest.raises(PermissionDenied, match="Only the platform operator"):
            merchants.change_offering(
                session,
                merchant=tenant.merchant,
                offering=Offering.ENTERPRISE,
                actor=factories.actor_for(user, role),
            )
        with pytest.raises(PermissionDenied):
            merchants.set_status(
                session,
                merchant=tenant.merchant,
                status=MerchantStatus.SUSPENDED,
                actor=factories.actor_for(user, role),
            )
    assert tenant.merchant.offering == Offering.PLUS


def test_merchants_list_shows_figures_and_searches_across_pages(client, session, admin):
    from web.admin.views import PER_PAGE

    for n in range(PER_PAGE + 2):
        factories.make_tenant(session, name=f"Zebra Shop {n:02d}")
    busy = factories.make_tenant(session, name="Quokka Bakery", offering=Offering.ENTERPRISE)
    member = factories.make_member(session, busy)
    from loyalty.services.earn import earn

    earn(session, member=member, amount_cents=500, idempotency_key="a-1", shop=busy.shop)

    html = _text(client.get("/admin/?q=quokka"))
    assert "Quokka Bakery" in html
    assert "Zebra" not in html
    assert "Enterprise" in html
    assert "1 merchant" in html
    row = html.split("Quokka Bakery")[1].split("</tr>")[0]
    assert ">1<" in row  # one member, one shop, and a last-activity time
    first = _text(client.get("/admin/?q=zebra"))
    assert "Zebra Shop 00" in first
    assert f"{PER_PAGE + 2} merchants" in first
    assert "page=2&amp;q=zebra" in first or "q=zebra&amp;page=2" in first
    second = _text(client.get("/admin/?q=zebra&page=2"))
    assert "Zebra Shop 26" in second
    assert "Zebra Shop 00" not in second
    assert "No merchant matches" in _text(client.get("/admin/?q=%25_nothing"))


def test_platform_usage_figures(client, session, admin):
    before = _text(client.get("/admin/"))
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    factories.make_member(session, tenant)
    after = _text(client.get("/admin/"))

    def figure(html, testid):
        return int(html.split(f'data-testid="{testid}">')[1].split("<")[0].replace(",", ""))

    assert figure(after, "usage-merchants") == figure(before, "usage-merchants") + 1
    assert figure(after, "usage-members") == figure(before, "usage-members") + 1


def test_admin_downgrades_after_seeing_what_changes(client, session, admin, tenant):
    merchants.create_shop(session, merchant=tenant.merchant, name="Second")
    factories.make_tier(session, tenant, name="Gold", min_points=100)
    url = f"/admin/merchants/{tenant.merchant.id}/offering"

    preview = client.post(url, data={"offering": "basic"})
    assert preview.status_code == 200
    html = _text(preview)
    assert "Membership tiers" in html.split('data-testid="lost"')[1]
    assert "2 open shops, while Basic includes 1" in html
    assert tenant.merchant.offering == Offering.PLUS  # a preview changes nothing

    done = client.post(url, data={"offering": "basic", "confirmed": "yes"})
    assert done.status_code == 302
    session.refresh(tenant.merchant)
    assert tenant.merchant.offering == Offering.BASIC
    entry = session.scalars(
        select(AuditLog).where(
            AuditLog.merchant_id == tenant.merchant.id,
            AuditLog.action == "merchant.offering_changed",
        )
    ).one()
    assert entry.actor_user_id == admin.id
    assert entry.details["previous"] == "plus"
    assert "tiers" in entry.details["lost"]
    page = _text(client.get(f"/admin/merchants/{tenant.merchant.id}"))
    assert 'data-testid="admin-last-change"' in page
    assert "plus → basic" in page


def test_an_upgrade_takes_effect_at_once(client, session, admin):
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    url = f"/admin/merchants/{tenant.merchant.id}/offering"
    assert "Advanced analytics" in _text(client.post(url, data={"offering": "plus"}))
    client.post(url, data={"offering": "plus", "confirmed": "yes"})
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    client.post("/logout")
    client.post("/login", data={"email": owner.email, "password": factories.PASSWORD})
    assert "<svg" in _text(client.get("/backoffice/?days=90"))


def test_a_bad_offering_is_refused_and_changes_nothing(client, session, admin, tenant):
    response = client.post(
        f"/admin/merchants/{tenant.merchant.id}/offering",
        data={"offering": "platinum", "confirmed": "yes"},
    )
    assert response.status_code == 422
    assert "Not a valid choice" in _text(response)
    assert tenant.merchant.offering == Offering.PLUS
    assert client.get("/admin/merchants/987654").status_code == 404
    assert client.get("/admin/merchants/99999999999999").status_code == 404


def test_suspend_blocks_backoffice_till_join_page_and_bot_then_reactivate_restores(
    app, client, login_as, session, admin, tenant
):
    member = factories.make_member(session, tenant, phone="+352621000111")
    owner = factories.make_user(session, tenant, role=Role.OWNER)
    cashier = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    status_url = f"/admin/merchants/{tenant.merchant.id}/status"

    unconfirmed = client.post(status_url, data={"reason": "unpaid"})
    assert unconfirmed.status_code == 422
    assert "Tick the box" in _text(unconfirmed)
    assert tenant.merchant.status == MerchantStatus.ACTIVE

    assert client.post(status_url, data={"reason": "unpaid", "confirm": "y"}).status_code == 302
    session.refresh(tenant.merchant)
    assert tenant.merchant.status == MerchantStatus.SUSPENDED

    for user, pages in ((owner, ("/backoffice/", "/backoffice/members")), (cashier, ("/staff/",))):
        client.post("/logout")
        login_as(user)
        for path in pages:
            response = client.get(path)
            assert response.status_code == 403, path
            assert "account is suspended" in _text(response)
    join = client.get(f"/j/{tenant.program.slug}")
    assert join.status_code == 503
    assert "is paused" in _text(join)
    assert client.get(f"/j/{tenant.program.slug}/theme.css").status_code == 200

    settings = Settings(secret_key=b"k", public_base_url="https://loyalty.example")
    for text in ("BALANCE", f"JOIN {tenant.program.join_code}"):
        replies = dialogue.respond(
            session,
            Incoming(
                channel=ChannelKind.SMS,
                address=member.customer.phone,
                text=text,
                merchant_id=tenant.merchant.id,
            ),
            settings,
        )
        assert "is paused" in replies[0].text, text
    assert member.points_balance == 0  # data kept, nothing moved

    client.post("/logout")
    login_as(admin)
    assert client.post(status_url, data={"reason": "paid"}).status_code == 302
    actions = session.scalars(
        select(AuditLog.action)
        .where(AuditLog.merchant_id == tenant.merchant.id)
        .order_by(AuditLog.id)
    ).all()
    assert actions == ["merchant.suspended", "merchant.reactivated"]
    client.post("/logout")
    login_as(owner)
    assert client.get("/backoffice/").status_code == 200
    assert client.get(f"/j/{tenant.program.slug}").status_code == 200


def test_job_history_filters_paginates_and_shows_last_success(client, session, admin):
    from web.admin.views import PER_PAGE

    now = utcnow()
    for n in range(PER_PAGE + 3):
        session.add(
            JobRun(
                job="outbox_delivery",
                started_at=now - timedelta(minutes=n + 10),
                finished_at=now - timedelta(minutes=n + 10) + timedelta(seconds=2),
                duration_ms=2000,
                outcome=JobOutcome.OK,
                counts={"sent": n},
            )
        )
    session.add(
        JobRun(
            job="points_expiry",
            run_key="programme 1 on 2026-11-25",
            started_at=now - timedelta(minutes=1),
            finished_at=now,
            duration_ms=61500,
            outcome=JobOutcome.FAILED,
            error="Traceback: boom <script>",
        )
    )
    session.flush()

    html = _text(client.get("/admin/jobs"))
    health = html.split('data-testid="job-health"')[1].split("</table>")[0]
    assert "outbox_delivery" in health
    assert "never" in health.split("points_expiry</a>")[1]
    assert "Traceback: boom &lt;script&gt;" in html
    assert "1 min 1 s" in html

    failed = _text(client.get("/admin/jobs?outcome=failed"))
    assert "1 run," in failed
    assert "outbox_delivery</span>" not in failed
    page_one = _text(client.get("/admin/jobs?job=outbox_delivery"))
    assert f"{PER_PAGE + 3} runs" in page_one
    assert "2.0 s" in page_one
    assert "sent 0" in page_one
    assert "job=outbox_delivery" in page_one.split('aria-label="Job history pages"')[1]
    assert "sent 27" in _text(client.get("/admin/jobs?job=outbox_delivery&page=2"))
    odd = client.get("/admin/jobs?job=nope&outcome=weird&page=abc")
    assert odd.status_code == 200
    assert "not an outcome" in _text(odd)


def test_platform_admin_actor_can_suspend_in_the_service(session, tenant):
    admin = factories.make_user(session, platform_admin=True)
    merchants.set_status(
        session, merchant=tenant.merchant, status="suspended", actor=Actor.operator(admin.id)
    )
    assert tenant.merchant.status == MerchantStatus.SUSPENDED


def test_a_suspended_merchants_page_says_its_campaigns_and_messages_are_held(
    client, session, admin, tenant
):
    outbox.enqueue(
        session,
        merchant_id=tenant.merchant.id,
        channel=OutboxChannel.SMS,
        template="receipt",
        address="+352621000111",
        payload={},
    )
    page = _text(client.get(f"/admin/merchants/{tenant.merchant.id}"))
    assert "held (not failed) until reactivation" in page  # said before suspending

    status_url = f"/admin/merchants/{tenant.merchant.id}/status"
    client.post(status_url, data={"reason": "unpaid", "confirm": "y"})
    page = _text(client.get(f"/admin/merchants/{tenant.merchant.id}"))

    assert "Nothing is sent while suspended" in page
    assert "Held now: 1 message, 0 campaigns." in page
