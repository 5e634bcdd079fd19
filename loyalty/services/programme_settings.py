"""The programme's own settings: how points are earned, rounded and expire, bonuses, look.

Owners only: these change what every customer earns. The logo is re-encoded as a PNG by
Pillow before it is stored, so whatever was uploaded, only a plain image reaches the disk.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from PIL import Image, UnidentifiedImageError
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.models import (
    ExpiryPolicy,
    LoyaltyMember,
    LoyaltyProgram,
    ProgramKind,
    RefundShortfall,
    Reward,
    Role,
    Rounding,
    StampPer,
)
from loyalty.offerings import Feature
from loyalty.services import audit, stamps
from loyalty.services.actors import Actor
from loyalty.services.membership import MAX_MONTHS as MAX_MEMBERSHIP_MONTHS
from loyalty.services.merchants import _bounded
from loyalty.services.pending import MAX_PENDING_DAYS
from loyalty.services.points import MAX_AMOUNT_CENTS

# Currencies a European retailer is likely to show; the code is what pages and passes print.
CURRENCIES = {
    "EUR": "Euro (€)",
    "CHF": "Swiss franc (CHF)",
    "GBP": "Pound sterling (£)",
    "USD": "US dollar ($)",
    "DKK": "Danish krone (kr)",
    "SEK": "Swedish krona (kr)",
    "NOK": "Norwegian krone (kr)",
    "PLN": "Polish złoty (zł)",
    "CZK": "Czech koruna (Kč)",
}
MAX_RATE = Decimal("1000")
MAX_BONUS = 1_000_000
MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_SIDE = 1024
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
E = TypeVar("E", ExpiryPolicy, Rounding, RefundShortfall, ProgramKind, StampPer)


@dataclass(frozen=True)
class ProgrammeSettings:
    name: str
    points_per_euro: Decimal | str
    rounding: Rounding | str
    expiry_policy: ExpiryPolicy | str
    expiry_days: int | None
    expiry_inactivity_months: int | None
    signup_bonus: int
    birthday_bonus: int
    currency: str
    primary_color: str
    secondary_color: str
    # Programme mechanics; None keeps what is set (the onboarding wizard does not ask).
    carry_over_spend: bool | None = None
    pending_days: int | None = None
    refund_shortfall: RefundShortfall | str | None = None
    referrer_bonus: int | None = None
    referee_bonus: int | None = None
    referral_min_spend_cents: int | None = None
    # Paid membership: on/off, the price of a period and its length in months.
    paid_membership: bool | None = None
    membership_price_cents: int | None = None
    membership_months: int | None = None
    # Points or a stamp card, and the card's terms; None keeps what is set.
    kind: ProgramKind | str | None = None
    stamp_card_size: int | None = None
    stamp_per: StampPer | str | None = None
    stamp_reward_id: int | None = None
    stamp_min_spend_cents: int | None = None


def _rate(value: Decimal | str) -> Decimal:
    try:
        rate = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidInput(
            f"'{value}' is not a number. Write the points per euro like 1 or 2.5.",
            field="points_per_euro",
        ) from None
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
        raise InvalidInput(
            f"Points per euro must be between 0 and {MAX_RATE}.", field="points_per_euro"
        )
    if rate != rate.quantize(Decimal("0.0001")):
        raise InvalidInput("Points per euro can have at most 4 decimals.", field="points_per_euro")
    return rate


def _bonus(value: int, field: str, what: str) -> int:
    if value is None or not 0 <= int(value) <= MAX_BONUS:
        raise InvalidInput(f"The {what} must be between 0 and {MAX_BONUS:,} points.", field=field)
    return int(value)


def _colour(value: str, field: str) -> str:
    value = (value or "").strip()
    if not _COLOUR.fullmatch(value):
        raise InvalidInput(f"'{value}' is not a colour: use #rrggbb, like #7a4b2a.", field=field)
    return value.lower()


def _enum(cls: type[E], value: object, field: str, what: str) -> E:
    try:
        return cls(value)
    except ValueError:
        raise InvalidInput(f"Choose one of the {what} offered.", field=field) from None


def _membership_terms(settings: ProgrammeSettings) -> dict[str, object]:
    terms: dict[str, object] = {}
    if settings.paid_membership is not None:
        terms["paid_membership"] = bool(settings.paid_membership)
    if settings.membership_price_cents is not None:
        if not 0 <= settings.membership_price_cents <= MAX_AMOUNT_CENTS:
            raise InvalidInput(
                "The membership price must be between €0 and €100,000.", field="membership_price"
            )
        terms["membership_price_cents"] = settings.membership_price_cents
    if settings.membership_months is not None:
        if not 1 <= settings.membership_months <= MAX_MEMBERSHIP_MONTHS:
            raise InvalidInput(
                f"A membership period is 1 to {MAX_MEMBERSHIP_MONTHS} months.",
                field="membership_months",
            )
        terms["membership_months"] = settings.membership_months
    if terms.get("paid_membership") and not terms.get("membership_price_cents"):
        raise InvalidInput(
            "Set the price of a membership period (a free card needs no paid membership).",
            field="membership_price",
        )
    return terms


def _stamp_card(
    session: Session,
    program: LoyaltyProgram,
    settings: ProgrammeSettings,
    mechanics: dict[str, object],
) -> dict[str, object]:
    """The programme type and the stamp card's terms, checked together."""
    values: dict[str, object] = {}
    if settings.kind is not None:
        kind = _enum(ProgramKind, settings.kind, "kind", "programme types")
        stamps.ensure_may_switch(session, program, kind)
        values["kind"] = kind
    if settings.stamp_card_size is not None:
        size = settings.stamp_card_size
        if not stamps.MIN_CARD_SIZE <= size <= stamps.MAX_CARD_SIZE:
            raise InvalidInput(
                f"A card holds {stamps.MIN_CARD_SIZE} to {stamps.MAX_CARD_SIZE} stamps.",
                field="stamp_card_size",
            )
        values["stamp_card_size"] = size
    if settings.stamp_per is not None:
        values["stamp_per"] = _enum(StampPer, settings.stamp_per, "stamp_per", "stamp rules")
    if settings.stamp_min_spend_cents is not None:
        if not 0 <= settings.stamp_min_spend_cents <= MAX_AMOUNT_CENTS:
            raise InvalidInput(
                "The minimum spend per stamp must be between €0 and €100,000.",
                field="stamp_min_spend",
            )
        values["stamp_min_spend_cents"] = settings.stamp_min_spend_cents
    if settings.stamp_reward_id is not None:
        reward = session.get(Reward, settings.stamp_reward_id)
        if reward is None or reward.program_id != program.id:
            raise InvalidInput(
                "Choose the full card's reward from this programme's catalogue.",
                field="stamp_reward_id",
            )
        values["stamp_reward_id"] = reward.id
    kind = values.get("kind", program.kind)
    if kind == ProgramKind.STAMPS:
        reward_id = values.get("stamp_reward_id", program.stamp_reward_id)
        reward = session.get(Reward, reward_id) if reward_id is not None else None
        if reward is None or not reward.active:
            raise InvalidInput(
                "A stamp card needs a reward for the full card: add one to the rewards "
                "catalogue (e.g. a free coffee) and choose it here.",
                field="stamp_reward_id",
            )
        if mechanics.get("pending_days", program.pending_days):
            raise InvalidInput(
                "A stamp card counts each stamp at once: set the return window to 0 days.",
                field="pending_days",
            )
    return values


