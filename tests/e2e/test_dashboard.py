"""The back-office dashboard per offering, the CSV export, and what a downgrade shows and keeps."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import func, select

from loyalty.models import LoyaltyTier, Offering, Role
from loyalty.services import analytics, merchants
from loyalty.services.actors import Actor
from loyalty.services.earn import earn
from tests import factories


def _text(response) -> str:
    return response.get_data(as_text=True)


def _owner_of(session, login_as, offering: Offering):
    tenant = factories.make_tenant(session, offering=offering)
    member = factories.make_member(session, tenant)
    earn(session, member=member, amount_cents=1250, idempotency_key="dash-1", shop=tenant.shop)
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    return tenant


def test_basic_dashboard_shows_30_day_totals_without_charts_or_export(client, login_as, session):
    _owner_of(session, login_as, Offering.BASIC)
    page = client.get("/backoffice/")
    assert page.status_code == 200
    html = _text(page)
    assert 'data-testid="member-count">1<' in html
    assert "€12.50" in html  # the average spend of the one visit
    assert 'data-testid="upsell-advanced"' in html
    for hidden in ('data-testid="charts"', "<svg", "shop-comparison", "export-csv", "days=90"):
        assert hidden not in html


def test_basic_merchant_cannot_ask_for_other_periods_or_the_export(client, login_as, session):
    _owner_of(session, login_as, Offering.BASIC)
    refused = client.get("/backoffice/?days=90")
    assert refused.status_code == 409
    assert "Advanced analytics is not included in the Basic offering" in _text(refused)
    assert client.get("/backoffice/analytics.csv").status_code == 409


def test_plus_dashboard_draws_svg_charts_and_comparisons_but_no_export(client, login_as, session):
    _owner_of(session, login_as, Offering.PLUS)
    page = client.get("/backoffice/?days=90")
    assert page.status_code == 200
    html = _text(page)
    assert html.count("<svg") == 4
    assert "style=" not in html.split('data-testid="charts"')[1].split("</section>")[0]
    for shown in ("shop-comparison", "Members by tier", "Most popular rewards", "upsell-full"):
        assert shown in html
    assert "export-csv" not in html
    assert 'data-testid="cohorts"' not in html
    assert client.get("/backoffice/analytics.csv").status_code == 409


def test_enterprise_dashboard_has_cohorts_and_streams_the_csv_export(client, login_as, session):
    tenant = _owner_of(session, login_as, Offering.ENTERPRISE)
    html = _text(client.get("/backoffice/"))
    assert 'data-testid="cohorts"' in html
    assert 'data-testid="export-csv"' in html
    # Read inside the request (the test client's per-request context): the body is a generator.
    response = client.get("/backoffice/analytics.csv?days=7", buffered=True)
    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed, not built in memory
    assert response.mimetype == "text/csv"
    assert f"{tenant.merchant.slug}-analytics-" in response.headers["Content-Disposition"]
    lines = _text(response).splitlines()
    assert lines[0] == "section,bucket,subject,metric,value"
    assert any(line.endswith(",visits,1") and line.startswith("summary,") for line in lines)
    assert sum(line.startswith("day,") for line in lines) == 7 * 5


@pytest.mark.parametrize("days", ["13", "abc", "-1", "99999999999999999999"])
def test_a_bad_period_gets_a_clear_refusal_not_a_500(client, login_as, session, days):
    _owner_of(session, login_as, Offering.PLUS)
    response = client.get(f"/backoffice/?days={days}")
    assert response.status_code == 422
    assert "Choose a period of 7, 30, 90, 365 days." in _text(response)


def test_staff_cannot_open_the_dashboard(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop))
    assert client.get("/backoffice/").status_code == 403
    assert client.get("/backoffice/analytics.csv").status_code == 403


def test_downgrade_plus_to_basic_hides_tier_pages_and_analytics_keeps_tiers(
    app, client, login_as, session, tenant
):
    factories.make_tier(session, tenant, name="Silver", min_points=0)
    factories.make_tier(session, tenant, name="Gold", min_points=500)
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    with app.test_request_context():
        tiers_page = url_for("backoffice.tiers")

    before = _text(client.get("/backoffice/"))
    assert f'href="{tiers_page}"' in before.split("</nav>")[0]  # the navbar's Programme menu
    assert "Members by tier" in before
    assert "offering-notice" not in before

    admin = factories.make_user(session, platform_admin=True)
    change = merchants.change_offering(
        session, merchant=tenant.merchant, offering=Offering.BASIC, actor=Actor.operator(admin.id)
    )
    assert "tiers" in [feature.value for feature in change.lost]

    after = _text(client.get("/backoffice/"))
    assert "Members by tier" not in after
    assert "<svg" not in after
    assert 'data-testid="offering-notice"' in after
    assert "Membership tiers" in after.split('data-testid="offering-notice"')[1].split("</div>")[0]
    assert "2 membership tiers kept but not applied" in after
    assert f'href="{tiers_page}"' not in after.split("</nav>")[0]
    # The notice follows the manager to the other back-office pages.
    assert 'data-testid="offering-notice"' in _text(client.get("/backoffice/members"))
    tiers = session.scalar(
        select(func.count(LoyaltyTier.id)).where(LoyaltyTier.merchant_id == tenant.merchant.id)
    )
    assert tiers == 2


def test_an_upgrade_after_a_downgrade_removes_the_notice(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    operator = Actor.operator(factories.make_user(session, platform_admin=True).id)
    merchants.change_offering(session, merchant=tenant.merchant, offering="basic", actor=operator)
    assert "offering-notice" in _text(client.get("/backoffice/"))
    merchants.change_offering(session, merchant=tenant.merchant, offering="plus", actor=operator)
    html = _text(client.get("/backoffice/"))
    assert "offering-notice" not in html
    assert "<svg" in html


def test_the_dashboard_runs_the_same_few_statements_whatever_the_number_of_members(
    app, client, login_as, session
):
    """Set-based: more members and purchases add rows to the GROUP BYs, not statements."""
    from sqlalchemy import event

    tenant = _owner_of(session, login_as, Offering.ENTERPRISE)

    def statements_for_one_page() -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *args) -> None:
            seen.append(statement)

        engine = session.get_bind().engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get("/backoffice/?days=90").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(
            [
                s
                for s in seen
                if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
            ]
        )

    few = statements_for_one_page()
    for n in range(25):
        member = factories.make_member(session, tenant)
        earn(
            session,
            member=member,
            amount_cents=700 + n,
            idempotency_key=f"more-{n}",
            shop=tenant.shop,
        )
    assert statements_for_one_page() == few
    assert few <= 31, few  # 31: the programme, for the currency amounts are shown in


def test_a_large_programme_reads_the_workers_snapshot_and_says_when_it_was_made(
    client, login_as, session
):
    tenant = _owner_of(session, login_as, Offering.ENTERPRISE)
    assert 'data-testid="figures-as-of"' not in _text(client.get("/backoffice/"))
    analytics.refresh_snapshot(session, merchant=tenant.merchant)
    factories.make_member(session, tenant)  # joins after the snapshot: not counted until the next

    page = client.get("/backoffice/")
    assert page.status_code == 200
    html = _text(page)
    assert 'data-testid="figures-as-of"' in html
    assert 'data-testid="member-count">1<' in html
    assert client.get("/backoffice/?days=365").status_code == 200
