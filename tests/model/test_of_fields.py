"""`of_fields` builds a document in one validation; it must give exactly what `of` gives from
the structure model, and reject exactly what the models reject."""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from rookery.model.common import DataStructure, EventDocument, RookDocument, SummaryDocument
from rookery.model.structures import STRUCTURES, StructureSpec
from tests.model.filled import CLIENT_UUID, USER_ID, filled_document_data
from tests.model.paths import get, leaf_paths, replaced


def by_schema(spec: StructureSpec) -> str:
    return spec.schema_name


def structure_fields(document_type: type[RookDocument]) -> dict[str, Any]:
    """Every field of the document's structure filled, by ROOK key (one event for events)."""
    data = filled_document_data(document_type)
    inner = data[document_type.PILLAR]["summary" if document_type.KIND == "summary" else "events"]
    fields = inner[document_type.DATA_STRUCTURE]
    return dict(fields[0] if isinstance(fields, list) else fields)


def fields_sets(model: object, path: str = "$") -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """Each model's path, class and `model_fields_set`, depth first."""
    if isinstance(model, BaseModel):
        yield path, type(model).__name__, tuple(sorted(model.model_fields_set))
        for key, value in model.__dict__.items():
            yield from fields_sets(value, f"{path}.{key}")
    elif isinstance(model, tuple):
        for index, value in enumerate(model):
            yield from fields_sets(value, f"{path}[{index}]")


def both_ways(spec: StructureSpec, fields: dict[str, Any]) -> tuple[RookDocument, RookDocument]:
    """The document from `of_fields(fields)` and from `of(<Structure>.model_validate(fields))`."""
    document_type = spec.document_type
    envelope: dict[str, Any] = {"client_uuid": CLIENT_UUID, "user_id": USER_ID}
    if issubclass(document_type, SummaryDocument):
        summary_type = type(document_type.empty(**envelope).summary)
        summary = document_type.of_fields(fields, document_version=4, **envelope)
        validated = document_type.of(
            summary_type.model_validate(fields), document_version=4, **envelope
        )
        return summary, validated
    assert issubclass(document_type, EventDocument)
    pillar_type = document_type.model_fields[document_type.PILLAR].annotation
    box_type = pillar_type.model_fields["events"].annotation  # type: ignore[union-attr]
    events_type = box_type.model_fields[document_type.DATA_STRUCTURE].annotation
    event_type = typing.get_args(events_type)[0]
    fast = document_type.of_fields(fields, auto_detected=True, **envelope)
    slow = document_type.of(event_type.model_validate(fields), auto_detected=True, **envelope)
    return fast, slow


def assert_same(fast: RookDocument, slow: RookDocument) -> None:
    assert type(fast) is type(slow)
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_dump() == slow.model_dump()
    assert list(fields_sets(fast)) == list(fields_sets(slow))


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_of_fields_equals_of_with_every_field_filled(spec: StructureSpec) -> None:
    assert_same(*both_ways(spec, structure_fields(spec.document_type)))


@settings(max_examples=60, deadline=None)
@given(spec=st.sampled_from(STRUCTURES), data=st.data())
def test_of_fields_equals_of_for_any_subset_of_fields(
    spec: StructureSpec, data: st.DataObject
) -> None:
    """Fields left out (at the structure and at the section level) take the same defaults and
    leave the same `model_fields_set` either way."""
    fields: dict[str, Any] = {}
    for key, value in structure_fields(spec.document_type).items():
        if not data.draw(st.booleans(), label=f"keep {key}"):
            continue
        if isinstance(value, dict) and key != "metadata":
            kept = data.draw(st.sets(st.sampled_from(sorted(value))), label=f"{key} keys")
            value = {name: value[name] for name in sorted(kept)}
        fields[key] = value
    assert_same(*both_ways(spec, fields))


def of_fields(
    document_type: type[RookDocument], fields: dict[str, Any], user_id: str = USER_ID
) -> RookDocument:
    if issubclass(document_type, SummaryDocument):
        return document_type.of_fields(fields, client_uuid=CLIENT_UUID, user_id=user_id)
    assert issubclass(document_type, EventDocument)
    return document_type.of_fields(fields, client_uuid=CLIENT_UUID, user_id=user_id)


def number_path(fields: dict[str, Any]) -> tuple[str | int, ...]:
    """The path of the first number in a section (not in the free-form raw records)."""
    return next(
        path
        for path in leaf_paths(fields)
        if path[0] != "non_structured_data_array" and type(get(fields, path)) in (int, float)
    )


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_of_fields_rejects_what_the_models_reject(spec: StructureSpec) -> None:
    document_type = spec.document_type
    fields = structure_fields(document_type)
    with pytest.raises(ValidationError, match="extra"):
        of_fields(document_type, {**fields, "not_a_rook_key": 1})
    number = number_path(fields)
    with pytest.raises(ValidationError, match=r"finite|integer"):
        of_fields(document_type, replaced(fields, number, math.nan))
    with pytest.raises(ValidationError):
        of_fields(document_type, replaced(fields, number, "seven"))
    with pytest.raises(ValidationError, match="differs from user_id"):
        of_fields(document_type, fields, user_id="someone-else")


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_data_structure_is_the_enum_member_and_serialises_as_its_string(
    spec: StructureSpec,
) -> None:
    document = spec.document_type.empty(client_uuid=CLIENT_UUID, user_id=USER_ID)
    assert type(document.model_dump()["data_structure"]) is DataStructure
    assert document.model_dump(mode="json")["data_structure"] == spec.data_structure.value
    assert json.loads(document.model_dump_json())["data_structure"] == spec.data_structure.value
