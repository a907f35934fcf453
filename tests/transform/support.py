"""Helpers for the transform tests: run a raw body through its transform, check every document
against ROOK's schema, and pick documents apart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from rookery.transform.context import Produced, UserContext
from rookery.transform.dispatch import transform_response
from rookery.transform.time import zone
from rookery.withings.responses import Endpoint
from tests.support.rook_schema import spec_file, validate_document

CLIENT_UUID: Final = "7b1f3c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d"
USER_ID: Final = "user-42"
FIXTURES: Final = spec_file().parents[1] / "fixtures" / "withings-captured"


def ctx(timezone: str = "UTC", **kwargs: Any) -> UserContext:
    """The test user's context, in `timezone`."""
    return UserContext(client_uuid=CLIENT_UUID, user_id=USER_ID, timezone=zone(timezone), **kwargs)


def run(
    endpoint: Endpoint, body: Mapping[str, Any], context: UserContext | None = None
) -> list[Produced]:
    """Every document `body` yields, each checked against its ROOK schema."""
    produced = transform_response(endpoint, body, context or ctx())
    for item in produced:
        validate_document(as_json(item))
    return produced


def as_json(item: Produced) -> dict[str, Any]:
    """The document as a client receives it (decoded from its JSON serialisation)."""
    decoded: dict[str, Any] = json.loads(item.document.model_dump_json())
    return decoded


def jsons(produced: Sequence[Produced]) -> list[dict[str, Any]]:
    return [as_json(item) for item in produced]


def structure(document: Mapping[str, Any]) -> dict[str, Any]:
    """The summary object, or the single event, of a decoded document."""
    pillar_key = next(
        key for key in ("sleep_health", "physical_health", "body_health") if key in document
    )
    pillar = document[pillar_key]
    name = document["data_structure"]
    if "summary" in pillar:
        found: dict[str, Any] = pillar["summary"][name]
        return found
    (event,) = pillar["events"][name]
    return dict(event)


def of_structure(
    produced: Sequence[Produced], data_structure: str, pillar: str
) -> list[dict[str, Any]]:
    """The decoded documents of one structure in one pillar, in output order."""
    return [
        as_json(item)
        for item in produced
        if item.identity.data_structure == data_structure and item.identity.pillar == pillar
    ]


def fixture_body(name: str, timezone: str = "Europe/Amsterdam") -> dict[str, Any]:
    """A captured response's body; the bare measure-group arrays are wrapped as getmeas bodies
    (in `timezone`, as they carry none)."""
    decoded = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    if isinstance(decoded, list):
        return {"measuregrps": decoded, "timezone": timezone, "more": 0, "offset": 0}
    body: dict[str, Any] = decoded["body"]
    return body


def fixture_path(name: str) -> Path:
    return FIXTURES / name
