"""Demo data: three Luxembourg merchants, their staff, members and six months of ledger history."""

from __future__ import annotations

import functools
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.identity import new_card_number, new_qr_secret, normalize_email, search_key
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Customer,
    ExpiryPolicy,
    LoyaltyMember,
    LoyaltyTier,
    LoyaltyTransaction,
    MemberStatus,
    Merchant,
    Offering,
    PointLot,
    Reward,
    RewardType,
    Role,
    Rounding,
    TransactionType,
    User,
    Voucher,
    VoucherStatus,
)
from loyalty.passwords import hash_password
from loyalty.services import merchants as merchant_service
from loyalty.services.ledger import LIFETIME_TYPES
from loyalty.services.points import purchase_points
from loyalty.services.rewards import CODE_ALPHABET, CODE_LENGTH

# Every demo account signs in with this password; README lists the accounts.
DEMO_PASSWORD = "loyalty-demo-2025"
ADMIN_EMAIL = "admin@loyalty.example"
ADMIN_NAME = "Claire Neuens"
DEFAULT_MEMBERS = 3000
HISTORY_DAYS = 182
# A fixed seed keeps names, amounts and visits the same on every machine; card numbers and
# QR secrets still come from `secrets`, as they do in production.
RANDOM_SEED = 2025


# --- what to create -----------------------------------------------------------------------


@dataclass(frozen=True)
class StaffSpec:
    email: str
    name: str
    role: Role
    shop_index: int | None = None  # bound to one shop (shop staff)


@dataclass(frozen=True)
class TierSpec:
    name: str
    min_points: int
    multiplier: Decimal


@dataclass(frozen=True)
class RewardSpec:
    name: str
    type: RewardType
    points_cost: int
    value: int | None
    stock: int | None = None
    validity_days: int = 30
    description: str = ""


@dataclass(frozen=True)
class MerchantSpec:
    name: str
    offering: Offering
    program_name: str
    points_per_euro: Decimal
    signup_bonus: int
    birthday_bonus: int
    expiry_days: int | None  # None: points never expire
    colors: tuple[str, str]
    member_share: float
    shops: tuple[tuple[str, str], ...]  # (name, address)
    staff: tuple[StaffSpec, ...]
    rewards: tuple[RewardSpec, ...]
    tiers: tuple[TierSpec, ...] = ()
    # Basket in cents: median, clamped to [min, max]; visits per week of an average member.
    basket: tuple[int, int, int] = (1000, 300, 6000)
    visits_per_week: float = 1.0
    opening_hours: tuple[float, float] = (8.0, 19.0)

    @property
    def slug(self) -> str:
        return merchant_service.slugify(self.name)


