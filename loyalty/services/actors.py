"""Who is acting: a signed-in user with a role in the merchant, a customer, or the system."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.errors import PermissionDenied
from loyalty.models import Role

_RANK = {Role.STAFF: 1, Role.MANAGER: 2, Role.OWNER: 3}


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: Role | None = None  # None: not merchant staff (a customer, a job, the API)
    shop_id: int | None = None  # set for staff bound to one shop
    label: str = ""
    # The platform operator acting from /admin: not merchant staff, allowed what no role is.
    platform_admin: bool = False

    @classmethod
    def operator(cls, user_id: int) -> Actor:
        return cls(user_id=user_id, label="platform admin", platform_admin=True)

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(user_id=None, label=label)

    @classmethod
    def customer(cls) -> Actor:
        return cls(user_id=None, label="customer")

    def has_role(self, minimum: Role) -> bool:
        return self.role is not None and _RANK[self.role] >= _RANK[minimum]

    def require_role(self, minimum: Role, doing: str) -> None:
        if not self.has_role(minimum):
            raise PermissionDenied(
                f"Only a {minimum.value} or above can {doing}. Ask the shop's manager."
            )


SYSTEM = Actor.system("system")