def update(
    session: Session, *, program: LoyaltyProgram, actor: Actor, settings: ProgrammeSettings
) -> LoyaltyProgram:
    """Check every field, then apply them together: bad input changes nothing."""
    actor.require_role(Role.OWNER, "change the programme settings")
    name = _bounded(settings.name, limit=120, what="A programme name", field="name")
    if not name:
        raise InvalidInput("Give the programme a name customers will recognise.", field="name")
    policy = _enum(ExpiryPolicy, settings.expiry_policy, "expiry_policy", "expiry policies")
    days = months = None
    if policy == ExpiryPolicy.AFTER_DAYS:
        days = settings.expiry_days
        if days is None or not 1 <= days <= 3650:
            raise InvalidInput(
                "Say after how many days points expire (1 to 3650).", field="expiry_days"
            )
    elif policy == ExpiryPolicy.INACTIVITY:
        months = settings.expiry_inactivity_months
        if months is None or not 1 <= months <= 120:
            raise InvalidInput(
                "Say after how many months without a visit points expire (1 to 120).",
                field="expiry_inactivity_months",
            )
    mechanics: dict[str, object] = {}
    if settings.carry_over_spend is not None:
        mechanics["carry_over_spend"] = bool(settings.carry_over_spend)
    if settings.pending_days is not None:
        if not 0 <= settings.pending_days <= MAX_PENDING_DAYS:
            raise InvalidInput(
                f"The return window is 0 to {MAX_PENDING_DAYS} days (0: points count at once).",
                field="pending_days",
            )
        mechanics["pending_days"] = settings.pending_days
    if settings.refund_shortfall is not None:
        mechanics["refund_shortfall"] = _enum(
            RefundShortfall, settings.refund_shortfall, "refund_shortfall", "refund rules"
        )
    referral = {
        "referrer_bonus": settings.referrer_bonus,
        "referee_bonus": settings.referee_bonus,
        "referral_min_spend_cents": settings.referral_min_spend_cents,
    }
    referral = {key: value for key, value in referral.items() if value is not None}
    if any(referral.values()):
        offerings.require(program.merchant, Feature.REFERRALS)
    for key in ("referrer_bonus", "referee_bonus"):
        if key in referral:
            mechanics[key] = _bonus(referral[key], key, "referral reward")
    if "referral_min_spend_cents" in referral:
        if not 0 <= referral["referral_min_spend_cents"] <= MAX_AMOUNT_CENTS:
            raise InvalidInput(
                "The minimum first purchase must be between €0 and €100,000.",
                field="referral_min_spend",
            )
        mechanics["referral_min_spend_cents"] = referral["referral_min_spend_cents"]
    mechanics.update(_membership_terms(settings))
    mechanics.update(_stamp_card(session, program, settings, mechanics))
    currency = (settings.currency or "").strip().upper()
    if currency not in CURRENCIES:
        raise InvalidInput("Choose one of the currencies offered.", field="currency")
    values = {
        "name": name,
        "points_per_euro": _rate(settings.points_per_euro),
        "rounding": _enum(Rounding, settings.rounding, "rounding", "rounding rules"),
        "expiry_policy": policy,
        "expiry_days": days,
        "expiry_inactivity_months": months,
        "signup_bonus": _bonus(settings.signup_bonus, "signup_bonus", "sign-up bonus"),
        "birthday_bonus": _bonus(settings.birthday_bonus, "birthday_bonus", "birthday bonus"),
        "currency": currency,
        "primary_color": _colour(settings.primary_color, "primary_color"),
        "secondary_color": _colour(settings.secondary_color, "secondary_color"),
        **mechanics,
    }
    changed = {
        key: str(value) for key, value in values.items() if str(getattr(program, key)) != str(value)
    }
    switched_membership = "paid_membership" in changed
    for key, value in values.items():
        setattr(program, key, value)
    if switched_membership:
        # Every card's pass gains or loses its end date: have the wallet refresh rebuild them.
        session.execute(
            sql_update(LoyaltyMember)
            .where(LoyaltyMember.program_id == program.id)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    onboarding = dict((program.settings or {}).get("onboarding") or {})
    onboarding.setdefault("programme_configured_at", utcnow().isoformat())
    program.settings = {**(program.settings or {}), "onboarding": onboarding}
    session.flush()
    if changed:
        audit.record(
            session,
            merchant_id=program.merchant_id,
            actor=actor,
            action="programme.settings_changed",
            target_type="programme",
            target_id=program.id,
            changed=changed,
        )
    return program


def store_logo(
    session: Session, *, program: LoyaltyProgram, actor: Actor, data: bytes, directory: Path
) -> LoyaltyProgram:
    """Keep an uploaded logo as a PNG (at most 1024 px a side) and point the programme at it."""
    actor.require_role(Role.OWNER, "change the programme logo")
    if not data:
        raise InvalidInput("Choose an image file for the logo.", field="logo")
    if len(data) > MAX_LOGO_BYTES:
        raise InvalidInput("The logo file is larger than 2 MB. Use a smaller image.", field="logo")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > 40_000_000:  # a decompression bomb, not a logo
                raise InvalidInput("The logo image is far too large.", field="logo")
            image.load()
            logo = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InvalidInput(
            "The logo is not an image this system can read. Upload a PNG or JPEG.", field="logo"
        ) from None
    logo.thumbnail((MAX_LOGO_SIDE, MAX_LOGO_SIDE))
    out = io.BytesIO()
    logo.save(out, format="PNG")
    png = out.getvalue()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"logo-{program.merchant_id}-{hashlib.sha256(png).hexdigest()[:16]}.png"
    path.write_bytes(png)
    program.logo_path = str(path)
    session.flush()
    audit.record(
        session,
        merchant_id=program.merchant_id,
        actor=actor,
        action="programme.logo_changed",
        target_type="programme",
        target_id=program.id,
    )
    return program