MERCHANTS: tuple[MerchantSpec, ...] = (
    MerchantSpec(
        name="Boulangerie Hoffmann",
        offering=Offering.BASIC,
        program_name="Carte fidélité Hoffmann",
        points_per_euro=Decimal("1"),
        signup_bonus=10,
        birthday_bonus=20,
        expiry_days=None,
        colors=("#8a5a2b", "#f7efe3"),
        member_share=0.15,
        shops=(("Hoffmann Grund", "14 Rue Münster, L-2160 Luxembourg"),),
        staff=(
            StaffSpec("anne.hoffmann@boulangerie-hoffmann.example", "Anne Hoffmann", Role.OWNER),
        ),
        rewards=(
            RewardSpec(
                "€2 off", RewardType.DISCOUNT_FIXED, 60, 200, description="€2 off any order"
            ),
            RewardSpec(
                "€5 off", RewardType.DISCOUNT_FIXED, 140, 500, description="€5 off any order"
            ),
        ),
        basket=(650, 300, 3000),
        visits_per_week=1.6,
        opening_hours=(6.5, 13.0),
    ),
    MerchantSpec(
        name="Café Mosel",
        offering=Offering.PLUS,
        program_name="Mosel Coffee Club",
        points_per_euro=Decimal("2"),
        signup_bonus=25,
        birthday_bonus=50,
        expiry_days=None,
        colors=("#2f4858", "#e8f1f2"),
        member_share=0.35,
        shops=(
            ("Café Mosel Remich", "5 Esplanade, L-5533 Remich"),
            ("Café Mosel Grevenmacher", "22 Route du Vin, L-6794 Grevenmacher"),
            ("Café Mosel Gare", "48 Avenue de la Gare, L-1611 Luxembourg"),
        ),
        staff=(
            StaffSpec("marc.schmit@cafe-mosel.example", "Marc Schmit", Role.OWNER),
            StaffSpec("sophie.weber@cafe-mosel.example", "Sophie Weber", Role.MANAGER),
            StaffSpec("joao.pereira@cafe-mosel.example", "João Pereira", Role.STAFF, shop_index=0),
        ),
        tiers=(
            TierSpec("Bronze", 0, Decimal("1")),
            TierSpec("Silver", 500, Decimal("1.25")),
            TierSpec("Gold", 1500, Decimal("1.5")),
        ),
        rewards=(
            RewardSpec(
                "Free coffee",
                RewardType.FREE_ITEM,
                80,
                None,
                stock=1000,
                validity_days=14,
                description="Any espresso, cappuccino or filter coffee",
            ),
            RewardSpec(
                "Free pastry",
                RewardType.FREE_ITEM,
                120,
                None,
                description="A croissant or a muffin",
            ),
            RewardSpec("10% off", RewardType.DISCOUNT_PERCENT, 200, 10, description="On one bill"),
            RewardSpec("€5 off", RewardType.DISCOUNT_FIXED, 300, 500, description="On one bill"),
        ),
        basket=(580, 300, 2500),
        visits_per_week=1.3,
        opening_hours=(7.5, 18.0),
    ),
    MerchantSpec(
        name="Supermarché Wagner",
        offering=Offering.ENTERPRISE,
        program_name="Wagner Bonus Card",
        points_per_euro=Decimal("1"),
        signup_bonus=50,
        birthday_bonus=100,
        expiry_days=365,
        colors=("#b3261e", "#fff4f2"),
        member_share=0.50,
        shops=(
            ("Wagner Kirchberg", "12 Rue Alphonse Weicker, L-2721 Luxembourg"),
            ("Wagner Bonnevoie", "85 Rue de Bonnevoie, L-1260 Luxembourg"),
            ("Wagner Esch-sur-Alzette", "40 Rue de l'Alzette, L-4011 Esch-sur-Alzette"),
            ("Wagner Differdange", "10 Avenue de la Liberté, L-4601 Differdange"),
            ("Wagner Dudelange", "31 Avenue Grande-Duchesse Charlotte, L-3440 Dudelange"),
            ("Wagner Bettembourg", "2 Route de Luxembourg, L-3253 Bettembourg"),
            ("Wagner Strassen", "150 Route d'Arlon, L-8008 Strassen"),
            ("Wagner Mersch", "7 Rue de la Gare, L-7535 Mersch"),
            ("Wagner Ettelbruck", "60 Grand-Rue, L-9050 Ettelbruck"),
            ("Wagner Diekirch", "3 Esplanade, L-9227 Diekirch"),
            ("Wagner Wiltz", "25 Grand-Rue, L-9530 Wiltz"),
            ("Wagner Echternach", "18 Rue de la Gare, L-6440 Echternach"),
        ),
        staff=(StaffSpec("luc.wagner@supermarche-wagner.example", "Luc Wagner", Role.OWNER),),
        rewards=(
            RewardSpec("€5 voucher", RewardType.DISCOUNT_FIXED, 500, 500, validity_days=60),
            RewardSpec("€10 voucher", RewardType.DISCOUNT_FIXED, 900, 1000, validity_days=60),
            RewardSpec(
                "Reusable shopping bag",
                RewardType.FREE_ITEM,
                250,
                None,
                stock=500,
                description="The red Wagner tote bag",
            ),
        ),
        basket=(2600, 300, 6000),
        visits_per_week=0.9,
        opening_hours=(8.0, 19.5),
    ),
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    merchant: str


def demo_logins() -> list[DemoLogin]:
    """Every account the seed creates; all share DEMO_PASSWORD."""
    logins = [DemoLogin(ADMIN_EMAIL, "platform admin", "-")]
    for spec in MERCHANTS:
        for staff in spec.staff:
            role = staff.role.value
            if staff.shop_index is not None:
                role += f" ({spec.shops[staff.shop_index][0]})"
            logins.append(DemoLogin(staff.email, role, f"{spec.name} ({spec.offering.value})"))
    return logins


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    members: int = 0
    transactions: int = 0
    vouchers: int = 0
    seconds: float = 0.0
    skipped_because_not_empty: bool = False


# --- the entry point ----------------------------------------------------------------------


def seed(
    session: Session,
    *,
    members: int = DEFAULT_MEMBERS,
    if_empty: bool = False,
    now: datetime | None = None,
) -> SeedReport:
    """Create whatever demo merchant is missing (found by slug); flush, never commit.

    With `if_empty`, a database that holds any merchant is left alone, so `make run` never
    mixes demo rows into real data.
    """
    started = time.perf_counter()
    report = SeedReport()
    if if_empty and session.scalar(select(func.count(Merchant.id))):
        report.skipped_because_not_empty = True
        return report

    now = now or utcnow()
    _ensure_user(session, email=ADMIN_EMAIL, name=ADMIN_NAME, platform_admin=True)
    for position, (spec, count) in enumerate(zip(MERCHANTS, _split(members), strict=True)):
        if session.scalar(select(Merchant.id).where(Merchant.slug == spec.slug)) is not None:
            report.skipped.append(spec.name)
            continue
        # One generator per merchant: its data does not depend on which others exist already.
        rng = random.Random(RANDOM_SEED + position)
        _seed_merchant(session, spec, count, rng, now, report)
        report.created.append(spec.name)
    session.flush()
    report.seconds = time.perf_counter() - started
    return report


def _split(total: int) -> list[int]:
    counts = [max(1, round(total * spec.member_share)) for spec in MERCHANTS]
    counts[-1] = max(1, total - sum(counts[:-1]))
    return counts


def _ensure_user(session: Session, *, email: str, name: str, platform_admin: bool = False) -> User:
    user = session.scalars(select(User).where(User.email == email)).one_or_none()
    if user is None:
        user = User(
            email=normalize_email(email),
            name=name,
            password_hash=_demo_password_hash(),
            is_platform_admin=platform_admin,
        )
        session.add(user)
        session.flush()
    return user


@functools.cache
def _demo_password_hash() -> str:
    """One argon2 hash (salted once) for every demo account: hashing is slow on purpose."""
    return hash_password(DEMO_PASSWORD)


# --- one merchant -------------------------------------------------------------------------


@dataclass
class _Programme:
    """What the history simulation needs to know, detached from the ORM objects."""

    merchant_id: int
    program_id: int
    points_per_euro: Decimal
    rounding: Rounding
    signup_bonus: int
    birthday_bonus: int
    expiry_days: int | None
    shop_ids: list[int]
    cashiers: dict[int, int]  # shop position -> the staff user bound to that shop
    tiers: list[tuple[int, int, Decimal]]  # (min_points, tier id, earn multiplier), ascending
    rewards: list[dict[str, Any]]  # id, name, cost, days (validity), stock left; cheapest first
    tz: ZoneInfo


def _seed_merchant(
    session: Session,
    spec: MerchantSpec,
    member_count: int,
    rng: random.Random,
    now: datetime,
    report: SeedReport,
) -> None:
    merchant = merchant_service.create_merchant(
        session,
        name=spec.name,
        offering=spec.offering,
        program_name=spec.program_name,
        points_per_euro=spec.points_per_euro,
    )
    # The merchant and its programme look as if they had been set up before the history.
    founded = now - timedelta(days=HISTORY_DAYS + 14)
    merchant.created_at = founded
    program = merchant_service.program_of(session, merchant)
    program.created_at = founded
    program.signup_bonus = spec.signup_bonus
    program.birthday_bonus = spec.birthday_bonus
    if spec.expiry_days is not None:
        program.expiry_policy = ExpiryPolicy.AFTER_DAYS
        program.expiry_days = spec.expiry_days
    program.primary_color, program.secondary_color = spec.colors
    # Set up and launched before its history began: the go-live checklist is long done.
    program.launched_at = founded
    program.settings = {
        **(program.settings or {}),
        "onboarding": {
            "offering_chosen_at": founded.isoformat(),
            "programme_configured_at": founded.isoformat(),
        },
    }

    shops = [
        merchant_service.create_shop(session, merchant=merchant, name=name, address=address)
        for name, address in spec.shops
    ]
    for shop in shops:
        shop.created_at = founded
    cashiers = {}
    for staff in spec.staff:
        user = _ensure_user(session, email=staff.email, name=staff.name)
        shop = shops[staff.shop_index] if staff.shop_index is not None else None
        merchant_service.add_membership(
            session, user=user, merchant=merchant, role=staff.role, shop=shop
        )
        if staff.shop_index is not None:
            cashiers[staff.shop_index] = user.id

    tiers = [
        LoyaltyTier(
            merchant_id=merchant.id,
            program_id=program.id,
            name=tier.name,
            min_points=tier.min_points,
            earn_multiplier=tier.multiplier,
            qualification_window_days=None,  # lifetime points qualify
            benefits={},
            sort_order=order,
        )
        for order, tier in enumerate(spec.tiers)
    ]
    rewards = [
        Reward(
            merchant_id=merchant.id,
            program_id=program.id,
            name=reward.name,
            description=reward.description,
            type=reward.type,
            points_cost=reward.points_cost,
            value=reward.value,
            stock=reward.stock,
            validity_days=reward.validity_days,
            created_at=founded,
        )
        for reward in spec.rewards
    ]
    session.add_all(tiers + rewards)
    session.flush()

    programme = _Programme(
        merchant_id=merchant.id,
        program_id=program.id,
        points_per_euro=Decimal(program.points_per_euro),
        rounding=program.rounding,
        signup_bonus=program.signup_bonus,
        birthday_bonus=program.birthday_bonus,
        expiry_days=spec.expiry_days,
        shop_ids=[shop.id for shop in shops],
        cashiers=cashiers,
        tiers=sorted((t.min_points, t.id, Decimal(t.earn_multiplier)) for t in tiers),
        rewards=[
            {
                "id": r.id,
                "name": r.name,
                "cost": r.points_cost,
                "days": r.validity_days,
                "stock": r.stock,
            }
            for r in sorted(rewards, key=lambda r: r.points_cost)
        ],
        tz=ZoneInfo(merchant.timezone),
    )
    written = _write_members(session, spec, programme, member_count, rng, now)
    stock_left = {r["id"]: r["stock"] for r in programme.rewards}
    for reward in rewards:  # what the simulated redemptions took from stock
        reward.stock = stock_left[reward.id]
    report.members += written.members
    report.transactions += written.transactions
    report.vouchers += written.vouchers


# --- people -------------------------------------------------------------------------------


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(","))


