"""Rules of response parsing that hold for every input (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rookery.withings import responses as r
from rookery.withings.codes import MeasureType
from rookery.withings.errors import WithingsMalformedResponse

# Enough examples to find shape bugs, few enough to keep the suite at seconds on a busy machine.
FAST = settings(max_examples=50, deadline=None)

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
EPOCH = st.integers(min_value=0, max_value=4_102_444_800)
NUMBER = st.one_of(st.integers(0, 10**6), st.floats(0, 10**6, allow_nan=False))
HEX_ID = st.text("0123456789abcdef", min_size=40, max_size=40)
TIMEZONE = st.sampled_from(["Europe/Paris", "America/New_York", "UTC", "Asia/Kolkata"])
YMD = st.dates().map(lambda day: day.isoformat()).filter(lambda text: len(text) == 10)
UNKNOWN_KEYS = st.dictionaries(
    st.text(min_size=1).map(lambda k: "x_" + k), st.integers(), max_size=2
)


def record(
    required: Mapping[str, st.SearchStrategy[Any]],
    optional: Mapping[str, st.SearchStrategy[Any]],
) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object with every required key, any subset of the optional ones and unknown extras."""
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries(dict(required), optional=dict(optional)),
        UNKNOWN_KEYS,
    )


def nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def epoch_map(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(EPOCH.map(str), values, max_size=5) | st.just([])


MEASURE = record(
    {"value": INT64, "type": st.integers(0, 300), "unit": st.integers(-12, 12)},
    {"algo": st.integers(0, 10), "fm": st.integers(0, 200), "position": st.integers(0, 31)},
)
GROUP = record(
    {
        "grpid": st.integers(1, 2**40),
        "attrib": st.integers(0, 20),
        "date": EPOCH,
        "category": st.sampled_from([1, 2]),
        "measures": st.lists(MEASURE, max_size=6),
    },
    {
        "created": EPOCH,
        "modified": EPOCH,
        "deviceid": nullable(HEX_ID),
        "hash_deviceid": nullable(HEX_ID),
        "model": nullable(st.text(max_size=20)),
        "modelid": nullable(st.integers(1, 2000)),
        "comment": st.none(),
    },
)
GETMEAS = record(
    {"measuregrps": st.lists(GROUP, max_size=5)},
    {
        "updatetime": st.one_of(EPOCH, EPOCH.map(str)),
        "timezone": TIMEZONE,
        "more": st.sampled_from([0, 1, True, False]),
        "offset": st.integers(0, 10_000),
    },
)
ACTIVITY_FIELDS = [
    "steps", "distance", "elevation", "soft", "moderate", "intense", "active", "calories",
    "totalcalories", "hr_average", "hr_min", "hr_max", "hr_zone_0", "hr_zone_1", "hr_zone_2",
    "hr_zone_3",
]  # fmt: skip
GETACTIVITY = record(
    {
        "activities": st.lists(
            record(
                {"date": YMD, "timezone": TIMEZONE},
                {
                    **{name: nullable(NUMBER) for name in ACTIVITY_FIELDS},
                    "deviceid": nullable(HEX_ID),
                    "brand": st.sampled_from([1, 18]),
                    "is_tracker": st.booleans(),
                    "modified": EPOCH,
                    "model": st.text(max_size=20),
                    "modelid": st.integers(1, 2000),
                },
            ),
            max_size=4,
        )
    },
    {"more": st.booleans(), "offset": st.integers(0, 1000)},
)
WORKOUT_DATA: st.SearchStrategy[Any] = st.dictionaries(
    st.sampled_from(
        ["calories", "intensity", "hr_average", "steps", "distance", "pool_laps", "strokes"]
    ),
    nullable(NUMBER),
) | st.just([])
GETWORKOUTS = record(
    {
        "series": st.lists(
            record(
                {
                    "id": st.integers(1, 2**40),
                    "category": st.integers(1, 600),
                    "timezone": TIMEZONE,
                    "startdate": EPOCH,
                    "enddate": EPOCH,
                },
                {
                    "date": YMD,
                    "model": st.integers(1, 2000),
                    "attrib": st.integers(0, 8),
                    "deviceid": nullable(HEX_ID),
                    "data": WORKOUT_DATA,
                },
            ),
            max_size=4,
        )
    },
    {"more": st.booleans(), "offset": st.integers(0, 1000)},
)
SLEEP_GET = record(
    {
        "series": st.lists(
            record(
                {"startdate": EPOCH, "enddate": EPOCH, "state": st.integers(0, 20)},
                {
                    "model": st.text(max_size=20),
                    "model_id": st.integers(1, 100),
                    "hash_deviceid": HEX_ID,
                    "hr": epoch_map(st.integers(30, 200)),
                    "rr": epoch_map(st.integers(5, 40)),
                    "snoring": epoch_map(st.integers(0, 1)),
                },
            ),
            max_size=4,
        )
    },
    {"model": st.sampled_from([16, 32])},
)
GETSUMMARY = record(
    {
        "series": st.lists(
            record(
                {
                    "id": st.integers(1, 2**40),
                    "timezone": TIMEZONE,
                    "startdate": EPOCH,
                    "enddate": EPOCH,
                    "date": YMD,
                },
                {
                    "model": st.sampled_from([16, 32]),
                    "model_id": st.integers(1, 100),
                    "created": EPOCH,
                    "modified": EPOCH,
                    "completed": st.booleans(),
                    "data": st.dictionaries(
                        st.sampled_from(
                            ["total_sleep_time", "sleep_efficiency", "hr_average", "waso"]
                        ),
                        nullable(NUMBER),
                    ),
                },
            ),
            max_size=4,
        )
    },
    {"more": st.booleans(), "offset": st.integers(0, 1000)},
)
HEART_LIST = record(
    {
        "series": st.lists(
            record(
                {"timestamp": EPOCH},
                {
                    "deviceid": nullable(HEX_ID),
                    "model": st.integers(1, 100),
                    "ecg": record(
                        {}, {"signalid": st.integers(1, 10**9), "afib": st.integers(0, 2)}
                    ),
                    "bloodpressure": record({}, {"diastole": NUMBER, "systole": NUMBER}),
                    "heart_rate": NUMBER,
                    "modified": EPOCH,
                },
            ),
            max_size=4,
        )
    },
    {"more": st.booleans(), "offset": st.integers(0, 1000)},
)
INTRADAY: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "series": st.dictionaries(
            EPOCH.map(str),
            record(
                {},
                {
                    "deviceid": HEX_ID,
                    "model": st.text(max_size=10),
                    "model_id": st.integers(1, 100),
                    "steps": NUMBER,
                    "heart_rate": NUMBER,
                    "duration": NUMBER,
                },
            ),
            max_size=5,
        )
        | st.just([])
    }
)

