"""Validate documents against ROOK's own schemas (`shared/spec/rook-openapi.yaml`), made strict.

The schemas are read from the spec, `$ref`s resolved with `referencing`, and each is tightened:
- every typed leaf inside the pillar also accepts `null` (ROOK's OpenAPI declares no `nullable`,
  yet ROOK's payloads carry `null` for what a source lacks: docs/mapping.md);
- every object requires all of its properties, so a missing or misspelt key fails;
- an object with declared properties accepts no others (free-form objects, such as the items of
  `non_structured_data_array`, stay free), except the keys mapping.md adds to an item shape.

The envelope's own leaves (`version`, `client_uuid`, `user_id`, ...) stay non-null. Validators are
compiled once per schema, so running `validate_document` over thousands of documents is cheap.
The spec is found at `<repo>/../shared/spec/rook-openapi.yaml`, or under `$ROOKERY_SHARED_DIR`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing._core import Resolver  # the type of Registry.resolver(); not re-exported
from referencing.jsonschema import DRAFT202012

SHARED_DIR_ENV: Final = "ROOKERY_SHARED_DIR"
PILLARS: Final = ("physical_health", "sleep_health", "body_health")
_SPEC_URI: Final = "urn:rookery:rook-openapi"
_SCALAR_TYPES: Final = frozenset({"string", "number", "integer", "boolean"})

# Keys mapping.md adds to the schema's item shape, by the array that holds the items:
# heart-rate samples carry their interval (`{datetime_string, interval_duration_seconds_float,
# hr_bpm_int}`), as ROOK's own builder writes them.
MAPPING_ITEM_EXTRAS: Final[Mapping[str, Mapping[str, Any]]] = {
    "hr_granular_data_array": {"interval_duration_seconds_float": {"type": "number"}},
}


class RookSchemaError(AssertionError):
    """A document does not match its ROOK schema; the message lists every failing path."""


def spec_file() -> Path:
    """Where rook-openapi.yaml is: under `$ROOKERY_SHARED_DIR`, else next to the repository."""
    shared = os.environ.get(SHARED_DIR_ENV)
    base = Path(shared) if shared else Path(__file__).resolve().parents[2].parent / "shared"
    return base / "spec" / "rook-openapi.yaml"


@cache
def spec() -> dict[str, Any]:
    """ROOK's OpenAPI document, as published."""
    with spec_file().open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.safe_load(stream)
    return loaded


@cache
def _resolver() -> Resolver[Any]:
    resource = DRAFT202012.create_resource(spec())
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry.resolver(base_uri=_SPEC_URI)


def _inline(node: Any, resolver: Resolver[Any]) -> Any:
    """`node` with every `$ref` replaced by what it points to (ROOK's schemas do not recurse)."""
    if isinstance(node, dict):
        if "$ref" in node:
            resolved = resolver.lookup(node["$ref"])
            return _inline(resolved.contents, resolved.resolver)
        return {key: _inline(value, resolver) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, resolver) for value in node]
    return node


def _merge_all_of(node: dict[str, Any]) -> dict[str, Any]:
    """One object schema from an `allOf` of object schemas, so `required` and
    `additionalProperties` see every property at once."""
    if "allOf" not in node:
        return node
    merged: dict[str, Any] = {"type": "object", "properties": {}}
    for part in node["allOf"]:
        part = _merge_all_of(part)
        if part.get("type", "object") != "object":
            raise ValueError(f"allOf of a non-object schema: {part}")
        merged["properties"].update(part.get("properties", {}))
    return merged


def _tighten(
    node: dict[str, Any], *, nullable: bool, extra_properties: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    node = _merge_all_of(node)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        if not node.get("properties"):
            return node  # free-form, such as a raw record in non_structured_data_array
        properties = {**node["properties"], **(extra_properties or {})}
        return {
            **node,
            "type": "object",
            "properties": {
                name: _tighten(value, nullable=True, extra_properties=MAPPING_ITEM_EXTRAS.get(name))
                for name, value in properties.items()
            },
            "required": sorted(properties),
            "additionalProperties": node.get("additionalProperties", False),
        }
    if kind == "array":
        items = _tighten(node["items"], nullable=False, extra_properties=extra_properties)
        return {**node, "items": items}
    if nullable and kind in _SCALAR_TYPES:
        return {**node, "type": [kind, "null"]}
    return node


@cache
def strict_schema(schema_name: str) -> dict[str, Any]:
    """The named schema of `components.schemas`, resolved and tightened as described above."""
    schemas = spec()["components"]["schemas"]
    if schema_name not in schemas:
        raise KeyError(f"rook-openapi.yaml has no schema {schema_name!r}")
    root = _merge_all_of(_inline(schemas[schema_name], _resolver()))
    envelope = {name: value for name, value in root["properties"].items() if name not in PILLARS}
    pillars = {
        name: _tighten(value, nullable=True)
        for name, value in root["properties"].items()
        if name in PILLARS
    }
    return {
        "type": "object",
        "properties": {**envelope, **pillars},
        "required": sorted(root["properties"]),
        "additionalProperties": False,
    }


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    return Draft202012Validator(strict_schema(schema_name))


@cache
def spec_structures() -> dict[tuple[str, str], str]:
    """Every structure the spec defines: (data_structure, pillar) → schema name, read from
    where each schema nests it (`<pillar>.summary|events.<data_structure>`)."""
    index: dict[tuple[str, str], str] = {}
    for name, schema in spec()["components"]["schemas"].items():
        root = _merge_all_of(_inline(schema, _resolver()))
        for pillar in PILLARS:
            containers = root.get("properties", {}).get(pillar, {}).get("properties", {})
            for container in ("summary", "events"):
                for data_structure in containers.get(container, {}).get("properties", {}):
                    index[data_structure, pillar] = name
    return index


@cache
def spec_api_paths() -> dict[str, str]:
    """Every GET path of the spec whose 200 response is a component schema → that schema."""
    paths: dict[str, str] = {}
    for path, operations in spec()["paths"].items():
        response = operations.get("get", {}).get("responses", {}).get("200", {})
        ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            paths[path] = ref.rsplit("/", 1)[1]
    return paths


def schema_name(data_structure: str, pillar: str) -> str:
    """The schema that defines `data_structure` in `pillar`."""
    try:
        return spec_structures()[data_structure, pillar]
    except KeyError:
        raise RookSchemaError(
            f"rook-openapi.yaml defines no {data_structure!r} in {pillar!r}"
        ) from None


def schema_name_of(document: Mapping[str, Any]) -> str:
    """The schema a decoded document must match, from its `data_structure` and pillar key."""
    pillars = [pillar for pillar in PILLARS if pillar in document]
    if len(pillars) != 1:
        raise RookSchemaError(f"expected exactly one pillar key of {PILLARS}, got {pillars}")
    return schema_name(str(document.get("data_structure")), pillars[0])


def _where(path: Iterable[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text.lstrip(".") or "<document>"


def validate_document(document: Mapping[str, Any], *, max_errors: int = 20) -> None:
    """Raise RookSchemaError, listing the failing paths, unless `document` (decoded JSON)
    matches its ROOK schema made strict."""
    name = schema_name_of(document)
    validator = _validator(name)
    if validator.is_valid(document):
        return
    errors = sorted(validator.iter_errors(document), key=lambda error: list(map(str, error.path)))
    lines = [f"  {_where(error.absolute_path)}: {error.message}" for error in errors[:max_errors]]
    if len(errors) > max_errors:
        lines.append(f"  ... and {len(errors) - max_errors} more")
    raise RookSchemaError(f"document does not match {name}:\n" + "\n".join(lines))