FIRST_NAMES = _comma_list(
    """Marie, Anne, Sophie, Laura, Léa, Emma, Julie, Claire, Céline, Sandrine, Nathalie,
    Christiane, Monique, Jessica, Ana, Sofia, Inês, Mariana, Giulia, Chiara, Lena, Mia,
    Charlotte, Lisa, Sarah, Elena, Joëlle, Martine, Jean, Luc, Marc, Paul, Pierre, Tom, Ben,
    Max, Noah, Luca, Gilles, Yves, Claude, Patrick, Laurent, Michel, Nico, Carlos, João, Pedro,
    Tiago, Rui, Marco, Kevin, David, Georges, Jérôme, Mathis, Léon, Romain, Fernand, Jos"""
)
LAST_NAMES = _comma_list(
    """Schmit, Muller, Weber, Wagner, Hoffmann, Thill, Schroeder, Klein, Reuter, Becker, Kieffer,
    Kremer, Faber, Schiltz, Meyer, Steffen, Majerus, Hansen, Welter, Weis, Ries, Goedert,
    Bernard, Lentz, Da Silva, Pereira, Ferreira, Dos Santos, Rodrigues, Gonçalves, Martins,
    Lopes, Fernandes, Rossi, Ricci, Dupont, Lambert, Gaspar, Braun, Kayser, Feltgen, Wirth,
    Schaus, Peffer, Thiel, Nilles, Origer, Back, Clement, Hilbert"""
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")
MOBILE_PREFIXES = ("621", "628", "661", "671", "691")
LANGUAGES = (("fr", 45), ("de", 30), ("en", 25))  # the languages enrolment offers
MARKETING_CONSENTS = (("marketing_email", 0.6), ("marketing_sms", 0.4), ("marketing_telegram", 0.1))
SOURCES = (("staff", 70), ("web", 20), ("telegram", 10))


class _People:
    """Invents customers whose e-mails and phones are unique within one merchant."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.emails: set[str] = set()
        self.phones: set[str] = set()

    def email(self, first: str, last: str) -> str:
        local = f"{search_key(first)}.{search_key(last).replace(' ', '')}"
        domain = self.rng.choice(EMAIL_DOMAINS)
        candidate, n = f"{local}@{domain}", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate)
        return candidate

    def phone(self) -> str:
        while True:
            number = "+352" + self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**6):06d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def birthday(self, today: date) -> date:
        return today - timedelta(days=self.rng.randint(18 * 365, 80 * 365))

    def consents(self, at: datetime, source: str) -> dict[str, Any]:
        """The same shape enrolment records: terms, each marketing channel, where they joined."""
        stamp = at.isoformat()
        consents: dict[str, Any] = {"terms": {"granted": True, "at": stamp, "version": "1"}}
        for name, likelihood in MARKETING_CONSENTS:
            consents[name] = {"granted": self.rng.random() < likelihood, "at": stamp}
        consents["source"] = {"via": source}
        return consents


# --- history ------------------------------------------------------------------------------


@dataclass
class _Written:
    members: int = 0
    transactions: int = 0
    vouchers: int = 0


@dataclass
class _MemberHistory:
    """One member's ledger, simulated in memory before anything is written."""

    card_number: str
    enrolled_at: datetime
    transactions: list[dict[str, Any]] = field(default_factory=list)
    lots: list[dict[str, Any]] = field(default_factory=list)  # "tx": index into transactions
    vouchers: list[dict[str, Any]] = field(default_factory=list)  # same
    balance: int = 0
    lifetime: int = 0
    tier_id: int | None = None
    last_activity_at: datetime | None = None


def _write_members(
    session: Session,
    spec: MerchantSpec,
    programme: _Programme,
    count: int,
    rng: random.Random,
    now: datetime,
) -> _Written:
    people = _People(rng)
    voucher_codes: set[str] = set()
    card_numbers: set[str] = set()
    customers: list[dict[str, Any]] = []
    histories: list[_MemberHistory] = []
    start = now - timedelta(days=HISTORY_DAYS)

    for _ in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}"
        # Sign-ups peak at the launch and keep coming at a slower pace.
        enrolled_at = _opening_time(
            programme, spec, start + timedelta(days=HISTORY_DAYS * rng.random() ** 1.6), rng, now
        )
        has_email, has_phone = rng.random() < 0.85, rng.random() < 0.7
        email = people.email(first, last) if has_email else None
        phone = people.phone() if has_phone or not has_email else None
        birthday = people.birthday(now.date()) if rng.random() < 0.75 else None
        customers.append(
            {
                "merchant_id": programme.merchant_id,
                "name": name,
                "name_search": search_key(name),
                "email": email,
                "phone": phone,
                "birthday": birthday,
                "language": _weighted(rng, LANGUAGES),
                "consents": people.consents(enrolled_at, _weighted(rng, SOURCES)),
                "external_id": None,
                "created_at": enrolled_at,
                "erased_at": None,
            }
        )
        card = new_card_number()
        while card in card_numbers:
            card = new_card_number()
        card_numbers.add(card)
        history = _MemberHistory(card_number=card, enrolled_at=enrolled_at)
        _simulate(history, programme, spec, birthday, rng, now, voucher_codes)
        histories.append(history)

    # Plain executemany, then one query for the new ids by a key unique in the tenant:
    # faster than RETURNING, which SQLite can only keep in order one row at a time.
    _insert(session, Customer.__table__, customers)
    by_contact = {
        email or phone: id_
        for id_, email, phone in session.execute(
            select(Customer.id, Customer.email, Customer.phone).where(
                Customer.merchant_id == programme.merchant_id
            )
        )
    }
    customer_ids = [by_contact[row["email"] or row["phone"]] for row in customers]
    _insert(
        session,
        LoyaltyMember.__table__,
        [
            {
                "merchant_id": programme.merchant_id,
                "program_id": programme.program_id,
                "customer_id": customer_id,
                "card_number": history.card_number,
                "qr_secret": new_qr_secret(),
                "points_balance": history.balance,
                "lifetime_points": history.lifetime,
                "tier_id": history.tier_id,
                "status": MemberStatus.ACTIVE,
                "enrollment_key": f"demo:{history.card_number}",
                "enrolled_at": history.enrolled_at,
                "last_activity_at": history.last_activity_at or history.enrolled_at,
                "updated_at": history.last_activity_at or history.enrolled_at,
            }
            for customer_id, history in zip(customer_ids, histories, strict=True)
        ],
    )
    by_card = dict(
        session.execute(
            select(LoyaltyMember.card_number, LoyaltyMember.id).where(
                LoyaltyMember.program_id == programme.program_id
            )
        ).all()
    )
    member_ids = [by_card[history.card_number] for history in histories]

    channels, transactions, lots, vouchers = [], [], [], []
    for member_id, customer, history in zip(member_ids, customers, histories, strict=True):
        # Enrolment registers the contact details as (unverified) channels; so does the demo.
        for kind, address in (
            (ChannelKind.EMAIL, customer["email"]),
            (ChannelKind.SMS, customer["phone"]),
        ):
            if address:
                channels.append(
                    {
                        "merchant_id": programme.merchant_id,
                        "member_id": member_id,
                        "kind": kind,
                        "address": address,
                        "verified_at": None,
                        "opted_out_at": None,
                        "created_at": history.enrolled_at,
                    }
                )
        offset = len(transactions)
        for row in history.transactions:
            row = {**row, "member_id": member_id}
            if row["reference_type"] == "birthday":
                # The birthday job's own key, so that it never pays the same birthday twice.
                row["idempotency_key"] = f"birthday:{row['reference_id']}:{member_id}"
            transactions.append(row)
        for lot in history.lots:
            lots.append({**lot, "member_id": member_id, "tx": lot["tx"] + offset})
        for voucher in history.vouchers:
            vouchers.append({**voucher, "member_id": member_id, "tx": voucher["tx"] + offset})
    _insert(session, ChannelIdentity.__table__, channels)
    _insert(session, LoyaltyTransaction.__table__, transactions)
    by_key = dict(
        session.execute(
            select(LoyaltyTransaction.idempotency_key, LoyaltyTransaction.id).where(
                LoyaltyTransaction.program_id == programme.program_id
            )
        ).all()
    )
    for rows in (lots, vouchers):
        for row in rows:
            row["transaction_id"] = by_key[transactions[row.pop("tx")]["idempotency_key"]]
    _insert(session, PointLot.__table__, lots)
    _insert(session, Voucher.__table__, vouchers)
    return _Written(len(member_ids), len(transactions), len(vouchers))


