"""Who lands where, and who may open what.

Decision: a role too low for a page of one's own business (staff opening the back-office)
gets 403 with an explanation: the page exists for that business, so nothing is hidden by
saying no. The platform admin area answers 404 to everyone but platform admins, and another
business's ids answer 404 (see test_tenant_isolation.py).
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from loyalty.models import Offering, Role
from loyalty.services import merchants
from tests import factories


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def tenant(session: Session) -> factories.Tenant:
    return factories.make_tenant(session, name="Bakery Dupont", offering=Offering.PLUS)


@pytest.mark.parametrize(
    ("role", "home"),
    [(Role.OWNER, "/backoffice/"), (Role.MANAGER, "/backoffice/"), (Role.STAFF, "/staff/")],
)
def test_each_role_lands_on_its_home(client, login_as, session, tenant, role, home) -> None:
    user = factories.make_user(session, tenant, role=role, shop=tenant.shop)
    response = login_as(user)
    assert response.headers["Location"] == home
    assert client.get(home).status_code == 200
    assert client.get("/").headers["Location"] == home


def test_platform_admin_lands_on_admin(client, login_as, session) -> None:
    admin = factories.make_user(session, platform_admin=True)
    assert login_as(admin).headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_front_door_sends_visitors_to_sign_in(client) -> None:
    assert client.get("/").headers["Location"] == "/login"


def test_staff_cannot_open_the_back_office(client, login_as, session, tenant) -> None:
    staff = factories.make_user(session, tenant, role=Role.STAFF, shop=tenant.shop)
    login_as(staff)
    for path in ("/backoffice/", "/backoffice/members", "/backoffice/shops"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Only a manager or above can open this page." in _text(response)


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER, Role.STAFF])
def test_only_platform_admins_see_admin_others_get_404(client, login_as, session, tenant, role):
    login_as(factories.make_user(session, tenant, role=role))
    assert client.get("/admin/").status_code == 404


def test_admin_area_sends_visitors_to_sign_in(client) -> None:
    assert client.get("/admin/").headers["Location"] == "/login?next=/admin/"


def test_user_without_a_business_is_told_so(client, login_as, session) -> None:
    loner = factories.make_user(session)
    response = login_as(loner, follow_redirects=True)
    assert "not linked to a business" in _text(response)
    blocked = client.get("/staff/")
    assert blocked.status_code == 403
    assert "not linked to a business" in _text(blocked)


def test_backoffice_home_shows_merchant_offering_and_counts(
    client, login_as, session, tenant
) -> None:
    merchants.create_shop(session, merchant=tenant.merchant, name="Station kiosk")
    closed = merchants.create_shop(session, merchant=tenant.merchant, name="Old market stall")
    closed.active = False  # a closed shop does not count against the offering, nor here
    for _ in range(3):
        factories.make_member(session, tenant)
    other = factories.make_tenant(session, name="Florist Weber")
    factories.make_member(session, other)  # another business's member is not counted
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))

    page = _text(client.get("/backoffice/"))
    assert "Bakery Dupont" in page
    assert "Plus offering" in page
    assert 'data-testid="member-count">3<' in page
    assert 'data-testid="shop-count">2<' in page
    assert "Membership tiers" in page  # in Plus
    assert "Webhooks" in page
    assert "(Enterprise)" in page


def test_staff_home_shows_their_shop_and_only_its_activity(
    client, login_as, session, tenant
) -> None:
    from loyalty.services.earn import earn

    kiosk = merchants.create_shop(session, merchant=tenant.merchant, name="Station kiosk")
    member = factories.make_member(session, tenant)
    earn(session, member=member, amount_cents=1200, idempotency_key="main-1", shop=tenant.shop)
    earn(session, member=member, amount_cents=3400, idempotency_key="kiosk-1", shop=kiosk)
    login_as(factories.make_user(session, tenant, role=Role.STAFF, shop=kiosk))

    page = _text(client.get("/staff/"))
    assert 'data-testid="shop-name">Station kiosk<' in page
    assert "+34" in page
    assert "+12" not in page  # the main street shop's sale is not this shop's work


def test_owner_at_the_till_sees_every_shop(client, login_as, session, tenant) -> None:
    merchants.create_shop(session, merchant=tenant.merchant, name="Station kiosk")
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    assert 'data-testid="shop-name">All shops<' in _text(client.get("/staff/"))


def test_admin_home_lists_merchants_a_page_at_a_time(client, login_as, session) -> None:
    from web.admin.views import PER_PAGE

    for n in range(PER_PAGE + 2):
        factories.make_tenant(session, name=f"Zz merchant {n:03d}")
    login_as(factories.make_user(session, platform_admin=True))

    first = _text(client.get("/admin/"))
    assert "Zz merchant 000" in first
    assert f"Zz merchant {PER_PAGE + 1:03d}" not in first
    assert 'aria-label="Merchant pages"' in first
    last_page = client.get("/admin/?page=999")
    assert last_page.status_code == 200
    assert client.get("/admin/?page=abc").status_code == 200
    assert client.get("/admin/?page=99999999999999999999999").status_code == 200


def test_member_pages_show_name_card_balance_and_ledger(client, login_as, session, tenant):
    from loyalty.services.earn import earn

    member = factories.make_member(session, tenant, name="Éloïse Muller")
    for n in range(25):
        earn(session, member=member, amount_cents=100 + n * 100, idempotency_key=f"k{n}")
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    session.refresh(member)
    card = " ".join(member.card_number[i : i + 4] for i in range(0, 12, 4))

    for path in (f"/backoffice/members/{member.id}", f"/staff/members/{member.id}"):
        page = _text(client.get(path))
        assert "Éloïse Muller" in page, path
        assert card in page
        assert f'data-testid="balance">{member.points_balance:,} <' in page
        assert page.count("<tr>") == 1 + 20  # header row and the last 20 movements
        assert "+25" in page
        assert "+1<" not in page
