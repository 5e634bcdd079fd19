"""Domain errors. Each message is written for the person at the till or in the chat."""

from __future__ import annotations

from typing import Any


class LoyaltyError(Exception):
    """Base of every refusal the domain makes. `code` is stable; surfaces map it to answers."""

    code = "loyalty_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(LoyaltyError):
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class NotFound(LoyaltyError):
    code = "not_found"


class PermissionDenied(LoyaltyError):
    code = "permission_denied"


class FeatureNotInOffering(LoyaltyError):
    code = "feature_not_in_offering"


class LimitReached(LoyaltyError):
    code = "limit_reached"


class VelocityLimitReached(LimitReached):
    """A fraud control set to "block" refused the earn (services/fraud.py); nothing was written."""

    code = "velocity_limit"


class DuplicateCustomer(LoyaltyError):
    code = "duplicate_customer"

    def __init__(self, message: str, *, member_id: int, field: str) -> None:
        super().__init__(message, member_id=member_id, field=field)
        self.member_id = member_id
        self.field = field


class InvalidCardNumber(LoyaltyError):
    code = "invalid_card_number"


class InvalidToken(LoyaltyError):
    code = "invalid_token"


class MemberNotActive(LoyaltyError):
    code = "member_not_active"


class MembershipLapsed(MemberNotActive):
    """A paid membership ran out (or was never paid): the card earns nothing until renewed."""

    code = "membership_lapsed"


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"


class RewardUnavailable(LoyaltyError):
    code = "reward_unavailable"


class RewardOutOfStock(LoyaltyError):
    code = "reward_out_of_stock"


class RewardLimitReached(LoyaltyError):
    """The member already redeemed this reward as often as its limit allows (once per member,
    or once per month, year or N days); nothing was spent. `detail` says when it can be
    redeemed again."""

    code = "reward_limit_reached"


class VoucherNotUsable(LoyaltyError):
    code = "voucher_not_usable"


class NothingToReverse(LoyaltyError):
    code = "nothing_to_reverse"


class EndpointDisabled(LoyaltyError):
    """A webhook endpoint is switched off: enable it before sending to it."""

    code = "webhook_endpoint_disabled"


class IdempotencyConflict(LoyaltyError):
    """The key was already used for a different operation or different values."""

    code = "idempotency_conflict"


class InvalidApiKey(LoyaltyError):
    """No API key, an unknown one or a revoked one: the caller is not authenticated."""

    code = "invalid_api_key"


class InsufficientScope(PermissionDenied):
    """A read-only API key asked to change something."""

    code = "insufficient_scope"


class IdempotencyKeyReused(LoyaltyError):
    """An Idempotency-Key sent again with a different request than the first time."""

    code = "idempotency_key_reused"


class IdempotencyInProgress(LoyaltyError):
    """The first request with this Idempotency-Key is still running: retry in a moment."""

    code = "idempotency_in_progress"
