"""How an API operation is declared: one decorator registers the route, validates its input
with the operation's pydantic models, applies the key's scope and Idempotency-Key, and records
what the OpenAPI document says about it. The document is built from these records only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, request
from pydantic import BaseModel, ValidationError

from loyalty.errors import InsufficientScope
from loyalty.models import ApiScope
from loyalty.services import idempotency
from web.extensions import db

JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # Flask's, e.g. /members/<int:member_id>
    endpoint: str
    summary: str
    description: str
    tag: str
    response: type[BaseModel]
    status: int
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    writes: bool
    path_params: tuple[str, ...] = field(default=())


OPERATIONS: list[Operation] = []


class RequestInvalid(Exception):
    """The body or query did not match the operation's schema: 422 listing each field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("invalid request")
        self.errors = errors


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    found = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        found.append({"field": where, "message": item["msg"]})
    return found


def _parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True) or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise RequestInvalid(_field_errors(error)) from None


def _parse_query(model: type[BaseModel]) -> BaseModel:
    values: dict[str, Any] = {}
    for name in request.args:
        items = request.args.getlist(name)
        values[name] = items[0] if len(items) == 1 else items
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RequestInvalid(_field_errors(error)) from None


def service_key() -> str:
    """The idempotency key the services get: derived from Idempotency-Key, else a fresh one."""
    return g.get("api_ledger_key") or f"api:{uuid.uuid4().hex}"


def _json(model: BaseModel, status: int) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype=JSON)


def operation(
    blueprint: Blueprint,
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    response: type[BaseModel],
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    writes: bool | None = None,
) -> Callable[[Callable[..., BaseModel]], Callable[..., Response]]:
    """Declare an operation. The view gets path ids, then `body=` / `query=` models."""
    writes = method != "GET" if writes is None else writes

    def decorator(view: Callable[..., BaseModel]) -> Callable[..., Response]:
        op = Operation(
            method=method,
            rule=rule,
            endpoint=f"{blueprint.name}.{view.__name__}",
            summary=summary,
            description=(view.__doc__ or "").strip(),
            tag=tag,
            response=response,
            status=status,
            body=body,
            query=query,
            writes=writes,
            path_params=tuple(part.split(":")[-1].rstrip(">") for part in rule.split("<")[1:]),
        )

        def run(path_args: dict[str, Any]) -> Response:
            kwargs: dict[str, Any] = dict(path_args)
            if query is not None:
                kwargs["query"] = _parse_query(query)
            if body is not None:
                kwargs["body"] = _parse_body(body)
            return _json(view(**kwargs), status)

        @wraps(view)
        def endpoint(**path_args: Any) -> Response:
            if writes and g.api_scope != ApiScope.WRITE:
                raise InsufficientScope(
                    "This API key is read-only. Use a key with the write scope to make changes."
                )
            header = request.headers.get("Idempotency-Key")
            if method != "POST" or header is None:
                g.api_ledger_key = None
                answer = run(path_args)
                db.session.commit()
                return answer
            return _idempotent(header, lambda: run(path_args))

        blueprint.add_url_rule(rule, endpoint=view.__name__, view_func=endpoint, methods=[method])
        OPERATIONS.append(op)
        return endpoint

    return decorator


def _idempotent(header: str, run: Callable[[], Response]) -> Response:
    """Claim the key (committed on its own), do the work, store the answer with the work."""
    merchant_id = g.api_merchant_id
    key = idempotency.check_key(header)
    claimed = idempotency.claim(
        db.session,
        merchant_id=merchant_id,
        key=key,
        fingerprint=idempotency.fingerprint(
            request.method, request.path, request.get_data(cache=True)
        ),
    )
    db.session.commit()
    if isinstance(claimed, idempotency.StoredAnswer):
        replay = Response(claimed.body, status=claimed.status_code, mimetype=JSON)
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    record_id = claimed
    g.api_ledger_key = idempotency.ledger_key(merchant_id, key)
    try:
        answer = run()
    except Exception:
        # Refused (or crashed): nothing of the work stays, and neither does the claim, so the
        # corrected request can be sent again under the same key.
        db.session.rollback()
        try:
            idempotency.release(db.session, record_id=record_id)
            db.session.commit()
        except Exception:  # the database may be why we failed; the lease frees the key later
            db.session.rollback()
        raise
    idempotency.store(
        db.session,
        record_id=record_id,
        status_code=answer.status_code,
        body=answer.get_data(as_text=True),
    )
    db.session.commit()
    return answer
