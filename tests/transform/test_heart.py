"""ECG records (heart `list`) → body heart_rate_event."""

from __future__ import annotations

from typing import Any

from rookery.model.common import DataStructure, Pillar
from rookery.withings.responses import Endpoint
from tests.transform.support import ctx, jsons, run, structure

ECG: dict[str, Any] = {
    "deviceid": "c405eb8e0e053f6601e151c7e43c04e29aad6956",
    "model": 44,
    "ecg": {"signalid": 48213, "afib": 1},
    "bloodpressure": {"diastole": 79, "systole": 121},
    "heart_rate": 66,
    "timestamp": 1699945200,
    "modified": 1699945300,
}


def test_an_ecg_is_a_body_heart_rate_event_keyed_by_signal() -> None:
    no_rate = {**ECG, "ecg": {"signalid": 48214, "afib": 3}, "heart_rate": 0}
    produced = run(
        Endpoint.HEART_LIST, {"series": [ECG, no_rate, ECG], "more": False}, ctx("Europe/Paris")
    )
    (item,) = produced  # listed twice: one event; no heart rate: no event; no BP document
    assert item.identity.pillar == Pillar.BODY_HEALTH
    assert item.identity.data_structure == DataStructure.HEART_RATE_EVENT
    assert item.identity.source_key == "ecg:48213"
    event = structure(jsons(produced)[0])
    assert event["metadata"]["datetime_string"] == "2023-11-14T08:00:00.000000+01:00"
    assert event["heart_rate"]["hr_avg_bpm_int"] == 66
    assert event["heart_rate"]["hr_granular_data_array"] == [
        {
            "datetime_string": "2023-11-14T08:00:00.000000+01:00",
            "interval_duration_seconds_float": None,
            "hr_bpm_int": 66,
        }
    ]
    assert event["non_structured_data_array"] == [ECG]  # the AFib classification travels here


def test_an_ecg_without_signal_id_is_keyed_by_its_time() -> None:
    (item,) = run(Endpoint.HEART_LIST, {"series": [{**ECG, "ecg": None}]})
    assert item.identity.source_key == "ecg-at:1699945200"
