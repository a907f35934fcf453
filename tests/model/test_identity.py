"""Identity and fingerprint: same record, new content vs nothing changed."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rookery.model.body import BodyMetricsEventDocument
from rookery.model.common import DataStructure, Pillar
from rookery.model.identity import DocumentIdentity, fingerprint
from rookery.model.physical import ActivityEventDocument
from rookery.model.sleep import SleepSummaryDocument
from rookery.model.structures import STRUCTURES, parse_document
from tests.model.filled import USER_ID, filled_document
from tests.model.paths import Path, get, leaf_paths, replaced

ACTIVITY = filled_document(ActivityEventDocument).model_dump(mode="json")
ACTIVITY_LEAVES = sorted(set(leaf_paths(ACTIVITY)) - {("document_version",)}, key=repr)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()


def different(value: Any) -> Any:
    """A value of the same JSON type as `value`, and not equal to it."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    return value + "x"


def test_fingerprint_is_hex_sha256_and_deterministic() -> None:
    first = fingerprint(filled_document(SleepSummaryDocument))

    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert fingerprint(filled_document(SleepSummaryDocument)) == first


@pytest.mark.parametrize("spec", STRUCTURES, ids=lambda spec: spec.schema_name)
def test_fingerprint_of_a_model_equals_that_of_its_json(spec: Any) -> None:
    document = filled_document(spec.document_type)

    assert fingerprint(document) == fingerprint(json.loads(document.model_dump_json()))
    assert fingerprint(parse_document(document.model_dump_json())) == fingerprint(document)


@given(version=st.integers(min_value=1, max_value=2**31))
def test_fingerprint_ignores_document_version(version: int) -> None:
    document = filled_document(BodyMetricsEventDocument)

    bumped = document.model_copy(update={"document_version": version})

    assert fingerprint(bumped) == fingerprint(document)
    assert fingerprint(bumped.model_dump(mode="json")) == fingerprint(document)


def test_fingerprint_changes_when_any_single_leaf_changes() -> None:
    original = fingerprint(ACTIVITY)

    for path in ACTIVITY_LEAVES:
        changed = replaced(ACTIVITY, path, different(get(ACTIVITY, path)))
        assert fingerprint(changed) != original, path


@settings(max_examples=200)
@given(path=st.sampled_from(ACTIVITY_LEAVES), value=JSON_SCALARS)
def test_fingerprint_changes_with_any_new_value(path: Path, value: Any) -> None:
    assume(json.dumps(value) != json.dumps(get(ACTIVITY, path)))

    assert fingerprint(replaced(ACTIVITY, path, value)) != fingerprint(ACTIVITY)


@given(raw=st.dictionaries(st.text(min_size=1), st.integers() | st.text() | st.none(), min_size=2))
def test_fingerprint_ignores_key_order_of_raw_records(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(ACTIVITY)
    events = data["physical_health"]["events"]["activity_event"]
    events[0]["non_structured_data_array"] = [raw]
    reordered = copy.deepcopy(data)
    reordered["physical_health"]["events"]["activity_event"][0]["non_structured_data_array"] = [
        dict(reversed(raw.items()))
    ]

    assert fingerprint(reordered) == fingerprint(data)
    events[0]["non_structured_data_array"] = [{**raw, "extra": 1}]
    assert fingerprint(data) != fingerprint(reordered)


def test_identity_of_a_document() -> None:
    document = filled_document(BodyMetricsEventDocument)

    identity = DocumentIdentity.of(document, "grpid:5423702714")

    assert identity == DocumentIdentity(
        USER_ID, Pillar.BODY_HEALTH, DataStructure.BODY_METRICS_EVENT, "grpid:5423702714"
    )
    assert len({identity, DocumentIdentity.of(document, "grpid:5423702714")}) == 1


def test_identity_tells_the_pillars_apart() -> None:
    physical, body = (
        DocumentIdentity.of(spec.document_type.empty(client_uuid="c", user_id=USER_ID), "k")
        for spec in STRUCTURES
        if spec.data_structure is DataStructure.HEART_RATE_EVENT
    )

    assert physical != body


def test_identity_needs_a_source_key() -> None:
    with pytest.raises(ValueError, match="source_key"):
        DocumentIdentity(USER_ID, Pillar.SLEEP_HEALTH, DataStructure.SLEEP_SUMMARY, "")
