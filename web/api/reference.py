"""The API's reference: the OpenAPI 3.1 document and a page rendered from it, both generated
from the operations' own pydantic models (web/api/operations.py), never written by hand.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from typing import Any

from flask import Response, jsonify, render_template
from pydantic.json_schema import models_json_schema

from loyalty import errors as domain
from web import errors as web_errors
from web.api import blueprint, schemas
from web.api.operations import OPERATIONS, Operation
from web.extensions import limiter

API_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
PREFIX = "/api/v1"
ERROR_STATUSES = (401, 403, 404, 409, 422, 429)
# Path parameters that are not ids: voucher codes (8 letters and digits, a dash allowed).
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "code": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,20}$"},
}
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (a UUID). A retry with the same key and body gets the first answer "
        "back (header Idempotent-Replayed: true) and changes nothing twice; the same key with "
        "another body is refused (422); while the first request runs, 409. Kept 24 hours."
    ),
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
}


def openapi_path(rule: str) -> str:
    return PREFIX + re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Query parameters are absent or text: an optional one is its non-null alternative."""
    schema = dict(schema)
    if schema.get("default", 0) is None:
        del schema["default"]
    options = schema.pop("anyOf", None)
    if options:
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    return schema


def _query_parameters(op: Operation) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    model = op.query.model_json_schema(ref_template=REF)
    required = set(model.get("required", ()))
    parameters = []
    for name, schema in model.get("properties", {}).items():
        schema = _without_null(schema)
        parameter = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in schema.items() if k not in ("title", "description")},
        }
        if schema.get("description"):
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _problem(status: int) -> dict[str, Any]:
    title = web_errors.MESSAGES.get(status, ("Error", ""))[0]
    return {
        "description": title,
        "content": {web_errors.PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def _operation_object(op: Operation) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_SCHEMAS.get(name, ID_SCHEMA),
        }
        for name in op.path_params
    ]
    parameters += _query_parameters(op)
    if op.method == "POST":
        parameters.append(IDEMPOTENCY_HEADER)
    document: dict[str, Any] = {
        "operationId": op.endpoint.split(".")[-1],
        "summary": op.summary,
        "description": inspect.cleandoc(op.description),
        "tags": [op.tag],
        "parameters": parameters,
        "responses": {
            str(op.status): {
                "description": op.response.__name__,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=op.response.__name__)}}
                },
            },
            **{str(status): _problem(status) for status in ERROR_STATUSES},
        },
    }
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}
            },
        }
    if op.writes:
        document["description"] += "\n\nNeeds a key with the write scope."
    return document


@functools.cache
def build_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document; built once per process (the operations are fixed)."""
    bodies = {op.body for op in OPERATIONS if op.body is not None}
    responses = {op.response for op in OPERATIONS} | {schemas.Problem}
    _, top = models_json_schema(
        [(model, "validation") for model in sorted(bodies, key=lambda m: m.__name__)]
        + [(model, "serialization") for model in sorted(responses, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    definitions = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(openapi_path(op.rule), {})[op.method.lower()] = _operation_object(op)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Loyalty API",
            "version": API_VERSION,
            "description": (
                "The REST API for your own systems (till, e-shop): members, points, rewards, "
                "vouchers and promotions. Included in the Enterprise offering. Authenticate "
                "with the header Authorization: Bearer <API key>; owners create keys in the "
                "back-office."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key, e.g. lk_live_…",
                }
            },
        },
    }


def problem_catalogue() -> list[dict[str, str]]:
    """Every `code` a problem can carry, with what it means: the anchors `type` points at."""
    found: dict[str, str] = {}
    for status, code in web_errors.API_CODE_FOR_STATUS.items():
        found[code] = f"{status}: {web_errors.MESSAGES.get(status, ('Error', ''))[1]}"
    found["validation_failed"] = "422: the body or query does not match the schema; see errors[]."

    def walk(cls: type[domain.LoyaltyError]) -> None:
        for sub in cls.__subclasses__():
            status = web_errors.status_for(sub.__new__(sub))
            if sub is domain.FeatureNotInOffering:
                status = 403
            doc = inspect.getdoc(sub) if sub.__doc__ else ""
            found[sub.code] = f"{status}: {doc or sub.__name__}"
            walk(sub)

    walk(domain.LoyaltyError)
    return [
        {"code": code, "type": web_errors.problem_type(code), "meaning": meaning}
        for code, meaning in sorted(found.items())
    ]


def type_of(schema: dict[str, Any]) -> str:
    """A property's type in a few words for the reference page: 'integer ≥ 1', 'Member | null'."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(type_of(option) for option in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"]).replace("'", '"')
    if "enum" in schema:
        return " | ".join(f'"{value}"' for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if schema.get("format"):
        kind += f" ({schema['format']})"
    limits = []
    if "minimum" in schema:
        limits.append(f"≥ {schema['minimum']}")
    if "maximum" in schema and schema["maximum"] < schemas.MAX_ID:
        limits.append(f"≤ {schema['maximum']}")
    if "maxLength" in schema:
        limits.append(f"≤ {schema['maxLength']} chars")
    return " ".join([kind, *limits])


@blueprint.get("/openapi.json")
@limiter.exempt
def openapi_document() -> Response:
    return jsonify(build_document())


@blueprint.get("/docs")
@limiter.exempt
def reference() -> str:
    document = copy.deepcopy(build_document())
    return render_template(
        "api/reference.html",
        document=document,
        operations=OPERATIONS,
        openapi_path=openapi_path,
        schemas=document["components"]["schemas"],
        problems=problem_catalogue(),
        type_of=type_of,
        bare=True,
    )
