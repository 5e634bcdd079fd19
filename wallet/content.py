"""What a member's card shows, gathered once from the database for both Apple and Google passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import object_session

from loyalty import offerings
from loyalty.identity import format_card_number
from loyalty.models import LoyaltyMember, MemberStatus, Merchant, WalletPass
from loyalty.money import euros
from loyalty.offerings import Feature
from loyalty.services import membership
from loyalty.services.ladder import ladder_for
from loyalty.services.lookup import qr_token
from loyalty.services.stamps import StampCard, card_of
from wallet.config import WalletSettings
from wallet.images import Branding

MAX_LOCATIONS = 10  # Apple shows lock-screen relevance for up to 10 locations


@dataclass(frozen=True)
class Place:
    name: str
    address: str
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class CardContent:
    serial_number: str
    authentication_token: str
    card_number: str
    member_name: str
    balance: int
    tier: str | None
    program_name: str
    organization_name: str
    qr_message: str
    member_url: str
    program_url: str
    places: tuple[Place, ...]
    how_to_earn: str
    how_to_redeem: str
    terms: str
    branding: Branding
    white_label: bool
    platform_name: str
    voided: bool = False
    # Paid membership (None/False when the programme is free): the last valid day in the
    # merchant's calendar, the instant it ends, and whether it has ended.
    membership_required: bool = False
    membership_valid_until: date | None = None
    membership_expires_at: datetime | None = None
    membership_lapsed: bool = False
    stamp_card: StampCard | None = None  # a stamp-card programme: the grid replaces points
    next_reward: str | None = None  # "Next reward: Croissant in 40 pts" (the reward ladder)

    @property
    def membership_text(self) -> str | None:
        """What the card says about the paid period, on both wallets."""
        if not self.membership_required:
            return None
        if self.membership_valid_until is None:
            return "Not paid yet: pay at the till"
        day = self.membership_valid_until.strftime("%d %b %Y")
        return f"Expired {day}: renew at the till" if self.membership_lapsed else day

    @property
    def card_number_display(self) -> str:
        return format_card_number(self.card_number)


def branding_of(merchant: Merchant, program) -> tuple[Branding, bool]:
    """Programme colours and logo; Enterprise (white-label) merchants may override them all."""
    white_label = offerings.has(merchant, Feature.WHITE_LABEL)
    custom = (merchant.branding or {}) if white_label else {}
    uploads = custom.get("pass_images") or {}
    branding = Branding(
        name=program.name,
        primary=custom.get("primary_color") or program.primary_color,
        secondary=custom.get("secondary_color") or program.secondary_color,
        logo_path=custom.get("logo_path") or program.logo_path,
        uploads=tuple(sorted((str(k), str(v)) for k, v in uploads.items())),
    )
    return branding, white_label


def _places(merchant: Merchant, program) -> tuple[Place, ...]:
    # Shops carry no coordinates yet: the programme settings may hold them, keyed by shop id
    # ({"shop_locations": {"12": {"latitude": 49.61, "longitude": 6.13}}}).
    located = (program.settings or {}).get("shop_locations") or {}
    places = []
    for shop in merchant.shops:
        if not shop.active:
            continue
        where = located.get(str(shop.id)) or {}
        try:
            latitude = float(where["latitude"]) if "latitude" in where else None
            longitude = float(where["longitude"]) if "longitude" in where else None
        except (TypeError, ValueError):
            latitude = longitude = None
        places.append(Place(shop.name, shop.address or "", latitude, longitude))
    return tuple(places)


def _points(rate: Decimal) -> str:
    return f"{Decimal(rate).normalize():f}"


def card_content(
    wallet_pass: WalletPass, *, settings: WalletSettings, secret_key: bytes
) -> CardContent:
    member: LoyaltyMember = wallet_pass.member
    program = member.program
    merchant = program.merchant
    branding, white_label = branding_of(merchant, program)
    program_url = f"{settings.public_base_url}/p/{program.slug}"
    terms_url = (program.settings or {}).get("terms_url") or f"{program_url}/terms"
    stamp_card = card_of(member)
    if stamp_card is not None:
        each = "item you buy" if stamp_card.per.value == "item" else "visit"
        minimum = program.stamp_min_spend_cents
        how_to_earn = (
            f"Collect one stamp per {each}"
            + (f" of {euros(minimum, program.currency)} or more" if minimum else "")
            + f" at {merchant.name}. Show this card's QR code at the till before you pay."
        )
        how_to_redeem = (
            f"A full card of {stamp_card.size} stamps gives {stamp_card.reward}: the voucher "
            "appears on your member page, and extra stamps start your next card."
        )
    else:
        how_to_earn = (
            f"Earn {_points(program.points_per_euro)} "
            f"point{'' if program.points_per_euro == 1 else 's'} per {program.currency} spent at "
            f"{merchant.name}. Show this card's QR code at the till before you pay."
        )
        how_to_redeem = (
            "Exchange your points for rewards at the till: the cashier scans this card and "
            "tells you what you can choose. Rewards and vouchers are listed on your member page."
        )
    session = object_session(member)
    ladder = ladder_for(session, member=member) if session is not None else None
    return CardContent(
        serial_number=wallet_pass.serial_number,
        authentication_token=wallet_pass.authentication_token,
        card_number=member.card_number,
        member_name=member.customer.name or "",
        balance=member.points_balance,
        tier=member.tier.name if member.tier is not None else None,
        program_name=program.name,
        organization_name=merchant.name,
        qr_message=qr_token(member, secret_key),
        member_url=program_url,
        program_url=program_url,
        places=_places(merchant, program),
        how_to_earn=how_to_earn,
        how_to_redeem=how_to_redeem,
        terms=f"Programme terms (version {program.terms_version}): {terms_url}",
        branding=branding,
        white_label=white_label,
        platform_name=settings.platform_name,
        voided=member.status != MemberStatus.ACTIVE,
        **_membership(member),
        stamp_card=stamp_card,
        next_reward=ladder.headline() if ladder is not None else None,
    )


def _membership(member: LoyaltyMember) -> dict[str, object]:
    current = membership.state(member)
    return {
        "membership_required": current.required,
        "membership_valid_until": current.valid_until,
        "membership_expires_at": current.expires_at,
        "membership_lapsed": current.lapsed,
    }
