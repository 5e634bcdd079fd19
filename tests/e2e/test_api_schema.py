"""Schemathesis against the app's own OpenAPI document: generated requests to every operation,
with an Enterprise key, must never get a 5xx nor an answer that breaks the document.

Bounded: MAX_EXAMPLES per operation. Generated ids are swapped for real ones half the time,
so the happy paths (earn, redeem, refund, voucher use) run as well as the 404s.
"""

from __future__ import annotations

import contextvars
import itertools
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import Voucher
from loyalty.services.earn import earn
from tests import factories
from tests.e2e.api_support import make_api_tenant

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def world(session: Session) -> dict:
    """An Enterprise business with a member who has points, a reward, a purchase, a voucher."""
    api = make_api_tenant(session, name="Supermarché Schema")
    member = factories.make_member(session, api.tenant, email="schema@example.com")
    reward = factories.make_reward(session, api.tenant, cost=10)
    bought = earn(session, member=member, amount_cents=50_000, idempotency_key="schema-seed")
    voucher = Voucher(
        merchant_id=api.tenant.merchant.id,
        member_id=member.id,
        code="SCHEMA23",
        valid_until=utcnow() + timedelta(days=30),
    )
    session.add(voucher)
    session.flush()
    return {
        "headers": api.headers,
        "member_id": member.id,
        "reward_id": reward.id,
        "shop_id": api.tenant.shop.id,
        "transaction_id": bought.transaction_id,
        "code": voucher.code,
    }


_enrolments = itertools.count(1)


def _use_real_ids(case, world: dict) -> None:
    # Random text is rarely a valid e-mail or phone: give half the enrolments a real one.
    if (
        case.path == "/api/v1/members"
        and isinstance(case.body, dict)
        and case.body.get("terms_accepted")
        and next(_enrolments) % 2
    ):
        case.body["email"] = f"enrol{next(_enrolments)}@example.com"
    for name in list(case.path_parameters or {}):
        value = case.path_parameters[name]
        if name in world and (not isinstance(value, int) or value % 2 == 0):
            case.path_parameters[name] = world[name]
    if isinstance(case.body, dict):
        for name in ("member_id", "reward_id", "shop_id"):
            value = case.body.get(name)
            if isinstance(value, int) and value % 2 == 0:
                case.body[name] = world[name]


ORDER = {"get": 0, "post": 1, "patch": 2, "delete": 3}  # erasing the member comes last


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: (ORDER[op.method.lower()], op.path))


def test_every_operation_answers_within_its_document(app, world: dict) -> None:
    # Driven by hand rather than by schemathesis' pytest plugin (which does not run under this
    # pytest): one bounded Hypothesis run per operation.
    tried = []
    for operation in _operations(app):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            _use_real_ids(case, world)
            # A fresh context per request, as in production: the test's pushed app context
            # (and its `g`) must not carry one request's key into the next.
            response = contextvars.Context().run(case.call, headers=world["headers"])
            case.validate_response(response, checks=CHECKS)

        run()
        tried.append(f"{operation.method.upper()} {operation.path}")
    assert len(tried) >= 15, tried
