"""Body events and body_summary golden cases, worked out by hand from the measure values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rookery.model.common import DataStructure, Pillar
from rookery.transform.context import HeightReading
from rookery.withings.responses import Endpoint
from tests.transform.support import ctx, fixture_body, jsons, of_structure, run, structure

BODY = "body_health"
PHYSICAL = "physical_health"


def measure(value: int, type_: int, unit: int, **extra: Any) -> dict[str, Any]:
    return {"value": value, "type": type_, "unit": unit, "algo": 0, "fm": 3, **extra}


def group(grpid: int, date: int, measures: list[dict[str, Any]], attrib: int = 0) -> dict[str, Any]:
    manual = attrib in (2, 4)
    return {
        "grpid": grpid,
        "attrib": attrib,
        "date": date,
        "created": date + 50,
        "modified": date + 50,
        "category": 1,
        "deviceid": None if manual else "892359876fd8805ac45bab078c4828692f0276b1",
        "hash_deviceid": None,
        "modelid": None if manual else 6,
        "model": None if manual else "Body Cardio",
        "comment": None,
        "measures": measures,
    }


# Europe/Paris, 2023-11-14 (CET, +01:00). 1699941600 = 06:00Z = 07:00 local.
SCALE = group(
    5423702714,
    1699941600,
    [
        measure(75232, 1, -3),
        measure(18230, 6, -3),
        measure(6151, 5, -2),
        measure(1372, 8, -2),
        measure(5843, 76, -2),
        measure(4190, 77, -2),
        measure(308, 88, -2),
        measure(75, 11, 0),
        measure(7123, 91, -3),
    ],
)
PRESSURE = group(
    5423702790, 1699945200, [measure(79, 9, 0), measure(121, 10, 0), measure(66, 11, 0)]
)
PRESSURE_2 = group(5423702791, 1699946000, [measure(8000, 9, -2), measure(12400, 10, -2)])
HEIGHT = group(2726375351, 1699950000, [measure(1780, 4, -3)], attrib=2)  # 09:20, by hand
AMBIGUOUS = group(2726375352, 1699952000, [measure(1500, 4, -3), measure(90000, 1, -3)], attrib=1)
LATER_WEIGHT = group(5423702800, 1699953600, [measure(80000, 1, -3)])  # 10:20
MANUAL = group(2726375353, 1699956000, [measure(70, 1, 0), measure(97, 54, 0)], attrib=2)  # 11:00
THERMO = group(5423702810, 1699960000, [measure(3670, 71, -2), measure(3350, 73, -2)])  # 12:06:40
OXYGEN = group(5423702820, 1699961000, [measure(97, 54, 0), measure(425, 123, -1)])  # 12:23:20

DAY = [SCALE, PRESSURE, PRESSURE_2, HEIGHT, AMBIGUOUS, LATER_WEIGHT, MANUAL, THERMO, OXYGEN]
EARLIER_HEIGHT = HeightReading(at_epoch_s=1_690_000_000, height_m=Decimal("1.80"))


def body(groups: list[dict[str, Any]], timezone: str = "Europe/Paris") -> dict[str, Any]:
    return {
        "updatetime": 1700000123,
        "timezone": timezone,
        "more": 0,
        "offset": 0,
        "measuregrps": groups,
    }


def test_scale_group_body_metrics_and_heart_pulse() -> None:
    produced = run(Endpoint.GETMEAS, body(DAY), ctx(heights=(EARLIER_HEIGHT,)))
    metrics = of_structure(produced, "body_metrics_event", BODY)
    scale = structure(metrics[0])
    assert scale["metadata"]["datetime_string"] == "2023-11-14T07:00:00.000000+01:00"
    assert scale["metadata"]["was_the_user_under_physical_activity_bool"] is False
    assert scale["body_metrics"]["weight_kg_float"] == 75.232
    assert scale["body_metrics"]["height_cm_int"] is None
    # BMI with the 1.80 m known from before (the 1.78 m of 09:20 comes later): 75.232 / 3.24.
    assert scale["body_metrics"]["bmi_float"] == pytest.approx(23.2197530864, abs=1e-9)
    assert (
        scale["body_metrics"]["muscle_composition_percentage_int"] == 78
    )  # 58.43 / 75.232 = 77.67 %
    assert (
        scale["body_metrics"]["water_composition_percentage_int"] == 56
    )  # 41.90 / 75.232 = 55.69 %
    assert scale["body_metrics"]["bone_composition_percentage_int"] == 4  # 3.08 / 75.232 = 4.09 %
    assert scale["non_structured_data_array"] == [SCALE]  # fat, PWV... stay here
    pulses = [structure(d) for d in of_structure(produced, "heart_rate_event", PHYSICAL)]
    assert [p["heart_rate"]["hr_avg_bpm_int"] for p in pulses] == [75, 66]
    assert pulses[0]["heart_rate"]["hr_granular_data_array"] == [
        {
            "datetime_string": "2023-11-14T07:00:00.000000+01:00",
            "interval_duration_seconds_float": None,
            "hr_bpm_int": 75,
        }
    ]
    assert of_structure(produced, "heart_rate_event", BODY) == []


def test_identity_is_user_grpid_and_structure() -> None:
    produced = run(Endpoint.GETMEAS, body([PRESSURE]))
    keys = {(i.identity.pillar, i.identity.data_structure, i.identity.source_key) for i in produced}
    assert keys == {
        (Pillar.BODY_HEALTH, DataStructure.BLOOD_PRESSURE_EVENT, "grpid:5423702790"),
        (Pillar.PHYSICAL_HEALTH, DataStructure.HEART_RATE_EVENT, "grpid:5423702790"),
        (Pillar.BODY_HEALTH, DataStructure.BODY_SUMMARY, "2023-11-14"),
    }


def test_bmi_uses_the_latest_height_at_or_before_the_weigh_in() -> None:
    produced = run(Endpoint.GETMEAS, body(DAY))
    by_grpid = {
        structure(d)["non_structured_data_array"][0]["grpid"]: structure(d)["body_metrics"]
        for d in of_structure(produced, "body_metrics_event", BODY)
    }
    assert by_grpid[SCALE["grpid"]]["bmi_float"] is None  # no height yet at 07:00
    assert by_grpid[HEIGHT["grpid"]]["height_cm_int"] == 178  # a manual height counts
    assert by_grpid[HEIGHT["grpid"]]["weight_kg_float"] is None
    # 80 / 1.78² = 80 / 3.1684 = 25.2493; the ambiguous 1.50 m at 09:53 does not count.
    assert by_grpid[LATER_WEIGHT["grpid"]]["bmi_float"] == pytest.approx(25.2493372049, abs=1e-9)
    assert AMBIGUOUS["grpid"] not in by_grpid


def test_manual_entries_keep_only_weight_and_height() -> None:
    produced = run(Endpoint.GETMEAS, body([MANUAL]))
    (metrics,) = of_structure(produced, "body_metrics_event", BODY)
    assert structure(metrics)["body_metrics"]["weight_kg_float"] == 70.0
    assert of_structure(produced, "oxygenation_event", BODY) == []


def test_ambiguous_group_yields_nothing() -> None:
    assert run(Endpoint.GETMEAS, body([AMBIGUOUS])) == []


def test_blood_pressure_event() -> None:
    produced = run(Endpoint.GETMEAS, body([PRESSURE]))
    (pressure,) = [structure(d) for d in of_structure(produced, "blood_pressure_event", BODY)]
    assert pressure["blood_pressure"] == {
        "blood_pressure_avg_object": {"systolic_mmHg_int": 121, "diastolic_mmHg_int": 79},
        "blood_pressure_granular_data_array": [
            {
                "datetime_string": "2023-11-14T08:00:00.000000+01:00",
                "systolic_mmHg_int": 121,
                "diastolic_mmHg_int": 79,
            }
        ],
    }


def test_temperature_event_spells_celcius_in_its_objects() -> None:
    produced = run(Endpoint.GETMEAS, body([THERMO]))
    (event,) = [structure(d) for d in of_structure(produced, "temperature_event", BODY)]
    temperature = event["temperature"]
    assert temperature["temperature_avg_object"] == {
        "temperature_celcius_float": 36.7,
        "measurement_type_string": "body",
    }
    assert temperature["temperature_granular_data_array"] == [
        {
            "datetime_string": "2023-11-14T12:06:40.000000+01:00",
            "temperature_celsius_float": 36.7,
            "measurement_type_string": "body",
        },
        {
            "datetime_string": "2023-11-14T12:06:40.000000+01:00",
            "temperature_celsius_float": 33.5,
            "measurement_type_string": "skin",
        },
    ]
    plain = group(9, 1699960000, [measure(371, 12, -1)])
    (event,) = [
        structure(d)
        for d in of_structure(run(Endpoint.GETMEAS, body([plain])), "temperature_event", BODY)
    ]
    assert (
        event["temperature"]["temperature_avg_object"]["measurement_type_string"] == "temperature"
    )


def test_oxygenation_event_with_vo2_max() -> None:
    produced = run(Endpoint.GETMEAS, body([OXYGEN]))
    (event,) = [structure(d) for d in of_structure(produced, "oxygenation_event", BODY)]
    assert event["oxygenation"]["saturation_avg_percentage_int"] == 97
    assert event["oxygenation"]["vo2max_mL_per_min_per_kg_int"] == 43  # 42.5 → 43
    assert event["oxygenation"]["saturation_granular_data_array"] == [
        {
            "datetime_string": "2023-11-14T12:23:20.000000+01:00",
            "interval_duration_seconds_float": None,
            "saturation_percentage_int": 97,
        }
    ]


def test_the_same_weigh_in_under_attrib_0_and_8_is_one_event() -> None:
    captured = fixture_body("measurement.json")
    produced = run(Endpoint.GETMEAS, captured)
    (metrics,) = of_structure(produced, "body_metrics_event", BODY)
    event = structure(metrics)
    assert event["body_metrics"]["weight_kg_float"] == 118.003
    assert event["non_structured_data_array"] == [captured["measuregrps"][0]]  # the attrib 0 copy
    only_8 = body([captured["measuregrps"][1]], "Europe/Amsterdam")
    (alone,) = of_structure(run(Endpoint.GETMEAS, only_8), "body_metrics_event", BODY)
    assert structure(alone)["body_metrics"] == event["body_metrics"]


def test_body_scan_segmental_values_do_not_count() -> None:
    produced = run(Endpoint.GETMEAS, fixture_body("measurement_positions.json"))
    first = structure(of_structure(produced, "body_metrics_event", BODY)[0])["body_metrics"]
    assert first["weight_kg_float"] == 95.854
    assert first["muscle_composition_percentage_int"] == 77  # 73.38 / 95.854 = 76.55 %
    assert first["water_composition_percentage_int"] == 54  # 52.05 / 95.854 = 54.30 %
    assert first["bone_composition_percentage_int"] == 4  # 3.80 / 95.854 = 3.96 %


def test_body_summary_merges_the_day() -> None:
    produced = run(Endpoint.GETMEAS, body(DAY))
    (item,) = [i for i in produced if i.identity.data_structure == DataStructure.BODY_SUMMARY]
    assert item.identity.source_key == "2023-11-14"
    summary = structure(jsons([item])[0])
    assert summary["metadata"]["datetime_string"] == "2023-11-14T00:00:00.000000+01:00"
    metrics = summary["body_metrics"]
    assert metrics["weight_kg_float"] == 70.0  # the manual 11:00 weigh-in is the day's latest
    assert metrics["height_cm_int"] == 178
    assert metrics["bmi_float"] == pytest.approx(22.0931700543, abs=1e-9)  # 70 / 3.1684
    assert metrics["muscle_composition_percentage_int"] == 78
    pressure = summary["blood_pressure"]
    # (121 + 124) / 2 = 122.5 → 123; (79 + 80) / 2 = 79.5 → 80.
    assert pressure["blood_pressure_avg_object"] == {
        "systolic_mmHg_int": 123,
        "diastolic_mmHg_int": 80,
    }
    assert [i["systolic_mmHg_int"] for i in pressure["blood_pressure_granular_data_array"]] == [
        121,
        124,
    ]
    heart_rate = summary["heart_rate"]
    assert heart_rate["hr_avg_bpm_int"] == 71  # (75 + 66) / 2 = 70.5
    assert (heart_rate["hr_minimum_bpm_int"], heart_rate["hr_maximum_bpm_int"]) == (66, 75)
    assert len(heart_rate["hr_granular_data_array"]) == 2
    assert summary["oxygenation"]["saturation_avg_percentage_int"] == 97
    assert summary["oxygenation"]["vo2max_mL_per_min_per_kg_int"] == 43
    temperature = summary["temperature"]
    assert temperature["temperature_avg_object"] == {
        "temperature_celsius_float": 35.1,  # (36.7 + 33.5) / 2, body and skin mixed
        "measurement_type_string": None,
    }
    assert temperature["temperature_minimum_object"] == {
        "temperature_celsius_float": 33.5,
        "measurement_type_string": "skin",
    }
    assert temperature["temperature_maximum_object"] == {
        "temperature_celsius_float": 36.7,
        "measurement_type_string": "body",
    }
    raw_grpids = [record["grpid"] for record in summary["non_structured_data_array"]]
    assert sorted(raw_grpids) == sorted(g["grpid"] for g in DAY if g is not AMBIGUOUS)


def test_events_and_summaries_fall_on_the_local_day() -> None:
    # 1699999200 = 2023-11-14T22:00Z: already the 15th in Kathmandu (03:45).
    late = group(77, 1699999200, [measure(70500, 1, -3)])
    produced = run(Endpoint.GETMEAS, body([late], "Asia/Kathmandu"))
    assert {item.local_date.isoformat() for item in produced} == {"2023-11-15"}
    metrics, summary = (structure(d) for d in jsons(produced))
    assert metrics["metadata"]["datetime_string"] == "2023-11-15T03:45:00.000000+05:45"
    assert summary["metadata"]["datetime_string"] == "2023-11-15T00:00:00.000000+05:45"
    in_utc = run(Endpoint.GETMEAS, body([late], "UTC"))
    assert (
        structure(jsons(in_utc)[0])["metadata"]["datetime_string"] == "2023-11-14T22:00:00.000000Z"
    )


def test_body_summary_is_a_pure_function_over_any_days_events() -> None:
    from datetime import date

    from rookery.transform.measure import body_summary
    from rookery.transform.time import zone

    paris = ctx("Europe/Paris")
    from_getmeas = run(Endpoint.GETMEAS, body([PRESSURE]), paris)
    ecg = {
        "deviceid": "c405",
        "model": 44,
        "ecg": {"signalid": 1, "afib": 0},
        "heart_rate": 80,
        "timestamp": 1699950000,
        "modified": 1699950001,
    }
    from_ecg = run(Endpoint.HEART_LIST, {"series": [ecg]}, paris)
    workouts = run(Endpoint.GETWORKOUTS, fixture_body("workouts.json"))
    documents = [item.document for item in (*from_getmeas, *from_ecg, *workouts)]
    merged = body_summary(date(2023, 11, 14), documents, paris, zone("Europe/Paris"))
    assert merged is not None
    heart_rate = structure(jsons([merged])[0])["heart_rate"]
    assert heart_rate["hr_avg_bpm_int"] == 73  # (66 + 80) / 2: the pulse and the ECG's rate
    assert [i["hr_bpm_int"] for i in heart_rate["hr_granular_data_array"]] == [66, 80]
    only_workouts = [item.document for item in workouts]
    assert body_summary(date(2023, 11, 14), only_workouts, paris, zone("Europe/Paris")) is None


def test_body_summary_counts_a_repeated_document_once() -> None:
    from datetime import date

    from rookery.transform.measure import body_summary
    from rookery.transform.time import zone

    paris = ctx("Europe/Paris")
    documents = [item.document for item in run(Endpoint.GETMEAS, body([PRESSURE, PRESSURE_2]))]
    events = [d for d in documents if d.DATA_STRUCTURE == DataStructure.BLOOD_PRESSURE_EVENT]
    merged = body_summary(date(2023, 11, 14), [*events, *events], paris, zone("Europe/Paris"))
    assert merged is not None
    pressure = structure(jsons([merged])[0])["blood_pressure"]
    assert len(pressure["blood_pressure_granular_data_array"]) == 2
    assert pressure["blood_pressure_avg_object"] == {
        "systolic_mmHg_int": 123,
        "diastolic_mmHg_int": 80,
    }
