"""The structures table against ROOK's spec and mapping.md: complete, consistent, and typed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rookery.model.common import EventDocument, SummaryDocument
from rookery.model.structures import (
    STRUCTURES,
    DataStructure,
    Kind,
    Pillar,
    StructureSpec,
    document_type_of,
    parse_document,
    structure_spec,
)
from tests.support.rook_schema import spec_api_paths, spec_file, spec_structures, strict_schema

# What Rookery delivers (the brief; heart rate and oxygenation exist in both pillars).
DELIVERED = {
    ("sleep_summary", "sleep_health"),
    ("physical_summary", "physical_health"),
    ("body_summary", "body_health"),
    ("activity_event", "physical_health"),
    ("heart_rate_event", "physical_health"),
    ("heart_rate_event", "body_health"),
    ("oxygenation_event", "physical_health"),
    ("oxygenation_event", "body_health"),
    ("body_metrics_event", "body_health"),
    ("blood_pressure_event", "body_health"),
    ("temperature_event", "body_health"),
}


def by_schema(spec: StructureSpec) -> str:
    return spec.schema_name


def test_table_lists_each_delivered_structure_once() -> None:
    keys = [(spec.data_structure.value, spec.pillar.value) for spec in STRUCTURES]

    assert sorted(keys) == sorted(DELIVERED)
    assert {spec.data_structure for spec in STRUCTURES} == set(DataStructure)


def test_table_covers_every_structure_mapping_md_names() -> None:
    mapping = (spec_file().parents[1] / "docs" / "mapping.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b[a-z_]+_(?:summary|event)\b", mapping))

    assert named, "mapping.md names no structure: the pattern is out of date"
    assert named <= {spec.data_structure.value for spec in STRUCTURES}


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_row_names_the_schema_that_defines_the_structure(spec: StructureSpec) -> None:
    assert spec_structures()[spec.data_structure.value, spec.pillar.value] == spec.schema_name
    container = "summary" if spec.kind is Kind.SUMMARY else "events"
    pillar = strict_schema(spec.schema_name)["properties"][spec.pillar.value]
    assert list(pillar["properties"]) == [container]


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_row_names_the_api_path_that_returns_the_schema(spec: StructureSpec) -> None:
    assert spec_api_paths()[spec.api_path] == spec.schema_name
    assert spec.api_path.startswith(f"/v2/processed_data/{spec.pillar.value}/")


def test_every_spec_path_for_a_delivered_schema_is_in_the_table() -> None:
    delivered = {spec.schema_name for spec in STRUCTURES}
    spec_paths = {path for path, name in spec_api_paths().items() if name in delivered}

    assert spec_paths == {spec.api_path for spec in STRUCTURES}


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_document_class_agrees_with_its_row(spec: StructureSpec) -> None:
    document_type = spec.document_type
    base = SummaryDocument if spec.kind is Kind.SUMMARY else EventDocument

    assert issubclass(document_type, base)
    assert document_type.model_fields["data_structure"].default == spec.data_structure
    assert spec.pillar.value in document_type.model_fields
    assert not {pillar.value for pillar in Pillar} - {spec.pillar.value} & set(
        document_type.model_fields
    )


def test_structure_spec_finds_rows_by_structure_and_pillar() -> None:
    found = structure_spec("heart_rate_event", "body_health")

    assert found.schema_name == "BodyHeartRateEvent"
    assert found.kind is Kind.EVENT
    assert structure_spec("heart_rate_event", "physical_health").schema_name == "HeartRateEvent"


@pytest.mark.parametrize(
    ("data_structure", "pillar"),
    [("stress_event", "physical_health"), ("sleep_summary", "body_health"), ("x", "y")],
)
def test_structure_spec_rejects_what_rookery_does_not_deliver(
    data_structure: str, pillar: str
) -> None:
    with pytest.raises(ValueError, match="delivers no"):
        structure_spec(data_structure, pillar)


def test_document_type_of_reads_structure_and_pillar() -> None:
    data = {"data_structure": "oxygenation_event", "physical_health": {}}

    assert (
        document_type_of(data)
        is structure_spec("oxygenation_event", "physical_health").document_type
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"{}",
        b'{"data_structure": "sleep_summary", "sleep_health": {}, "body_health": {}}',
        b'{"data_structure": "sleep_summary", "sleep_health": {}}',
        b"not json",
    ],
    ids=["array", "no-pillar", "two-pillars", "no-envelope", "not-json"],
)
def test_parse_document_rejects_bad_input_with_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails for its own reason
        parse_document(raw)


def test_spec_is_found_next_to_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOKERY_SHARED_DIR", "/elsewhere/shared")

    assert spec_file() == Path("/elsewhere/shared/spec/rook-openapi.yaml")