def _simulate(
    history: _MemberHistory,
    programme: _Programme,
    spec: MerchantSpec,
    birthday: date | None,
    rng: random.Random,
    now: datetime,
    voucher_codes: set[str],
) -> None:
    """Play the member's visits in order, keeping the ledger rules a real till would."""
    enrolled_at = history.enrolled_at
    # A few regulars make most visits; many members came once or twice.
    segment = rng.random()
    if segment < 0.15:
        rate = spec.visits_per_week * rng.uniform(2.0, 4.0)
    elif segment < 0.5:
        rate = spec.visits_per_week * rng.uniform(0.5, 1.0)
    else:
        rate = spec.visits_per_week * rng.uniform(0.05, 0.3)
    home_shop = rng.randrange(len(programme.shop_ids))
    goal = _choose_goal(programme, rng)  # the reward this member is saving up for
    appetite = rng.uniform(0.3, 0.9)  # how soon they spend once they can

    events: list[tuple[datetime, str]] = [(enrolled_at, "visit")]
    day = enrolled_at
    while len(events) < 200:
        day = day + timedelta(days=rng.expovariate(rate / 7))
        if day >= now:
            break
        events.append((_opening_time(programme, spec, day, rng, now), "visit"))
    if birthday is not None and programme.birthday_bonus:
        for year in sorted({enrolled_at.year, now.year}):
            try:
                local_day = birthday.replace(year=year)
            except ValueError:  # 29 February: celebrated on the 28th in common years
                local_day = date(year, 2, 28)
            at = datetime(
                local_day.year, local_day.month, local_day.day, 7, 0, tzinfo=programme.tz
            ).astimezone(UTC)
            events.append((at, "birthday"))
    events = sorted(event for event in set(events) if enrolled_at <= event[0] < now)

    ledger = _Ledger(history, programme)
    ledger.credit(
        TransactionType.BONUS,
        programme.signup_bonus,
        enrolled_at,
        shop=home_shop,
        description="Welcome bonus",
        reference=("signup", None),
    )
    previous = None
    for at, kind in events:
        # Keep moments apart so that time order and insertion order of the rows agree.
        if previous is not None and at < previous + timedelta(minutes=5):
            continue
        previous = at
        if kind == "birthday":
            ledger.credit(
                TransactionType.BONUS,
                programme.birthday_bonus,
                at,
                shop=None,
                description="Happy birthday!",
                reference=("birthday", str(at.astimezone(programme.tz).year)),
            )
            continue
        shop = home_shop if rng.random() < 0.8 else rng.randrange(len(programme.shop_ids))
        if goal is not None and goal["stock"] == 0:
            goal = _choose_goal(programme, rng)
        if goal is not None and goal["cost"] <= history.balance and rng.random() < appetite:
            # Redeemed at the till, before paying; then the member saves up for the next one.
            ledger.redeem(goal, at, shop, rng, voucher_codes, now)
            goal = _choose_goal(programme, rng)
        ledger.earn(_basket(spec, rng), at + timedelta(seconds=45), shop)


