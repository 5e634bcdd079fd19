"""Setting up the rewards catalogue: what Basic may offer, validation, pictures."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from loyalty.errors import FeatureNotInOffering, InvalidInput
from loyalty.models import Offering, Reward, RewardType
from loyalty.services import images
from loyalty.services.reward_catalog import (
    RewardDraft,
    create_reward,
    draft_of,
    set_picture,
    update_reward,
)
from tests import factories


def owner(session, tenant):
    return factories.actor_for(factories.make_user(session, tenant))


def rewards_of(session, tenant) -> int:
    return session.scalar(
        select(func.count(Reward.id)).where(Reward.merchant_id == tenant.merchant.id)
    )


def png(size=(40, 30), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format=fmt)
    return out.getvalue()


FIVE_OFF = RewardDraft("€5 off", RewardType.DISCOUNT_FIXED, 140, value=500)


def test_basic_merchant_may_offer_discount_rewards(session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    actor = owner(session, basic)
    create_reward(session, merchant=basic.merchant, actor=actor, draft=FIVE_OFF)
    create_reward(
        session,
        merchant=basic.merchant,
        actor=actor,
        draft=RewardDraft("10% off", RewardType.DISCOUNT_PERCENT, 200, value=10),
    )
    assert rewards_of(session, basic) == 2


@pytest.mark.parametrize("kind", [RewardType.FREE_ITEM, RewardType.CUSTOM])
def test_basic_merchant_cannot_create_custom_rewards(session, kind):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    with pytest.raises(FeatureNotInOffering):
        create_reward(
            session,
            merchant=basic.merchant,
            actor=owner(session, basic),
            draft=RewardDraft("Free coffee", kind, 80),
        )
    assert rewards_of(session, basic) == 0


def test_plus_merchant_creates_a_free_item_without_a_value(session, tenant):
    reward = create_reward(
        session,
        merchant=tenant.merchant,
        actor=owner(session, tenant),
        draft=RewardDraft("Free coffee", RewardType.FREE_ITEM, 80, value=123, stock=10),
    )
    assert (reward.value, reward.stock) == (None, 10)


def test_a_downgraded_merchant_may_switch_a_custom_reward_off_but_not_change_it(session, tenant):
    actor = owner(session, tenant)
    reward = create_reward(
        session,
        merchant=tenant.merchant,
        actor=actor,
        draft=RewardDraft("Free coffee", RewardType.FREE_ITEM, 80),
    )
    tenant.merchant.offering = Offering.BASIC
    with pytest.raises(FeatureNotInOffering):
        update_reward(
            session,
            reward=reward,
            merchant=tenant.merchant,
            actor=actor,
            draft=RewardDraft("Free tea", RewardType.FREE_ITEM, 80),
        )
    off = RewardDraft(**{**draft_of(reward).__dict__, "active": False})
    update_reward(session, reward=reward, merchant=tenant.merchant, actor=actor, draft=off)
    assert reward.active is False
    assert reward.name == "Free coffee"


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (RewardDraft("", RewardType.DISCOUNT_FIXED, 10, value=100), "name"),
        (RewardDraft("x" * 121, RewardType.DISCOUNT_FIXED, 10, value=100), "name"),
        (RewardDraft("A", RewardType.DISCOUNT_FIXED, 0, value=100), "points_cost"),
        (RewardDraft("A", RewardType.DISCOUNT_FIXED, 10, value=None), "value"),
        (RewardDraft("A", RewardType.DISCOUNT_FIXED, 10, value=0), "value"),
        (RewardDraft("A", RewardType.DISCOUNT_PERCENT, 10, value=101), "value"),
        (RewardDraft("A", RewardType.DISCOUNT_FIXED, 10, value=100, stock=-1), "stock"),
        (
            RewardDraft("A", RewardType.DISCOUNT_FIXED, 10, value=100, validity_days=0),
            "validity_days",
        ),
        (
            RewardDraft("A", RewardType.DISCOUNT_FIXED, 10, value=100, description="d" * 501),
            "description",
        ),
    ],
)
def test_bad_reward_input_is_refused_and_changes_nothing(session, tenant, draft, field):
    with pytest.raises(InvalidInput) as refusal:
        create_reward(session, merchant=tenant.merchant, actor=owner(session, tenant), draft=draft)
    assert refusal.value.field == field
    assert rewards_of(session, tenant) == 0


def test_a_picture_is_stored_as_a_fresh_png_and_replacing_it_names_the_old_file(
    session, tenant, tmp_path
):
    actor = owner(session, tenant)
    reward = create_reward(session, merchant=tenant.merchant, actor=actor, draft=FIVE_OFF)
    replaced = set_picture(
        session,
        reward=reward,
        merchant=tenant.merchant,
        actor=actor,
        data=png(fmt="JPEG"),
        folder=tmp_path,
    )
    assert replaced is None
    first = reward.image_file
    stored = images.resolve(tmp_path, first)
    assert stored is not None
    assert stored.read_bytes().startswith(b"\x89PNG")
    replaced = set_picture(
        session, reward=reward, merchant=tenant.merchant, actor=actor, data=png(), folder=tmp_path
    )
    assert replaced == first
    assert reward.image_file != first


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"GIF89a" + b"\x00" * 20,  # a truncated GIF
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"x" * (images.MAX_UPLOAD_BYTES + 1),
    ],
)
def test_a_file_that_is_not_a_readable_picture_is_refused(session, tenant, tmp_path, data):
    actor = owner(session, tenant)
    reward = create_reward(session, merchant=tenant.merchant, actor=actor, draft=FIVE_OFF)
    with pytest.raises(InvalidInput) as refusal:
        set_picture(
            session,
            reward=reward,
            merchant=tenant.merchant,
            actor=actor,
            data=data,
            folder=tmp_path,
        )
    assert refusal.value.field == "image"
    assert reward.image_file is None
    assert list(tmp_path.iterdir()) == []


def test_resolve_never_leaves_the_upload_folder(tmp_path):
    (tmp_path.parent / "secret.txt").write_text("no")
    assert images.resolve(tmp_path, "../secret.txt") is None
    assert images.resolve(tmp_path, "/etc/passwd") is None
