"""The ROOK documents the OpenAPI shows as the query API's answers, made by the real transforms.

One document per structure Rookery delivers, from a captured Withings response where one yields
that structure, else from the hand-made Withings records the transform tests use (the captures
hold no temperature, SpO2 or ECG). No Withings field maps to a physical-pillar
`oxygenation_event`, so its example carries the body pillar's SpO2 event: the two structures
share their event model.

The app serves the committed copies (`rookery.api.processed_data.EXAMPLES_DIR`), as the
captures are not shipped. `tests/api/test_rook_examples.py` fails when they differ from what
this module makes; rewrite them with `python -m tests.api.rook_examples`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from rookery.api.processed_data import EXAMPLES_DIR, example_file_name
from rookery.model.body import BodyOxygenationEventDocument
from rookery.model.common import DataStructure, Pillar
from rookery.model.physical import PhysicalOxygenationEventDocument
from rookery.model.structures import STRUCTURES
from rookery.transform.context import Produced
from rookery.withings.responses import Endpoint
from tests.transform.support import CLIENT_UUID, USER_ID, as_json, ctx, fixture_body, run
from tests.transform.test_heart import ECG
from tests.transform.test_measure import OXYGEN, THERMO, body

# Where each structure's example comes from, first match wins: the captures first.
SOURCES: Final[tuple[tuple[Endpoint, str], ...]] = (
    (Endpoint.SLEEP_GETSUMMARY, "sleep_summary.json"),
    (Endpoint.GETACTIVITY, "activity.json"),
    (Endpoint.GETWORKOUTS, "workouts.json"),
    (Endpoint.GETMEAS, "measurement.json"),
    (Endpoint.GETMEAS, "measurement_list_2.json"),
    (Endpoint.GETMEAS, "measurement_list.json"),
)


def _produced() -> Iterator[Produced]:
    for endpoint, name in SOURCES:
        yield from run(endpoint, fixture_body(name))
    yield from run(Endpoint.GETMEAS, body([THERMO, OXYGEN]))
    yield from run(Endpoint.HEART_LIST, {"series": [ECG], "more": False}, ctx("Europe/Paris"))


def make_examples() -> dict[str, dict[str, Any]]:
    """File name → decoded document, for every structure in `STRUCTURES`."""
    first: dict[tuple[Pillar, DataStructure], Produced] = {}
    for item in _produced():
        first.setdefault((item.identity.pillar, item.identity.data_structure), item)
    examples = {
        example_file_name(spec): as_json(first[spec.pillar, spec.data_structure])
        for spec in STRUCTURES
        if (spec.pillar, spec.data_structure) in first
    }
    physical_oxygenation = next(
        spec for spec in STRUCTURES if spec.document_type is PhysicalOxygenationEventDocument
    )
    body_spo2 = first[Pillar.BODY_HEALTH, DataStructure.OXYGENATION_EVENT].document
    assert isinstance(body_spo2, BodyOxygenationEventDocument)
    document = PhysicalOxygenationEventDocument.of(
        body_spo2.events[0], client_uuid=CLIENT_UUID, user_id=USER_ID
    )
    examples[example_file_name(physical_oxygenation)] = json.loads(document.model_dump_json())
    return examples


def serialise(document: Mapping[str, Any]) -> str:
    """The file's text: indented, so that a change reads well in a diff."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name, document in make_examples().items():
        (EXAMPLES_DIR / name).write_text(serialise(document), encoding="utf-8")


if __name__ == "__main__":
    main()
