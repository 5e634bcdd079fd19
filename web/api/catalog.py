"""What the programme offers: rewards, running promotions (and pricing a basket), tiers, shops."""

from __future__ import annotations

from flask import g

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.models import CUSTOM_REWARD_TYPES, LoyaltyProgram, LoyaltyTier, Reward, Shop
from loyalty.offerings import Feature
from loyalty.services import earn as earning
from loyalty.services import promotions
from web.api import blueprint, present, schemas
from web.api.members import member_or_404
from web.api.operations import operation
from web.api.transactions import basket, shop_or_404
from web.extensions import db
from web.tenancy import tenant_select


@operation(
    blueprint,
    "GET",
    "/rewards",
    summary="List the rewards on offer",
    tag="Rewards",
    response=schemas.RewardList,
)
def list_rewards() -> schemas.RewardList:
    """Active rewards, cheapest first. Stock null means unlimited."""
    statement = tenant_select(Reward).where(Reward.active.is_(True))
    if not offerings.has(g.api_key.merchant, Feature.CUSTOM_REWARDS):
        statement = statement.where(Reward.type.not_in(CUSTOM_REWARD_TYPES))
    rows = db.session.scalars(statement.order_by(Reward.points_cost, Reward.name, Reward.id))
    return schemas.RewardList(data=[present.reward(row) for row in rows])


@operation(
    blueprint,
    "GET",
    "/promotions",
    summary="List the promotions running now",
    tag="Promotions",
    response=schemas.PromotionList,
)
def list_promotions() -> schemas.PromotionList:
    """Promotions active at this moment; conditions (shops, tiers, weekdays, minimum spend)
    are applied when a basket is evaluated or a purchase earns."""
    program = db.session.scalars(tenant_select(LoyaltyProgram).limit(1)).one()
    rows = promotions.active_promotions(db.session, program_id=program.id, at=utcnow())
    return schemas.PromotionList(data=[present.promotion(row) for row in rows])


@operation(
    blueprint,
    "POST",
    "/promotions/evaluate",
    summary="Price a basket: points and discounts, without writing anything",
    tag="Promotions",
    body=schemas.BasketEvaluate,
    response=schemas.BasketEvaluation,
    writes=False,
)
def evaluate_basket(body: schemas.BasketEvaluate) -> schemas.BasketEvaluation:
    """The same arithmetic as earning, for showing the customer what the purchase brings
    before payment. Read-only keys may call it."""
    member = member_or_404(body.member_id)
    quote = earning.preview_earn(
        db.session,
        member=member,
        amount_cents=body.amount_cents,
        shop=shop_or_404(body.shop_id),
        basket=basket(body.lines),
    )
    offer = quote.offer
    return schemas.BasketEvaluation(
        amount_cents=quote.amount_cents,
        points=quote.points,
        base_points=quote.base_points,
        discount_cents=offer.discount_cents,
        free_items=list(offer.free_items),
        promotions=[
            schemas.AppliedPromotion(
                id=a.promotion_id,
                name=a.name,
                type=a.type.value,
                bonus_points=quote.points_by_promotion.get(a.promotion_id, a.bonus_points),
                discount_cents=a.discount_cents,
                free_item=a.free_item,
            )
            for a in offer.applied
        ],
        balance=member.points_balance,
    )


@operation(
    blueprint, "GET", "/tiers", summary="List the tiers", tag="Tiers", response=schemas.TierList
)
def list_tiers() -> schemas.TierList:
    """Tiers from the lowest to the highest threshold."""
    rows = db.session.scalars(
        tenant_select(LoyaltyTier).order_by(LoyaltyTier.min_points, LoyaltyTier.id)
    )
    return schemas.TierList(data=[present.tier(row) for row in rows])


@operation(
    blueprint, "GET", "/shops", summary="List the shops", tag="Shops", response=schemas.ShopList
)
def list_shops() -> schemas.ShopList:
    """Every shop of the business; pass a shop's id with purchases and redemptions."""
    rows = db.session.scalars(tenant_select(Shop).order_by(Shop.name, Shop.id))
    return schemas.ShopList(data=[present.shop(row) for row in rows])
