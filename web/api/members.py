"""Members: enrol, look up, read, change and erase."""

from __future__ import annotations

from flask import g

from loyalty.errors import InvalidInput
from loyalty.models import LoyaltyMember, LoyaltyProgram
from loyalty.services import enroll, gdpr, lookup, member_profile
from loyalty.services.actors import Actor
from web.api import blueprint, present, schemas
from web.api.operations import operation, service_key
from web.extensions import db
from web.tenancy import tenant_get_or_404, tenant_select


def api_actor() -> Actor:
    return Actor.system(g.api_actor_label)


def member_or_404(member_id: int) -> LoyaltyMember:
    return tenant_get_or_404(LoyaltyMember, member_id)


@operation(
    blueprint,
    "POST",
    "/members",
    summary="Enrol a member",
    tag="Members",
    body=schemas.MemberCreate,
    response=schemas.Member,
    status=201,
)
def create_member(body: schemas.MemberCreate) -> schemas.Member:
    """Creates the customer and their card. A sign-up bonus, if the programme has one, is
    credited at once; the welcome message goes out by e-mail or SMS."""
    program = db.session.scalars(tenant_select(LoyaltyProgram).limit(1)).one()
    actor = api_actor()
    member = enroll.enroll(
        db.session,
        program=program,
        idempotency_key=service_key(),
        terms_accepted=body.terms_accepted,
        name=body.name,
        email=body.email,
        phone=body.phone,
        birthday=body.birthday,
        language=body.language,
        consents=body.consents.model_dump(),
        source="api",
        actor=actor,
    )
    if body.external_id is not None:
        member_profile.update_member(
            db.session, member=member, actor=actor, external_id=body.external_id
        )
    return present.member(member)


@operation(
    blueprint,
    "GET",
    "/members/lookup",
    summary="Find a member by card number, phone, e-mail or external id",
    tag="Members",
    query=schemas.MemberLookup,
    response=schemas.Member,
)
def lookup_member(query: schemas.MemberLookup) -> schemas.Member:
    """Give exactly one of the parameters. The card number's check digit catches typos."""
    given = {k: v for k, v in query.model_dump().items() if v is not None}
    if len(given) != 1:
        raise InvalidInput(
            "Give exactly one of card_number, phone, email or external_id.", field="card_number"
        )
    ((name, value),) = given.items()
    merchant = g.api_key.merchant
    find = {
        "card_number": lookup.by_card,
        "phone": lookup.by_phone,
        "email": lookup.by_email,
        "external_id": lookup.by_external_id,
    }[name]
    return present.member(find(db.session, merchant=merchant, raw=value))


@operation(
    blueprint,
    "GET",
    "/members/<int:member_id>",
    summary="Get a member",
    tag="Members",
    response=schemas.Member,
)
def get_member(member_id: int) -> schemas.Member:
    """The member with their current balance and tier."""
    return present.member(member_or_404(member_id))


@operation(
    blueprint,
    "PATCH",
    "/members/<int:member_id>",
    summary="Change a member's details",
    tag="Members",
    body=schemas.MemberUpdate,
    response=schemas.Member,
)
def update_member(member_id: int, body: schemas.MemberUpdate) -> schemas.Member:
    """Only the fields present in the body change. E-mail and phone are normalised as at
    enrolment; one already on another card is refused (409)."""
    member = member_or_404(member_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("language", "") is None:
        raise InvalidInput("The language cannot be empty.", field="language")
    member_profile.update_member(db.session, member=member, actor=api_actor(), **changes)
    return present.member(member)


@operation(
    blueprint,
    "DELETE",
    "/members/<int:member_id>",
    summary="Erase a member (GDPR)",
    tag="Members",
    response=schemas.Member,
)
def erase_member(member_id: int) -> schemas.Member:
    """Anonymises the person and closes the card; ledger rows and totals stay for accounting.
    Erasing twice is the same as erasing once."""
    member = member_or_404(member_id)
    gdpr.erase_member(db.session, member=member, actor=api_actor())
    return present.member(member)
