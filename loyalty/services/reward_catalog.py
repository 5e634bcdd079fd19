"""Setting up the rewards catalogue: cost, type, value, stock, validity, picture, active.

Every offering may offer the standard discount rewards (an amount or a percentage off), the
set the demo gives a Basic bakery. Free items and custom rewards are the Plus catalogue
(`CUSTOM_REWARD_TYPES`). After a downgrade such rewards are kept, stop being redeemable
(`services/rewards.py`), and may still be switched off, but no longer changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.errors import InvalidInput
from loyalty.models import (
    CUSTOM_REWARD_TYPES,
    Merchant,
    RedemptionLimit,
    Reward,
    RewardType,
    Role,
)
from loyalty.money import euros
from loyalty.offerings import Feature
from loyalty.services import audit, images, reward_limits
from loyalty.services.actors import Actor
from loyalty.services.merchants import program_of

MAX_COST = 100_000_000
MAX_STOCK = 100_000_000
MAX_FIXED_CENTS = 100_000_000
MAX_VALIDITY_DAYS = 3650
IMAGE_SIDE = 800

TYPE_LABELS: dict[RewardType, str] = {
    RewardType.DISCOUNT_FIXED: "Amount off",
    RewardType.DISCOUNT_PERCENT: "Percentage off",
    RewardType.FREE_ITEM: "Free item",
    RewardType.CUSTOM: "Custom reward",
}


@dataclass(frozen=True)
class RewardDraft:
    name: str
    type: RewardType
    points_cost: int
    value: int | None = None  # cents for an amount off, a percent for a percentage off
    description: str = ""
    stock: int | None = None  # None: unlimited
    validity_days: int = 30
    active: bool = True
    redemption_limit: RedemptionLimit = RedemptionLimit.REPEATABLE
    limit_days: int | None = None  # only for RedemptionLimit.DAYS


def draft_of(reward: Reward) -> RewardDraft:
    return RewardDraft(
        name=reward.name,
        type=RewardType(reward.type),
        points_cost=reward.points_cost,
        value=reward.value,
        description=reward.description or "",
        stock=reward.stock,
        validity_days=reward.validity_days,
        active=reward.active,
        redemption_limit=RedemptionLimit(reward.redemption_limit),
        limit_days=reward.limit_days,
    )


def value_label(reward: Reward) -> str:
    match reward.type:
        case RewardType.DISCOUNT_FIXED:
            return f"{euros(reward.value or 0)} off"
        case RewardType.DISCOUNT_PERCENT:
            return f"{reward.value or 0}% off"
        case RewardType.FREE_ITEM:
            return "Free item"
        case _:
            return "Custom"


def allowed_types(merchant: Merchant) -> list[RewardType]:
    if offerings.has(merchant, Feature.CUSTOM_REWARDS):
        return list(RewardType)
    return [t for t in RewardType if t not in CUSTOM_REWARD_TYPES]


def _validated(draft: RewardDraft) -> RewardDraft:
    name = (draft.name or "").strip()
    if not name:
        raise InvalidInput("Give the reward a name customers will recognise.", field="name")
    if len(name) > 120:
        raise InvalidInput("A reward name has at most 120 characters.", field="name")
    description = (draft.description or "").strip()
    if len(description) > 500:
        raise InvalidInput("A description has at most 500 characters.", field="description")
    if not 1 <= draft.points_cost <= MAX_COST:
        raise InvalidInput(
            f"The cost is a whole number of points from 1 to {MAX_COST:,}.", field="points_cost"
        )
    if draft.stock is not None and not 0 <= draft.stock <= MAX_STOCK:
        raise InvalidInput(
            "Stock is a whole number from 0; leave it empty for unlimited.", field="stock"
        )
    if not 1 <= draft.validity_days <= MAX_VALIDITY_DAYS:
        raise InvalidInput(
            f"A voucher stays valid from 1 to {MAX_VALIDITY_DAYS} days.", field="validity_days"
        )
    value = draft.value
    match draft.type:
        case RewardType.DISCOUNT_FIXED:
            if value is None or not 1 <= value <= MAX_FIXED_CENTS:
                raise InvalidInput("Enter the amount off, from €0.01 to €1,000,000.", field="value")
        case RewardType.DISCOUNT_PERCENT:
            if value is None or not 1 <= value <= 100:
                raise InvalidInput(
                    "Enter the percentage off, a whole number from 1 to 100.", field="value"
                )
        case _:
            value = None  # the item or the custom reward is described by its name
    limit_days = reward_limits.validated_limit(draft.redemption_limit, draft.limit_days)
    return RewardDraft(
        name=name,
        type=draft.type,
        points_cost=draft.points_cost,
        value=value,
        description=description,
        stock=draft.stock,
        validity_days=draft.validity_days,
        active=draft.active,
        redemption_limit=draft.redemption_limit,
        limit_days=limit_days,
    )


def create_reward(
    session: Session, *, merchant: Merchant, actor: Actor, draft: RewardDraft
) -> Reward:
    actor.require_role(Role.MANAGER, "change rewards")
    if draft.type in CUSTOM_REWARD_TYPES:
        offerings.require(merchant, Feature.CUSTOM_REWARDS)
    draft = _validated(draft)
    reward = Reward(
        merchant_id=merchant.id,
        program_id=program_of(session, merchant).id,
        name=draft.name,
        description=draft.description,
        type=draft.type,
        points_cost=draft.points_cost,
        value=draft.value,
        stock=draft.stock,
        validity_days=draft.validity_days,
        active=draft.active,
        redemption_limit=draft.redemption_limit,
        limit_days=draft.limit_days,
    )
    session.add(reward)
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="reward.created",
        target_type="reward",
        target_id=reward.id,
        name=reward.name,
        points_cost=reward.points_cost,
    )
    return reward


def update_reward(
    session: Session, *, reward: Reward, merchant: Merchant, actor: Actor, draft: RewardDraft
) -> Reward:
    if reward.merchant_id != merchant.id:
        raise InvalidInput("That reward belongs to another business.")
    actor.require_role(Role.MANAGER, "change rewards")
    if not offerings.has(merchant, Feature.CUSTOM_REWARDS):
        saved = draft_of(reward)
        touches_custom = draft.type in CUSTOM_REWARD_TYPES or saved.type in CUSTOM_REWARD_TYPES
        only_switched_off = draft == RewardDraft(**{**saved.__dict__, "active": False})
        if touches_custom and not only_switched_off:
            offerings.require(merchant, Feature.CUSTOM_REWARDS)
    draft = _validated(draft)
    reward.name = draft.name
    reward.description = draft.description
    reward.type = draft.type
    reward.points_cost = draft.points_cost
    reward.value = draft.value
    reward.stock = draft.stock
    reward.validity_days = draft.validity_days
    reward.active = draft.active
    reward.redemption_limit = draft.redemption_limit
    reward.limit_days = draft.limit_days
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="reward.updated",
        target_type="reward",
        target_id=reward.id,
        name=reward.name,
        points_cost=reward.points_cost,
        active=reward.active,
        redemption_limit=reward.redemption_limit.value,
    )
    return reward


def set_picture(
    session: Session,
    *,
    reward: Reward,
    merchant: Merchant,
    actor: Actor,
    data: bytes | None,
    folder: Path,
) -> str | None:
    """Replace (or with `data=None`, remove) the reward's picture.

    Returns the replaced file, for the caller to delete with `images.remove` once its
    transaction has committed: deleting it here would lose the picture if the request then
    rolled back.
    """
    if reward.merchant_id != merchant.id:
        raise InvalidInput("That reward belongs to another business.")
    actor.require_role(Role.MANAGER, "change rewards")
    if reward.type in CUSTOM_REWARD_TYPES:
        offerings.require(merchant, Feature.CUSTOM_REWARDS)
    previous = reward.image_file
    if data is None:
        reward.image_file = None
    else:
        png = images.normalised_png(data, field="image", max_side=IMAGE_SIDE)
        reward.image_file = images.store(folder, f"rewards/{merchant.id}", str(reward.id), png)
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="reward.picture_set" if data is not None else "reward.picture_removed",
        target_type="reward",
        target_id=reward.id,
        name=reward.name,
    )
    return previous if previous != reward.image_file else None
