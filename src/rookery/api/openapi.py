"""The OpenAPI document, with its examples whole and no 422 that cannot happen.

FastAPI writes the document with `exclude_none`, which also drops every null inside every
example. A ROOK document has every key, null where there is no value, so an example without its
nulls misdocuments the wire format. `RookeryAPI.openapi` puts back the examples the routes and
models declare, in the places FastAPI already wrote them (it adds none of its own).

FastAPI also documents a 422 for every operation with a parameter. A path parameter matched by
Starlette's `uuid` convertor (`/{delivery_id:uuid}`) is checked by the router itself (any other
segment matches no route: 404), so an operation with no other input cannot answer 422.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute


class RookeryAPI(FastAPI):
    """FastAPI whose OpenAPI document keeps the nulls of its examples."""

    def openapi(self) -> dict[str, Any]:
        before = self.openapi_schema
        schema = super().openapi()
        if schema is not before:  # built just now (FastAPI caches it until the routes change)
            restore_examples(schema, self.routes)
        return schema


def restore_examples(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Put back, in `schema`, the examples of `routes`' answers and of their models."""
    components = schema.get("components", {}).get("schemas", {})
    # Route contexts, as FastAPI's own `get_openapi` reads them: an included router's routes
    # carry its prefix and its declared responses.
    for context in routing.iter_route_contexts(list(routes)):
        if not isinstance(context.original_route, APIRoute):
            continue
        route: Any = context
        if not route.include_in_schema:
            continue
        operations = schema["paths"].get(route.path_format, {})
        routed = set(_ROUTED_PARAMETER.findall(str(route.path)))
        for method in route.methods or ():
            operation = operations.get(method.lower(), {})
            responses = operation.get("responses", {})
            if _checked_by_the_router_alone(operation, routed):
                responses.pop(_UNPROCESSABLE, None)
            for status, declared in route.responses.items():
                for media, content in declared.get("content", {}).items():
                    written = responses.get(str(status), {}).get("content", {}).get(media)
                    if written is not None and "example" in content and "example" in written:
                        written["example"] = content["example"]
        for model in _models_of(route):
            for name, model_schema in _schemas_by_name(model):
                if "examples" in model_schema and "examples" in components.get(name, {}):
                    components[name]["examples"] = model_schema["examples"]


_ROUTED_PARAMETER: Final = re.compile(r"\{(\w+):uuid\}")
_UNPROCESSABLE: Final = "422"


def _checked_by_the_router_alone(operation: dict[str, Any], routed: set[str]) -> bool:
    """Whether every input of `operation` is a path parameter the router matched (`routed`)."""
    return "requestBody" not in operation and all(
        parameter["in"] == "path" and parameter["name"] in routed
        for parameter in operation.get("parameters", [])
    )


def _models_of(route: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models of `route`'s answer and body (`route`: an API route's context)."""
    candidates = [route.response_model]
    if route.body_field is not None:
        candidates.append(route.body_field.field_info.annotation)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            yield candidate


def _schemas_by_name(model: type[BaseModel]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`model`'s JSON schema and those of the models it nests, by component name."""
    generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
    yield from generated.pop("$defs", {}).items()
    yield model.__name__, generated