def _choose_goal(programme: _Programme, rng: random.Random) -> dict[str, Any] | None:
    """Cheaper rewards are more popular; one out of stock is no longer anybody's goal."""
    available = [r for r in programme.rewards if r["stock"] != 0]
    if not available:
        return None
    return _weighted(rng, [(r, len(available) - i) for i, r in enumerate(available)])


class _Ledger:
    """Writes one member's rows as the services do: running balance, lots, tier, vouchers."""

    def __init__(self, history: _MemberHistory, programme: _Programme) -> None:
        self.history = history
        self.programme = programme
        self.open_lots: list[dict[str, Any]] = []  # oldest first

    def _row(
        self,
        kind: TransactionType,
        points: int,
        at: datetime,
        *,
        shop: int | None,
        amount_cents: int | None = None,
        description: str = "",
        reference: tuple[str | None, str | None] = (None, None),
    ) -> int:
        history = self.history
        history.balance += points
        if kind in LIFETIME_TYPES:
            history.lifetime += points
        history.last_activity_at = at
        cashier = self.programme.cashiers.get(shop) if kind != TransactionType.BONUS else None
        history.transactions.append(
            {
                "merchant_id": self.programme.merchant_id,
                "program_id": self.programme.program_id,
                "type": kind,
                "points": points,
                "balance_after": history.balance,
                "amount_cents": amount_cents,
                "shop_id": self.programme.shop_ids[shop] if shop is not None else None,
                "reference_type": reference[0],
                "reference_id": reference[1],
                "reverses_id": None,
                "description": description,
                "created_by": cashier,
                "idempotency_key": f"demo:{history.card_number}:{len(history.transactions) + 1}",
                "created_at": at,
            }
        )
        return len(history.transactions) - 1

    def credit(
        self,
        kind: TransactionType,
        points: int,
        at: datetime,
        *,
        shop: int | None,
        amount_cents: int | None = None,
        description: str = "",
        reference: tuple[str | None, str | None] = (None, None),
    ) -> None:
        if points <= 0:
            return
        index = self._row(
            kind,
            points,
            at,
            shop=shop,
            amount_cents=amount_cents,
            description=description,
            reference=reference,
        )
        days = self.programme.expiry_days
        lot = {
            "merchant_id": self.programme.merchant_id,
            "tx": index,
            "points": points,
            "remaining": points,
            "expires_at": at + timedelta(days=days) if days else None,
            "created_at": at,
        }
        self.history.lots.append(lot)
        self.open_lots.append(lot)
        # Upgrades are immediate, as after a real purchase; lifetime tiers never downgrade.
        for min_points, tier_id, _ in self.programme.tiers:
            if min_points <= self.history.lifetime:
                self.history.tier_id = tier_id

    def earn(self, amount_cents: int, at: datetime, shop: int) -> None:
        multiplier = Decimal(1)
        for _, tier_id, tier_multiplier in self.programme.tiers:
            if tier_id == self.history.tier_id:
                multiplier = tier_multiplier
        points = purchase_points(
            amount_cents=amount_cents,
            rate=self.programme.points_per_euro,
            rounding=self.programme.rounding,
            tier_multiplier=multiplier,
        )
        self.credit(TransactionType.EARN, points, at, shop=shop, amount_cents=amount_cents)

    def redeem(
        self,
        reward: dict[str, Any],
        at: datetime,
        shop: int,
        rng: random.Random,
        voucher_codes: set[str],
        now: datetime,
    ) -> None:
        cost = reward["cost"]
        index = self._row(
            TransactionType.REDEEM,
            -cost,
            at,
            shop=shop,
            description=f"Reward: {reward['name']}",
            reference=("reward", str(reward["id"])),
        )
        left = cost
        while left:  # oldest lots first
            lot = self.open_lots[0]
            taken = min(left, lot["remaining"])
            lot["remaining"] -= taken
            left -= taken
            if lot["remaining"] == 0:
                self.open_lots.pop(0)
        if reward["stock"] is not None:
            reward["stock"] -= 1
        valid_until = at + timedelta(days=reward["days"])
        # Most vouchers are used at the till right away; recent ones may still be in a wallet.
        used = valid_until <= now or rng.random() < 0.6
        self.history.vouchers.append(
            {
                "merchant_id": self.programme.merchant_id,
                "member_id": None,
                "reward_id": reward["id"],
                "promotion_id": None,
                "tx": index,
                "code": _voucher_code(rng, voucher_codes),
                "status": VoucherStatus.USED if used else VoucherStatus.ISSUED,
                "points_spent": cost,
                "valid_until": valid_until,
                "used_at": at + timedelta(seconds=20) if used else None,
                "used_shop_id": self.programme.shop_ids[shop] if used else None,
                "used_key": None,
                "voided_at": None,
                "void_reason": None,
                "created_at": at,
            }
        )


