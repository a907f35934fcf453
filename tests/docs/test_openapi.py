"""The OpenAPI at `/docs` documents every operation completely: a summary and a description, a
schema for the success answer (or an explicit empty one), the error answers its inputs and its
authentication can produce, and examples for every request body."""

from __future__ import annotations

from typing import Any

import pytest

from rookery.app import create_app
from rookery.config import load_settings

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
JSON = "application/json"


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = create_app(load_settings({})).openapi()
    return spec


SPEC = _spec()
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in HTTP_METHODS
]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = SPEC["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


BASIC_SCHEMES = {
    name
    for name, scheme in SPEC["components"]["securitySchemes"].items()
    if scheme.get("scheme") == "basic"
}


def _is_client_endpoint(operation: dict[str, Any]) -> bool:
    return any(BASIC_SCHEMES & set(requirement) for requirement in operation.get("security", []))


def _validates_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters")) or "requestBody" in operation


def test_the_app_has_operations_and_client_endpoints() -> None:
    # The checks below must have something to check, and must recognise client endpoints.
    assert len(OPERATIONS) > 20
    assert sum(_is_client_endpoint(operation) for _, operation in OPERATIONS) > 20


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_operation_has_summary_and_description(name: str, operation: dict[str, Any]) -> None:
    assert operation.get("summary", "").strip(), f"{name}: no summary"
    assert operation.get("description", "").strip(), f"{name}: no description"


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_success_answer_is_documented(name: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    successes = sorted(code for code in responses if code.startswith(("2", "3")))
    assert successes, f"{name}: no success status"
    status = successes[0]
    answer = responses[status]
    assert answer.get("description"), f"{name}: {status} without a description"
    content = answer.get("content")
    if content is None:
        # FastAPI gives every route a JSON body unless the route declares an empty answer.
        return
    for media_type, body in content.items():
        schema = _resolve(body.get("schema", {}))
        if not media_type.startswith(JSON):
            # HTML pages, Prometheus' text format: the media type is the documentation.
            continue
        assert (schema and schema != {"type": "object"}) or "example" in body, (
            f"{name}: {status} {media_type} has no response model"
        )


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_error_answers_are_documented(name: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    if _is_client_endpoint(operation):
        assert "401" in responses, f"{name}: a client endpoint without 401"
    if _validates_input(operation):
        assert {"400", "422"} & set(responses), f"{name}: validates input, documents no 400/422"
    for code, answer in responses.items():
        if code.startswith(("4", "5")):
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            assert schema.get("$ref", "").endswith("/ErrorBody"), f"{name}: {code} not ErrorBody"


BODIES = [(name, op) for name, op in OPERATIONS if "requestBody" in op]


@pytest.mark.parametrize(("name", "operation"), BODIES, ids=[name for name, _ in BODIES])
def test_request_bodies_have_examples(name: str, operation: dict[str, Any]) -> None:
    for media_type, body in operation["requestBody"]["content"].items():
        schema = _resolve(body.get("schema", {}))
        assert "example" in body or "examples" in body or "examples" in schema, (
            f"{name}: {media_type} request body without an example"
        )
