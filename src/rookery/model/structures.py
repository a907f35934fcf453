"""The ROOK structures Rookery delivers, declared as data.

`STRUCTURES` is the one list of them: the query API, the schema tests and the docs are generated
from it. Each row names the document class; the class itself names its pillar and structure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from rookery.model.body import (
    BloodPressureEventDocument,
    BodyHeartRateEventDocument,
    BodyMetricsEventDocument,
    BodyOxygenationEventDocument,
    BodySummaryDocument,
    TemperatureEventDocument,
)
from rookery.model.common import DataStructure, Kind, Pillar, RookDocument
from rookery.model.physical import (
    ActivityEventDocument,
    PhysicalHeartRateEventDocument,
    PhysicalOxygenationEventDocument,
    PhysicalSummaryDocument,
)
from rookery.model.sleep import SleepSummaryDocument

__all__ = [
    "STRUCTURES",
    "DataStructure",
    "Kind",
    "Pillar",
    "StructureSpec",
    "document_type_of",
    "parse_document",
    "structure_spec",
]


@dataclass(frozen=True, slots=True)
class StructureSpec:
    """One deliverable structure: its document class, ROOK schema name and query API path."""

    document_type: type[RookDocument]
    schema_name: str
    """The schema's name under `components.schemas` of rook-openapi.yaml."""
    api_path: str
    """The ROOK query API path that returns it (`?user_id=&date=YYYY-MM-DD`)."""

    @property
    def data_structure(self) -> DataStructure:
        return self.document_type.DATA_STRUCTURE

    @property
    def pillar(self) -> Pillar:
        return self.document_type.PILLAR

    @property
    def kind(self) -> Kind:
        return self.document_type.KIND


STRUCTURES: Final[tuple[StructureSpec, ...]] = (
    StructureSpec(SleepSummaryDocument, "SleepSummary", "/v2/processed_data/sleep_health/summary"),
    StructureSpec(
        PhysicalSummaryDocument, "PhysicalSummary", "/v2/processed_data/physical_health/summary"
    ),
    StructureSpec(
        ActivityEventDocument,
        "ActivityEvent",
        "/v2/processed_data/physical_health/events/activity",
    ),
    StructureSpec(
        PhysicalHeartRateEventDocument,
        "HeartRateEvent",
        "/v2/processed_data/physical_health/events/heart_rate",
    ),
    StructureSpec(
        PhysicalOxygenationEventDocument,
        "OxygenationEvent",
        "/v2/processed_data/physical_health/events/oxygenation",
    ),
    StructureSpec(BodySummaryDocument, "BodySummary", "/v2/processed_data/body_health/summary"),
    StructureSpec(
        BodyMetricsEventDocument,
        "BodyMetricsEvent",
        "/v2/processed_data/body_health/events/body_metrics",
    ),
    StructureSpec(
        BloodPressureEventDocument,
        "BodyBloodPressureEvent",
        "/v2/processed_data/body_health/events/blood_pressure",
    ),
    StructureSpec(
        BodyHeartRateEventDocument,
        "BodyHeartRateEvent",
        "/v2/processed_data/body_health/events/heart_rate",
    ),
    StructureSpec(
        BodyOxygenationEventDocument,
        "BodyOxygenationEvent",
        "/v2/processed_data/body_health/events/oxygenation",
    ),
    StructureSpec(
        TemperatureEventDocument,
        "BodyTemperatureEvent",
        "/v2/processed_data/body_health/events/temperature",
    ),
)

_BY_KEY: Final[dict[tuple[DataStructure, Pillar], StructureSpec]] = {
    (spec.data_structure, spec.pillar): spec for spec in STRUCTURES
}


def structure_spec(data_structure: str, pillar: str) -> StructureSpec:
    """The row for (`data_structure`, `pillar`); ValueError if Rookery does not deliver it."""
    try:
        return _BY_KEY[DataStructure(data_structure), Pillar(pillar)]
    except (KeyError, ValueError):
        raise ValueError(
            f"Rookery delivers no {data_structure!r} in the {pillar!r} pillar"
        ) from None


def document_type_of(data: Mapping[str, Any]) -> type[RookDocument]:
    """The document class for a decoded document, from its `data_structure` and pillar key."""
    pillars = [pillar for pillar in Pillar if pillar.value in data]
    if len(pillars) != 1:
        raise ValueError(f"a ROOK document has exactly one pillar key, found {len(pillars)}")
    return structure_spec(str(data.get("data_structure")), pillars[0]).document_type


def parse_document(data: str | bytes | Mapping[str, Any]) -> RookDocument:
    """A document read back from its JSON (or decoded JSON), as its own class.

    Raises ValueError (pydantic's ValidationError is one) for anything that is not a valid ROOK
    document of a structure Rookery delivers.
    """
    decoded = json.loads(data) if isinstance(data, str | bytes) else data
    if not isinstance(decoded, Mapping):
        raise ValueError("a ROOK document is a JSON object")
    return document_type_of(decoded).model_validate(decoded)