# --- small pieces -------------------------------------------------------------------------


def _opening_time(
    programme: _Programme, spec: MerchantSpec, day: datetime, rng: random.Random, now: datetime
) -> datetime:
    """A moment during opening hours on `day` (local), in UTC, never in the future."""
    local_day = day.astimezone(programme.tz).date()
    opens, closes = spec.opening_hours
    minutes = int(rng.triangular(opens, closes, opens + (closes - opens) * 0.35) * 60)
    local = datetime(
        local_day.year,
        local_day.month,
        local_day.day,
        minutes // 60,
        minutes % 60,
        rng.randrange(60),
        tzinfo=programme.tz,
    )
    at = local.astimezone(UTC)
    if at >= now - timedelta(minutes=5):
        at = now - timedelta(minutes=rng.randint(5, 600))
    return at


def _basket(spec: MerchantSpec, rng: random.Random) -> int:
    """A receipt total in cents: log-normal around the merchant's median, to 5 cents."""
    median, low, high = spec.basket
    cents = math.exp(rng.gauss(math.log(median), 0.45))
    return int(min(high, max(low, round(cents / 5) * 5)))


def _voucher_code(rng: random.Random, taken: set[str]) -> str:
    while True:
        code = "".join(rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            taken.add(code)
            return code


def _weighted(rng: random.Random, choices):
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """SQLAlchemy Core executemany: one statement, many parameter sets, no ORM objects."""
    if rows:
        session.execute(insert(table), rows)
