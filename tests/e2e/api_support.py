"""What the API tests share: an Enterprise business with a key, and requests that carry it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from loyalty.models import ApiScope, Offering
from loyalty.services import api_keys
from loyalty.services.actors import Actor
from tests import factories


@dataclass
class ApiTenant:
    tenant: factories.Tenant
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def make_api_tenant(
    session: Session, *, scope: ApiScope = ApiScope.WRITE, name: str | None = None
) -> ApiTenant:
    tenant = factories.make_tenant(session, offering=Offering.ENTERPRISE, name=name)
    new = api_keys.create_key(
        session, merchant=tenant.merchant, actor=Actor.system("test"), scope=scope
    )
    return ApiTenant(tenant, new.secret)
