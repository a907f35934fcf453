"""The OpenAPI at `/docs` documents every operation completely: a summary and a description, a
schema for the success answer (or an explicit empty one), the error answers its inputs and its
authentication can produce (and no 422 where nothing can be invalid), and examples for every
request body and every success answer with a body."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import routing
from pydantic import BaseModel

from rookery.api import authorizers as api_authorizers
from rookery.api import client as api_client
from rookery.api import deliveries as api_deliveries
from rookery.api import health as api_health
from rookery.api import sync_status as api_sync_status
from rookery.app import create_app
from rookery.config import load_settings

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
JSON = "application/json"


APP = create_app(load_settings({}))
SPEC: dict[str, Any] = APP.openapi()
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


# Path parameters the router itself checks: a segment that is not a UUID matches no route (404),
# so a `{name:uuid}` parameter can never be invalid once the route runs.
ROUTED_PARAMETERS = {
    (method.lower(), route.path_format): set(re.findall(r"\{(\w+):uuid\}", str(route.path)))
    for route in routing.iter_route_contexts(APP.routes)
    if isinstance(route.original_route, routing.APIRoute)
    for method in route.methods or ()
}


def _validates_input(name: str, operation: dict[str, Any]) -> bool:
    method, path = name.split(" ", 1)
    routed = ROUTED_PARAMETERS.get((method.lower(), path), set())
    checked = [
        parameter
        for parameter in operation.get("parameters", [])
        if not (parameter["in"] == "path" and parameter["name"] in routed)
    ]
    return bool(checked) or "requestBody" in operation


def test_the_app_has_operations_and_client_endpoints() -> None:
    # The checks below must have something to check, and must recognise client endpoints and
    # the parameters the router checks.
    assert len(OPERATIONS) > 20
    assert sum(_is_client_endpoint(operation) for _, operation in OPERATIONS) > 20
    assert ROUTED_PARAMETERS["get", "/api/v1/client/deliveries/{delivery_id}"] == {"delivery_id"}


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
    if _validates_input(name, operation):
        assert {"400", "422"} & set(responses), f"{name}: validates input, documents no 400/422"
    else:
        assert "422" not in responses, f"{name}: nothing to validate, yet documents 422"
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


SUCCESS_BODIES = [
    (f"{name} {status} {media_type}", body)
    for name, operation in OPERATIONS
    for status, answer in operation["responses"].items()
    if status.startswith("2")
    for media_type, body in answer.get("content", {}).items()
]


@pytest.mark.parametrize(("name", "body"), SUCCESS_BODIES, ids=[name for name, _ in SUCCESS_BODIES])
def test_success_answers_have_examples(name: str, body: dict[str, Any]) -> None:
    # A 204, or a 200 declared empty, has no `content`, so it is not listed here.
    schema = _resolve(body.get("schema", {}))
    assert "example" in body or "examples" in body or "examples" in schema, (
        f"{name}: success answer without an example"
    )


def test_every_operation_with_a_success_body_is_checked_for_an_example() -> None:
    # The parametrisation above must see the operations it is about.
    assert len(SUCCESS_BODIES) > 30
    assert any(name.startswith("GET /v2/processed_data/") for name, _ in SUCCESS_BODIES)


def _example_models() -> list[type[BaseModel]]:
    models = []
    for module in (api_authorizers, api_client, api_deliveries, api_health, api_sync_status):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
                and "examples" in value.model_json_schema()
            ):
                models.append(value)
    return models


EXAMPLE_MODELS = _example_models()


@pytest.mark.parametrize("model", EXAMPLE_MODELS, ids=[m.__name__ for m in EXAMPLE_MODELS])
def test_model_examples_are_what_the_model_writes(model: type[BaseModel]) -> None:
    # Hand-written examples: each must be an answer the model could give, as it writes it.
    for example in model.model_json_schema()["examples"]:
        assert json.loads(model.model_validate(example).model_dump_json()) == example


def test_the_example_models_are_found() -> None:
    assert len(EXAMPLE_MODELS) > 15


@pytest.mark.parametrize("model", EXAMPLE_MODELS, ids=[m.__name__ for m in EXAMPLE_MODELS])
def test_the_document_shows_model_examples_whole(model: type[BaseModel]) -> None:
    # FastAPI writes the document without nulls, examples' included; `rookery.api.openapi` puts
    # them back, so an example documents every key the model writes.
    component = SPEC["components"]["schemas"][model.__name__]
    assert component["examples"] == model.model_json_schema()["examples"]


def test_an_example_keeps_its_nulls() -> None:
    example = SPEC["components"]["schemas"]["DeliveryOut"]["examples"][0]
    assert example["event"] is None
    assert "dead_at" in example
