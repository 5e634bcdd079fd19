"""The back-office API keys page and the operator's `flask api-keys` command."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import ApiKey, Offering, Role
from loyalty.services.api_keys import hash_secret
from tests import factories

KEY = re.compile(r"lk_live_[A-Za-z0-9]{40}")


def _enterprise_owner(session: Session):
    tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    return tenant, factories.make_user(session, tenant, role=Role.OWNER)


def test_owner_creates_a_key_shown_once_and_stored_hashed(
    client, login_as, session: Session
) -> None:
    tenant, owner = _enterprise_owner(session)
    login_as(owner)
    created = client.post("/backoffice/api-keys", data={"name": "Till", "scope": "write"})
    assert created.status_code == 201
    secret = KEY.search(created.get_data(as_text=True)).group(0)
    key = session.scalars(select(ApiKey).where(ApiKey.merchant_id == tenant.merchant.id)).one()
    assert key.secret_hash == hash_secret(secret)
    assert secret not in (key.prefix, key.secret_hash)
    listed = client.get("/backoffice/api-keys").get_data(as_text=True)
    assert secret not in listed
    assert f"{key.prefix}…" in listed
    assert (
        client.get("/api/v1/shops", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )


def test_revoking_asks_first_then_the_key_stops_working(client, login_as, session: Session) -> None:
    _, owner = _enterprise_owner(session)
    login_as(owner)
    page = client.post("/backoffice/api-keys", data={"name": "Web shop", "scope": "read"})
    secret = KEY.search(page.get_data(as_text=True)).group(0)
    key = session.scalars(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret))).one()
    confirm = client.get(f"/backoffice/api-keys/{key.id}/revoke")
    assert confirm.status_code == 200
    assert "Revoke “Web shop”?" in confirm.get_data(as_text=True)
    assert key.revoked_at is None
    done = client.post(f"/backoffice/api-keys/{key.id}/revoke")
    assert done.status_code == 302
    session.refresh(key)
    assert key.revoked_at is not None
    assert (
        client.get("/api/v1/shops", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )


def test_managers_cannot_manage_keys(client, login_as, session: Session) -> None:
    tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    login_as(factories.make_user(session, tenant, role=Role.MANAGER))
    assert client.get("/backoffice/api-keys").status_code == 403
    assert (
        client.post("/backoffice/api-keys", data={"name": "x", "scope": "write"}).status_code == 403
    )


def test_a_plus_owner_is_told_which_offering_includes_the_api(
    client, login_as, session: Session
) -> None:
    tenant = factories.make_tenant(session, offering=Offering.PLUS)
    login_as(factories.make_user(session, tenant, role=Role.OWNER))
    page = client.get("/backoffice/api-keys").get_data(as_text=True)
    assert "not included in your Plus offering" in page
    refused = client.post("/backoffice/api-keys", data={"name": "Till", "scope": "write"})
    assert refused.status_code == 409
    assert session.scalars(select(ApiKey)).first() is None


def test_operator_command_prints_a_working_key(runner, client, session: Session) -> None:
    tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE)
    result = runner.invoke(
        args=["api-keys", "create", "--merchant", tenant.merchant.slug, "--scope", "read"]
    )
    assert result.exit_code == 0, result.output
    secret = KEY.search(result.output).group(0)
    assert (
        client.get("/api/v1/tiers", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )


def test_operator_command_refuses_a_basic_merchant(runner, session: Session) -> None:
    tenant = factories.make_tenant(session, offering=Offering.BASIC)
    result = runner.invoke(args=["api-keys", "create", "--merchant", tenant.merchant.slug])
    assert result.exit_code != 0
    assert "Enterprise" in result.output
