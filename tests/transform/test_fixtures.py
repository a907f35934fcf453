"""Every captured Withings response goes through its transform and every document is valid."""

from __future__ import annotations

import pytest

from rookery.withings.responses import Endpoint
from tests.transform.support import fixture_body, run

TRANSFORMABLE = [
    ("activity.json", Endpoint.GETACTIVITY, 2),
    ("measurement.json", Endpoint.GETMEAS, 2),
    ("measurement_list.json", Endpoint.GETMEAS, 3074),
    ("measurement_list_2.json", Endpoint.GETMEAS, 38),
    ("measurement_positions.json", Endpoint.GETMEAS, 4),
    ("sleep.json", Endpoint.SLEEP_GET, 7),
    ("sleep_no_datafields.json", Endpoint.SLEEP_GET, 7),
    ("sleep_summary.json", Endpoint.SLEEP_GETSUMMARY, 300),
    ("sleep_summary_no_datafields.json", Endpoint.SLEEP_GETSUMMARY, 300),
    ("workouts.json", Endpoint.GETWORKOUTS, 10),
]


@pytest.mark.parametrize(("name", "endpoint", "count"), TRANSFORMABLE)
def test_fixture_transforms_into_valid_documents(name: str, endpoint: Endpoint, count: int) -> None:
    produced = run(endpoint, fixture_body(name))  # run() validates every document
    assert len(produced) == count
    identities = [item.identity for item in produced]
    assert len(set(identities)) == len(identities)  # one document per identity


def test_every_fixture_file_is_covered() -> None:
    from tests.transform.support import FIXTURES

    not_transformed = {
        "device.json",
        "new_device.json",
        "goals.json",
        "goals_1.json",
        "goals_2.json",
        "no_goals.json",
        "notify_list.json",
        "notify_revoke.json",
        "notify_subscribe.json",
    }
    names = {path.name for path in FIXTURES.glob("*.json")}
    assert names == {name for name, _, _ in TRANSFORMABLE} | not_transformed


def test_captured_sleep_get_matches_withings_own_summaries() -> None:
    from tests.transform.support import as_json, ctx, structure

    segments = run(Endpoint.SLEEP_GET, fixture_body("sleep.json"), ctx("Europe/Paris"))
    summaries = run(Endpoint.SLEEP_GETSUMMARY, fixture_body("sleep_summary.json"))
    withings = {item.identity.source_key: structure(as_json(item)) for item in summaries}
    assert [item.identity.source_key for item in segments] == [
        f"2021-04-{day}" for day in range(18, 25)
    ]
    for item in segments:
        ours = structure(as_json(item))
        # Sessions, stage sums, latency and WASO rebuilt from the segments equal Withings' own
        # summary of the same night, second for second.
        assert ours["duration"] == withings[item.identity.source_key]["duration"]


def test_the_schema_checks_reach_every_structure_a_transform_makes() -> None:
    from rookery.model.common import DataStructure, Pillar
    from rookery.model.structures import STRUCTURES
    from tests.transform.support import ctx
    from tests.transform.test_heart import ECG
    from tests.transform.test_measure import DAY, body

    made = set()
    for name, endpoint, _ in TRANSFORMABLE:
        made |= {
            (i.identity.data_structure, i.identity.pillar)
            for i in run(endpoint, fixture_body(name))
        }
    # The captures hold no temperature, SpO2 or ECG: the hand-made day and ECG add them.
    made |= {
        (i.identity.data_structure, i.identity.pillar) for i in run(Endpoint.GETMEAS, body(DAY))
    }
    made |= {
        (i.identity.data_structure, i.identity.pillar)
        for i in run(Endpoint.HEART_LIST, {"series": [ECG]}, ctx("Europe/Paris"))
    }
    # No Withings field maps to a physical-pillar oxygenation_event (mapping.md): its model is
    # checked against the schema empty and filled in tests/model.
    unmapped = {(DataStructure.OXYGENATION_EVENT, Pillar.PHYSICAL_HEALTH)}
    assert made == {(spec.data_structure, spec.pillar) for spec in STRUCTURES} - unmapped