WELL_FORMED: list[tuple[Callable[[Any], object], st.SearchStrategy[dict[str, Any]]]] = [
    (r.parse_getmeas, GETMEAS),
    (r.parse_getactivity, GETACTIVITY),
    (r.parse_getworkouts, GETWORKOUTS),
    (r.parse_sleep_get, SLEEP_GET),
    (r.parse_sleep_getsummary, GETSUMMARY),
    (r.parse_heart_list, HEART_LIST),
    (r.parse_getintradayactivity, INTRADAY),
]
PARSERS: list[Callable[[Any], object]] = [parse for parse, _ in WELL_FORMED] + [
    r.parse_getdevice,
    r.parse_getgoals,
    r.parse_notify_list,
    r.parse_notify_get,
    r.parse_token,
    r.parse_getnonce,
]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
# Keys the parsers look for, so that random bodies reach deep into the readers.
KNOWN_KEYS = st.sampled_from(
    [
        "measuregrps", "measures", "grpid", "attrib", "date", "category", "value", "type", "unit",
        "activities", "series", "timezone", "startdate", "enddate", "state", "hr", "id", "data",
        "timestamp", "ecg", "devices", "deviceid", "goals", "weight", "profiles", "appli",
        "callbackurl", "userid", "access_token", "refresh_token", "expires_in", "nonce", "more",
        "offset", "night_events", "1700000000",
    ]
)  # fmt: skip
KEYED_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(KNOWN_KEYS, children, max_size=6)
    ),
    max_leaves=30,
)


