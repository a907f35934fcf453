"""Withings Heart v2 `list` (ECG recordings) → ROOK body `heart_rate_event`. Pure.

mapping.md is silent on ECGs; this is what a ROOK user would expect from one. Each recording
with a heart rate becomes a body-pillar `heart_rate_event` (the heart rate the device measured
while recording), identity (user, `signalid`), with the raw record, AFib classification
included, in `non_structured_data_array`: ROOK has no key for a rhythm classification. The blood
pressure a BPM Core takes with its ECG is not repeated here: getmeas already delivers it as a
`blood_pressure_event`, and a second copy would double it in the day's averages.
"""

from __future__ import annotations

from rookery.model.body import BodyHeartRateEventDocument
from rookery.model.common import event_metadata
from rookery.transform.context import Produced, UserContext
from rookery.transform.measure import heart_rate_event
from rookery.transform.rules import bpm, produced
from rookery.transform.time import local_datetime
from rookery.withings.responses import HeartPage, HeartRecord


def ecg_key(record: HeartRecord) -> str:
    """The source key of an ECG record: its signal id, else (no id given) its time."""
    if record.ecg is not None and record.ecg.signalid is not None:
        return f"ecg:{record.ecg.signalid}"
    return f"ecg-at:{record.timestamp}"


def ecg_heart_rate_events(page: HeartPage, ctx: UserContext) -> list[Produced]:
    """One body `heart_rate_event` per ECG recording of `page` that has a heart rate, dated in
    `ctx.timezone` (heart `list` names no zone). A recording listed twice is one event, from its
    most recently modified copy."""
    chosen: dict[str, HeartRecord] = {}
    for record in page.series:
        key = ecg_key(record)
        current = chosen.get(key)
        if current is None or (record.modified or 0) >= (current.modified or 0):
            chosen[key] = record
    out: list[Produced] = []
    for key, record in chosen.items():
        hr_bpm = bpm(record.heart_rate)
        if hr_bpm is None:
            continue
        at = local_datetime(record.timestamp, ctx.timezone)
        metadata = event_metadata(at, ctx.user_id, under_physical_activity=False)
        # One validation, with the document: the model copies the record.
        event = heart_rate_event(metadata, hr_bpm, metadata.datetime_string, (record.raw,))
        document = BodyHeartRateEventDocument.of_fields(
            event, client_uuid=ctx.client_uuid, user_id=ctx.user_id
        )
        out.append(produced(document, key, at.date()))
    return out
