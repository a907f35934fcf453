"""The declared meastype table against what the getmeas transform does: every row's value lands
in the declared structure and field, and a meastype outside the table makes no event."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rookery.transform.meastypes import MEASURE_FIELDS, MeasureField
from rookery.withings.codes import MeasureType
from rookery.withings.responses import Endpoint
from tests.transform.support import as_json, run

AT_S = 1_699_941_600
WEIGHT = {"value": 80, "type": MeasureType.WEIGHT_KG.value, "unit": 0}


def _getmeas(measures: list[dict[str, Any]]) -> dict[str, Any]:
    group = {"grpid": 1, "attrib": 0, "date": AT_S, "category": 1, "measures": measures}
    return {"updatetime": AT_S, "timezone": "UTC", "more": 0, "offset": 0, "measuregrps": [group]}


def _field(row: MeasureField, measures: list[dict[str, Any]]) -> Any:
    """The row's declared field in the row's declared document, or None when there is none."""
    document_type = row.document_type
    for item in run(Endpoint.GETMEAS, _getmeas(measures)):
        if type(item.document) is not document_type:
            continue
        value: Any = as_json(item)[document_type.PILLAR]["events"][document_type.DATA_STRUCTURE]
        value = value[0]
        for part in row.field.split("."):
            value = value[part]
        return value
    return None


@pytest.mark.parametrize("row", MEASURE_FIELDS, ids=lambda row: row.meastype.name)
@settings(max_examples=20, deadline=None)
@given(value=st.integers(min_value=1, max_value=60))
def test_each_meastype_fills_its_declared_field(row: MeasureField, value: int) -> None:
    # Composition percentages are of the group's weight, so the group always has one.
    base = [] if row.meastype is MeasureType.WEIGHT_KG else [WEIGHT]
    measure = {"value": value, "type": row.meastype.value, "unit": 0}
    assert _field(row, [*base, measure]) is not None
    assert _field(row, base) is None


UNMAPPED = [
    member
    for member in MeasureType
    if member is not MeasureType.UNKNOWN and member not in {row.meastype for row in MEASURE_FIELDS}
]


@pytest.mark.parametrize("meastype", UNMAPPED, ids=lambda member: member.name)
def test_a_meastype_outside_the_table_makes_no_event(meastype: MeasureType) -> None:
    assert run(Endpoint.GETMEAS, _getmeas([{"value": 42, "type": meastype.value, "unit": 0}])) == []