@FAST
@given(value=INT64, unit=st.integers(-12, 12))
def test_real_value_is_exact_for_every_value_and_unit(value: int, unit: int) -> None:
    measure = r.Measure(type=MeasureType.WEIGHT_KG, value=value, unit=unit, position=None, raw={})
    assert Fraction(measure.real_value) == Fraction(value) * Fraction(10) ** unit
    assert measure.real_value.as_tuple().exponent == unit or value == 0


@FAST
@given(body=GETMEAS)
def test_well_formed_getmeas_parses_exactly(body: dict[str, Any]) -> None:
    page = r.parse_getmeas(body)
    assert page.raw is body
    assert len(page.measuregrps) == len(body["measuregrps"])
    for group, raw_group in zip(page.measuregrps, body["measuregrps"], strict=True):
        assert group.raw is raw_group
        assert group.grpid == raw_group["grpid"]
        for measure, raw in zip(group.measures, raw_group["measures"], strict=True):
            assert Fraction(measure.real_value) == raw["value"] * Fraction(10) ** raw["unit"]


@pytest.mark.parametrize(
    ("parse", "strategy"), WELL_FORMED, ids=[parse.__name__ for parse, _ in WELL_FORMED]
)
@FAST
@given(data=st.data())
def test_any_well_formed_body_parses(
    parse: Callable[[Any], object], strategy: st.SearchStrategy[dict[str, Any]], data: st.DataObject
) -> None:
    body = data.draw(strategy)
    parsed = parse(body)
    assert getattr(parsed, "raw", None) is body


@pytest.mark.parametrize("parse", PARSERS, ids=[parse.__name__ for parse in PARSERS])
@FAST
@given(body=JSON | KEYED_JSON)
def test_any_body_parses_or_raises_malformed(parse: Callable[[Any], object], body: Any) -> None:
    message = ""
    try:
        parse(body)
    except WithingsMalformedResponse as error:
        message = str(error)
    assert message == "" or (message.startswith("Withings ") and "\n" not in message)


@FAST
@given(
    group=GROUP,
    field=st.sampled_from(["grpid", "attrib", "date", "category"]),
    wrong=st.one_of(st.text(max_size=5), st.booleans(), st.floats(), st.lists(st.integers())),
)
def test_a_required_field_of_the_wrong_type_is_malformed(
    group: dict[str, Any], field: str, wrong: object
) -> None:
    group[field] = wrong
    with pytest.raises(
        WithingsMalformedResponse, match=rf"body\.measuregrps\[0\]\.{field}: expected an integer"
    ):
        r.parse_getmeas({"measuregrps": [group]})


def node_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path to every value nested in a JSON document, the document itself first."""
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths += node_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths += node_paths(child, (*prefix, index))
    return paths


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `value` with the node at `path` replaced by `new`."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    return [replaced(item, rest, new) if i == head else item for i, item in enumerate(value)]


@pytest.mark.parametrize(
    ("parse", "strategy"), WELL_FORMED, ids=[parse.__name__ for parse, _ in WELL_FORMED]
)
@FAST
@given(data=st.data())
def test_a_well_formed_body_with_any_node_replaced_parses_or_raises_malformed(
    parse: Callable[[Any], object], strategy: st.SearchStrategy[dict[str, Any]], data: st.DataObject
) -> None:
    body = data.draw(strategy)
    path = data.draw(st.sampled_from(node_paths(body)))
    mutated = replaced(body, path, data.draw(JSON))
    message = ""
    try:
        parse(mutated)
    except WithingsMalformedResponse as error:
        message = str(error)
    assert message == "" or (message.startswith("Withings ") and "\n" not in message)
