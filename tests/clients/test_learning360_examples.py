"""The 360Learning documents' own examples, replayed through the client's parsers (wire → domain).

The OpenAPI documents give examples per property, not per response: each documented success
body is assembled from them (every ``oneOf`` branch of it), read from the files in
``shared/api/`` at test time, and must parse into the domain types without loss.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from personio360.learning360 import wire

API = Path(__file__).resolve().parents[2].parent / "shared" / "api"
CORE = json.loads((API / "360learning-core-api.openapi.json").read_text(encoding="utf-8"))
BULK = json.loads((API / "360learning-bulk-api.openapi.json").read_text(encoding="utf-8"))


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def examples(doc: dict[str, Any], schema: dict[str, Any]) -> list[Any]:  # noqa: PLR0911 (one return per schema form)
    """Every body the schema's examples can build: one per ``oneOf``/enum branch where it matters."""
    schema = _resolve(doc, schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return [e for branch in schema[key] for e in examples(doc, branch)]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            for value in examples(doc, part)[:1]:
                if isinstance(value, dict):
                    merged.update(value)
        return [merged]
    kind = schema.get("type")
    if kind == "array":
        items = examples(doc, schema["items"])
        return [items] if items else []
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        body: dict[str, Any] = {}
        for name, prop in props.items():
            values = examples(doc, prop)
            if values:
                body[name] = values[0]
        return [body]
    if "example" in schema:
        return [schema["example"]]
    if "enum" in schema:
        return [schema["enum"][0]]
    if "const" in schema:
        return [schema["const"]]
    return {"string": ["text"], "number": [1], "integer": [1], "boolean": [True]}.get(kind or "", [])


def _success(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses = doc["paths"][path][method]["responses"]
    code = next(c for c in ("200", "201") if c in responses)
    return responses[code]["content"]["application/json"]["schema"]


def _first(doc: dict[str, Any], path: str, method: str) -> Any:
    body = examples(doc, _success(doc, path, method))[0]
    return body[0] if isinstance(body, list) else body


CASES = [
    ("/api/v2/users/{userId}", "get", wire.User),
    ("/api/v2/users", "post", wire.User),
    ("/api/v2/external-ids", "post", wire.ExternalId),
    ("/api/v2/custom-fields", "post", wire.CustomField),
    ("/api/v2/groups/{groupId}", "get", wire.Group),
    ("/api/v2/groups/{groupId}/roles", "get", wire.GroupMember),
    ("/api/v2/users/{userId}/roles", "get", wire.UserMembership),
    ("/api/v2/users/{userId}/custom-fields/values", "get", wire.CustomValue),
]


@pytest.mark.parametrize(("path", "method", "model"), CASES, ids=[f"{m} {p}" for p, m, _ in CASES])
def test_documented_example_parses(path: str, method: str, model: type[Any]) -> None:
    """Each documented success body, built from the document's examples, parses into the domain."""
    body = _first(CORE, path, method)
    parsed = model.model_validate(body)
    assert parsed is not None


def test_documented_user_keeps_its_fields() -> None:
    """The documented user example keeps its id, mail, names, job and status through the parser."""
    body = _first(CORE, "/api/v2/users/{userId}", "get")
    user = wire.User.model_validate(body).to_domain()
    assert (user.id, user.mail, user.first_name, user.last_name, user.job) == (
        body["_id"], body["mail"], body["firstName"], body["lastName"], body["job"])
    assert user.status == body["status"]


def test_documented_external_id_keeps_its_fields() -> None:
    """The documented external-ID mapping example keeps platform, target and value."""
    body = _first(CORE, "/api/v2/external-ids", "post")
    mapping = wire.ExternalId.model_validate(body).to_domain()
    assert (mapping.id, mapping.platform, mapping.target_id, mapping.value) == (
        body["_id"], body["platform"], body["targetId"], body["value"])


def test_documented_managers_are_ids() -> None:
    """The documented managers answer is a list of user ids, which the client yields as strings."""
    body = examples(CORE, _success(CORE, "/api/v2/users/{userId}/managers", "get"))[0]
    assert all(isinstance(item, str) for item in body)


@pytest.mark.parametrize(
    "body",
    examples(BULK, _success(BULK, "/api/v2/bulk/operations/{bulkOperationId}", "get")),
    ids=lambda body: str(body.get("status", "?")),
)
def test_every_documented_bulk_operation_state_parses(body: dict[str, Any]) -> None:
    """Each documented bulk operation state (pending … errored) parses into a BulkOperation."""
    operation = wire.BulkOperation.model_validate(body).to_domain()
    assert operation.status in {"pending", "queued", "running", "completed", "errored"}


def test_documented_bulk_results_parse() -> None:
    """The documented bulk results (a success and an error) parse, one result per item, in order."""
    body = examples(BULK, _success(BULK, "/api/v2/bulk/operations/{bulkOperationId}/results", "get"))[0]
    results = [wire.BulkResult.model_validate(item).to_domain(i) for i, item in enumerate(body)]
    assert [r.ok for r in results] == [item["status"] == "success" for item in body]
    assert len(results) == 2
