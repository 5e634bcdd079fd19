"""Enrolment: a customer joins one merchant's programme and gets a card."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from loyalty.errors import DuplicateCustomer, InvalidInput
from loyalty.identity import format_card_number, parse_card_number
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Customer,
    LoyaltyMember,
    LoyaltyTransaction,
    Offering,
    OutboxChannel,
    OutboxMessage,
    PointLot,
    TransactionType,
)
from loyalty.services import merchants
from loyalty.services.enroll import enroll
from tests import factories
from tests.invariants import assert_ledger_consistent

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)


def join(session, tenant, key: str = "join-1", **kw) -> LoyaltyMember:
    kw.setdefault("terms_accepted", True)
    kw.setdefault("now", NOW)
    return enroll(session, program=tenant.program, idempotency_key=key, **kw)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def counts(session) -> tuple[int, ...]:
    return tuple(
        count(session, model)
        for model in (Customer, LoyaltyMember, LoyaltyTransaction, PointLot, OutboxMessage)
    )


def test_enrol_by_email_creates_customer_card_and_email_channel(session, tenant):
    member = join(session, tenant, name=" Éloïse Martin ", email="Eloise@Example.com")
    customer = member.customer
    assert (customer.name, customer.name_search) == ("Éloïse Martin", "eloise martin")
    assert customer.email == "eloise@example.com"
    assert customer.phone is None
    assert parse_card_number(member.card_number) == member.card_number
    assert (member.points_balance, member.merchant_id) == (0, tenant.merchant.id)
    channels = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.member_id == member.id)
    ).all()
    assert [(c.kind, c.address) for c in channels] == [(ChannelKind.EMAIL, "eloise@example.com")]


def test_a_long_name_is_cut_to_fit_even_when_its_search_key_grows(session, tenant):
    # 'ﬁ' is one character whose accent-free form is two: the key must still fit its column.
    member = join(session, tenant, email="fi@example.com", name="ﬁ" * 200)
    assert member.customer.name == "ﬁ" * 120
    assert member.customer.name_search == "fi" * 60


def test_enrol_by_national_phone_number_reads_it_in_the_merchant_country(session, tenant):
    member = join(session, tenant, phone="621 123 456")
    assert member.customer.phone == "+352621123456"
    assert member.customer.email is None


def test_enrol_by_phone_in_a_french_merchant(session):
    merchant = merchants.create_merchant(session, name="Chez Paul", default_country="FR")
    program = merchants.program_of(session, merchant)
    member = enroll(
        session, program=program, idempotency_key="k", terms_accepted=True, phone="06 12 34 56 78"
    )
    assert member.customer.phone == "+33612345678"


def test_enrol_without_email_or_phone_is_refused(session, tenant):
    with pytest.raises(InvalidInput, match="e-mail address or a phone number"):
        join(session, tenant, name="Nobody", email="  ", phone="")
    assert counts(session) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(("field", "value"), [("email", "not-an-email"), ("phone", "12")])
def test_enrol_with_an_invalid_contact_is_refused_and_says_which_field(
    session, tenant, field, value
):
    with pytest.raises(InvalidInput) as caught:
        join(session, tenant, **{field: value})
    assert caught.value.field == field
    assert counts(session) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "again", "field"),
    [
        ({"email": "ann@example.com"}, {"email": "ANN@example.com "}, "email"),
        ({"phone": "+352 621 123 456"}, {"phone": "621123456"}, "phone"),
        (
            {"email": "ann@example.com", "phone": "621 123 456"},
            {"email": "other@example.com", "phone": "621 123 456"},
            "phone",
        ),
    ],
)
def test_a_second_enrolment_with_the_same_contact_names_the_existing_card(
    session, tenant, kwargs, again, field
):
    first = join(session, tenant, "first", **kwargs)
    before = counts(session)
    with pytest.raises(DuplicateCustomer) as caught:
        join(session, tenant, "second", **again)
    assert caught.value.member_id == first.id
    assert caught.value.field == field
    assert format_card_number(first.card_number) in caught.value.message
    assert counts(session) == before


def test_the_same_email_in_another_merchant_is_an_unrelated_member(session, tenant):
    other = factories.make_tenant(session)
    here = join(session, tenant, email="ann@example.com", name="Ann")
    there = enroll(
        session,
        program=other.program,
        idempotency_key="join-1",  # keys are per programme, too
        terms_accepted=True,
        email="ann@example.com",
        name="Ann B.",
    )
    assert there.id != here.id
    assert there.customer_id != here.customer_id
    assert (there.merchant_id, there.program_id) == (other.merchant.id, other.program.id)
    assert there.customer.name == "Ann B."
    assert here.customer.name == "Ann"


def test_signup_bonus_is_credited_as_a_bonus_row_with_a_lot(session, tenant):
    tenant.program.signup_bonus = 50
    session.flush()
    member = join(session, tenant, email="ann@example.com")
    row = session.scalars(
        select(LoyaltyTransaction).where(LoyaltyTransaction.member_id == member.id)
    ).one()
    assert (row.type, row.points, row.balance_after) == (TransactionType.BONUS, 50, 50)
    lot = session.scalars(select(PointLot).where(PointLot.transaction_id == row.id)).one()
    assert (lot.points, lot.remaining) == (50, 50)
    assert (member.points_balance, member.lifetime_points) == (50, 50)
    assert assert_ledger_consistent(session, member.id) == 50


def test_without_a_signup_bonus_no_ledger_row_is_written(session, tenant):
    member = join(session, tenant, email="ann@example.com")
    assert count(session, LoyaltyTransaction) == 0
    assert assert_ledger_consistent(session, member.id) == 0


def test_consents_are_recorded_with_time_and_terms_version(session, tenant):
    tenant.program.terms_version = "2024-05"
    session.flush()
    member = join(
        session,
        tenant,
        email="ann@example.com",
        consents={"marketing_email": True},
        source="telegram",
    )
    consents = member.customer.consents
    stamp = NOW.isoformat()
    assert consents["terms"] == {"granted": True, "at": stamp, "version": "2024-05"}
    assert consents["marketing_email"] == {"granted": True, "at": stamp}
    assert consents["marketing_sms"] == {"granted": False, "at": stamp}
    assert consents["marketing_telegram"] == {"granted": False, "at": stamp}
    assert consents["source"] == {"via": "telegram"}


def test_an_unknown_consent_is_refused(session, tenant):
    with pytest.raises(InvalidInput, match="Unknown consent: marketing_fax"):
        join(session, tenant, email="ann@example.com", consents={"marketing_fax": True})
    assert counts(session) == (0, 0, 0, 0, 0)


def test_a_welcome_message_is_queued_once(session, tenant):
    tenant.program.signup_bonus = 25
    session.flush()
    member = join(session, tenant, email="ann@example.com", name="Ann", language="fr")
    join(session, tenant, email="ann@example.com", name="Ann", language="fr")  # replay
    message = session.scalars(select(OutboxMessage)).one()
    assert (message.member_id, message.channel, message.template) == (
        member.id,
        OutboxChannel.EMAIL,
        "welcome",
    )
    assert message.address == "ann@example.com"
    assert message.payload["card_number"] == member.card_number
    assert message.payload["signup_bonus"] == 25
    assert message.payload["language"] == "fr"


def test_a_member_with_only_a_phone_is_welcomed_by_sms(session, tenant):
    join(session, tenant, phone="621 123 456")
    message = session.scalars(select(OutboxMessage)).one()
    assert (message.channel, message.address) == (OutboxChannel.SMS, "+352621123456")


def test_a_replayed_key_returns_the_same_member_and_creates_nothing(session, tenant):
    tenant.program.signup_bonus = 10
    session.flush()
    first = join(session, tenant, "same-key", email="ann@example.com")
    before = counts(session)
    again = join(session, tenant, "same-key", email="ann@example.com")
    assert again.id == first.id
    assert counts(session) == before
    assert assert_ledger_consistent(session, first.id) == 10


def test_terms_not_accepted_are_refused(session, tenant):
    with pytest.raises(InvalidInput, match="terms must be accepted") as caught:
        join(session, tenant, email="ann@example.com", terms_accepted=False)
    assert caught.value.field == "terms"
    assert counts(session) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("birthday", [date(2024, 5, 7), date(1899, 12, 31), date(2099, 1, 1)])
def test_an_impossible_birthday_is_refused(session, tenant, birthday):
    with pytest.raises(InvalidInput, match="birthday is not possible") as caught:
        join(session, tenant, email="ann@example.com", birthday=birthday)
    assert caught.value.field == "birthday"
    assert counts(session) == (0, 0, 0, 0, 0)


def test_a_birthday_of_today_is_accepted(session, tenant):
    member = join(session, tenant, email="ann@example.com", birthday=NOW.date())
    assert member.customer.birthday == NOW.date()


def test_an_unknown_language_is_refused(session, tenant):
    with pytest.raises(InvalidInput, match="Language must be one of") as caught:
        join(session, tenant, email="ann@example.com", language="xx")
    assert caught.value.field == "language"


@pytest.mark.parametrize("key", ["", "   ", None, "k" * 101])
def test_enrolment_needs_a_usable_idempotency_key(session, tenant, key):
    with pytest.raises(InvalidInput) as caught:
        join(session, tenant, key, email="ann@example.com")
    assert caught.value.field == "idempotency_key"


def test_a_new_member_starts_in_the_tier_that_asks_for_no_points(session, tenant):
    bronze = factories.make_tier(session, tenant, name="Bronze", min_points=0)
    factories.make_tier(session, tenant, name="Silver", min_points=500)
    member = join(session, tenant, email="new@example.com")
    assert member.tier_id == bronze.id


def test_no_tier_at_joining_when_the_first_one_asks_for_points(session, tenant):
    factories.make_tier(session, tenant, name="Silver", min_points=500)
    assert join(session, tenant, email="new@example.com").tier_id is None


def test_no_tier_at_joining_for_an_offering_without_tiers(session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    factories.make_tier(session, basic, name="Bronze", min_points=0)
    assert join(session, basic, email="new@example.com").tier_id is None
