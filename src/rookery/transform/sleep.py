"""Withings Sleep v2 → ROOK `sleep_summary` (mapping.md "sleep_summary"). Pure.

One summary per local date, identity (user, `sleep_date_string`). When a date has several
sessions the main sleep is the longest; a session under 3 h is a nap, kept only when the date has
nothing longer. Re-delivered sessions replace each other, they are never added together (a peer
summed re-deliveries into 39-hour nights).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final, TypeVar
from zoneinfo import ZoneInfo

from rookery.model.common import HrGranularItem, RawRecord, summary_metadata
from rookery.model.sleep import (
    BreathingGranularItem,
    SleepSummaryDocument,
    SnoringGranularItem,
)
from rookery.transform.context import Produced, UserContext
from rookery.transform.rules import (
    bpm,
    first_present,
    mean_int,
    opt_int,
    produced,
    sum_present,
)
from rookery.transform.time import (
    exact,
    iso_local,
    local_date,
    round_half_away,
    zone,
)
from rookery.withings.codes import SleepState
from rookery.withings.responses import (
    Sample,
    SleepSegment,
    SleepSeries,
    SleepSummaryPage,
    SleepSummaryRow,
)

NAP_LIMIT_S: Final = 3 * 3600
"""A session shorter than this is a nap: it never replaces a main sleep of the same date."""

SESSION_GAP_S: Final = 3600
"""Sleep `get` segments further apart than this belong to different sessions. Withings splits
its own summaries the same way: the captured week's 8 sessions match its getsummary rows."""

SAMPLE_INTERVAL_S: Final = 60.0
"""Sleep `get` series carry one point per minute."""

_ASLEEP: Final = frozenset(
    {SleepState.LIGHT, SleepState.DEEP, SleepState.REM, SleepState.MANUAL, SleepState.UNSPECIFIED}
)

_LIGHT: Final = frozenset({SleepState.LIGHT})
_DEEP: Final = frozenset({SleepState.DEEP})
_REM: Final = frozenset({SleepState.REM})

S = TypeVar("S")


# ---------------------------------------------------------------------------------------------
# Choosing one session per date


def main_sessions(
    sessions: Iterable[S],
    *,
    day: Callable[[S], date],
    length_s: Callable[[S], int],
    recency: Callable[[S], int],
) -> dict[date, S]:
    """The main session of each date: the longest one of 3 h or more, else (only naps) the
    longest nap. Equal lengths go to the most recently modified, then the later in the input."""
    chosen: dict[date, S] = {}
    for session in sessions:
        key = day(session)
        current = chosen.get(key)
        if current is None or _rank(session, length_s, recency) >= _rank(
            current, length_s, recency
        ):
            chosen[key] = session
    return chosen


def _rank(
    session: S, length_s: Callable[[S], int], recency: Callable[[S], int]
) -> tuple[bool, int, int]:
    length = length_s(session)
    return (length >= NAP_LIMIT_S, length, recency(session))


# ---------------------------------------------------------------------------------------------
# Granular series from sleep `get`


@dataclass(frozen=True, slots=True)
class _Series:
    """One kind of per-minute sample over all segments, in time order, for window lookups."""

    times: list[int]
    values: list[float]

    @classmethod
    def of(
        cls, segments: Sequence[SleepSegment], pick: Callable[[SleepSegment], tuple[Sample, ...]]
    ) -> _Series:
        # One value per instant: a segment Withings lists twice repeats its samples.
        by_time = {
            sample.timestamp: sample.value for segment in segments for sample in pick(segment)
        }
        times = sorted(by_time)
        return cls(times, [by_time[t] for t in times])

    def window(self, start_s: int, end_s: int) -> Iterable[tuple[int, float]]:
        low = bisect_left(self.times, start_s)
        high = bisect_right(self.times, end_s)
        return zip(self.times[low:high], self.values[low:high], strict=True)


@dataclass(frozen=True, slots=True)
class _Detail:
    """A sleep `get` response, indexed for cutting out one session's samples and segments."""

    segments: tuple[SleepSegment, ...]
    starts: list[int]
    hr: _Series
    rr: _Series
    snoring: _Series

    @classmethod
    def of(cls, series: SleepSeries) -> _Detail:
        by_start = {segment.startdate: segment for segment in series.series}  # later copy wins
        segments = tuple(sorted(by_start.values(), key=lambda segment: segment.startdate))
        return cls(
            segments=segments,
            starts=[segment.startdate for segment in segments],
            hr=_Series.of(segments, lambda segment: segment.hr),
            rr=_Series.of(segments, lambda segment: segment.rr),
            snoring=_Series.of(segments, lambda segment: segment.snoring),
        )

    def segments_within(self, start_s: int, end_s: int) -> tuple[SleepSegment, ...]:
        low = bisect_left(self.starts, start_s)
        high = bisect_right(self.starts, end_s)
        return tuple(s for s in self.segments[low:high] if s.enddate <= end_s)


@dataclass(frozen=True, slots=True)
class _Granular:
    hr: tuple[HrGranularItem, ...] = ()
    breathing: tuple[BreathingGranularItem, ...] = ()
    snoring: tuple[SnoringGranularItem, ...] = ()
    raw_segments: tuple[RawRecord, ...] = ()


_NO_GRANULAR: Final = _Granular()


def _granular(detail: _Detail | None, start_s: int, end_s: int, tz: ZoneInfo) -> _Granular:
    if detail is None:
        return _NO_GRANULAR
    return _Granular(
        hr=tuple(
            {
                "datetime_string": iso_local(t, tz),
                "interval_duration_seconds_float": SAMPLE_INTERVAL_S,
                "hr_bpm_int": round_half_away(v),
            }
            for t, v in detail.hr.window(start_s, end_s)
        ),
        breathing=tuple(
            {"datetime_string": iso_local(t, tz), "breaths_per_min_int": round_half_away(v)}
            for t, v in detail.rr.window(start_s, end_s)
        ),
        # Withings' per-minute snoring value counts the minute's snoring (0 or 1 in practice).
        snoring=tuple(
            {
                "datetime_string": iso_local(t, tz),
                "interval_duration_seconds_float": SAMPLE_INTERVAL_S,
                "snoring_events_count_int": round_half_away(v),
            }
            for t, v in detail.snoring.window(start_s, end_s)
        ),
        raw_segments=tuple(dict(s.raw) for s in detail.segments_within(start_s, end_s)),
    )


# ---------------------------------------------------------------------------------------------
# getsummary (+ get)


def sleep_summaries(
    page: SleepSummaryPage, ctx: UserContext, detail: SleepSeries | None = None
) -> list[Produced]:
    """One `sleep_summary` per local date of `page` (the main sleep of that date).

    With `detail` (the sleep `get` response covering the same nights), each summary also carries
    the heart-rate, breathing and snoring samples that fall within its session, and those
    segments in `non_structured_data_array` after the summary row.
    """
    chosen = main_sessions(
        page.series,
        day=lambda row: row.date,
        length_s=lambda row: row.enddate - row.startdate,
        recency=lambda row: row.modified or 0,
    )
    indexed = None if detail is None else _Detail.of(detail)
    return [_from_row(row, ctx, indexed) for _, row in sorted(chosen.items())]


def _from_row(row: SleepSummaryRow, ctx: UserContext, detail: _Detail | None) -> Produced:
    tz = zone(row.timezone)
    data = row.data
    granular = _granular(detail, row.startdate, row.enddate, tz)
    efficiency = data.sleep_efficiency
    ended = iso_local(row.enddate, tz)  # the wake-up time
    day = row.date.isoformat()
    # The summary's fields by ROOK key, validated once with the document (see `of_fields`).
    document = SleepSummaryDocument.of_fields(
        {
            "metadata": summary_metadata(ended, ctx.user_id),
            "duration": {
                "sleep_start_datetime_string": iso_local(row.startdate, tz),
                "sleep_end_datetime_string": ended,
                "sleep_date_string": day,
                "sleep_duration_seconds_int": opt_int(
                    first_present(
                        data.total_sleep_time,
                        sum_present(
                            data.lightsleepduration, data.deepsleepduration, data.remsleepduration
                        ),
                        data.asleepduration,
                    )
                ),
                "time_in_bed_seconds_int": opt_int(
                    first_present(data.total_timeinbed, row.enddate - row.startdate)
                ),
                "light_sleep_duration_seconds_int": opt_int(data.lightsleepduration),
                "deep_sleep_duration_seconds_int": opt_int(data.deepsleepduration),
                "rem_sleep_duration_seconds_int": opt_int(data.remsleepduration),
                "time_to_fall_asleep_seconds_int": opt_int(
                    first_present(data.sleep_latency, data.durationtosleep)
                ),
                "time_awake_during_sleep_seconds_int": opt_int(
                    first_present(data.waso, data.wakeupduration)
                ),
            },
            "scores": {
                "sleep_efficiency_1_100_score_int": (
                    None if efficiency is None else round_half_away(exact(efficiency) * 100)
                )
            },
            "heart_rate": {
                "hr_avg_bpm_int": bpm(data.hr_average),
                "hr_minimum_bpm_int": bpm(data.hr_min),
                "hr_maximum_bpm_int": bpm(data.hr_max),
                "hr_granular_data_array": granular.hr,
            },
            "breathing": {
                "breaths_avg_per_min_int": opt_int(data.rr_average),
                "breaths_minimum_per_min_int": opt_int(data.rr_min),
                "breaths_maximum_per_min_int": opt_int(data.rr_max),
                "breathing_granular_data_array": granular.breathing,
                "snoring_duration_total_seconds_int": opt_int(data.snoring),
                "snoring_events_count_int": opt_int(data.snoringepisodecount),
                "snoring_granular_data_array": granular.snoring,
            },
            # The model copies each record: no copy of our own.
            "non_structured_data_array": (row.raw, *granular.raw_segments),
        },
        client_uuid=ctx.client_uuid,
        user_id=ctx.user_id,
    )
    return produced(document, day, row.date)


# ---------------------------------------------------------------------------------------------
# get alone


@dataclass(frozen=True, slots=True)
class _Span:
    """The part of a segment that no earlier segment already covers."""

    state: SleepState
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class _Session:
    """Consecutive sleep `get` segments, at most SESSION_GAP_S apart, and the time they cover
    (each second counted once)."""

    segments: tuple[SleepSegment, ...]
    spans: tuple[_Span, ...]

    @property
    def start_s(self) -> int:
        return self.segments[0].startdate

    @property
    def end_s(self) -> int:
        return max(segment.enddate for segment in self.segments)


def _sessions_of(series: SleepSeries) -> list[_Session]:
    """The sleep sessions of a sleep `get` response: its segments in time order, split where
    nothing was recorded for more than SESSION_GAP_S.

    A segment listed twice (same start) counts once, from its later copy, and overlapping
    segments share no second: a re-delivered night is replaced, never added to itself.
    """
    by_start = {segment.startdate: segment for segment in series.series}
    sessions: list[_Session] = []
    segments: list[SleepSegment] = []
    spans: list[_Span] = []
    covered_until = 0
    for segment in sorted(by_start.values(), key=lambda segment: segment.startdate):
        if segments and segment.startdate - covered_until > SESSION_GAP_S:
            sessions.append(_Session(tuple(segments), tuple(spans)))
            segments, spans = [], []
        if not segments:
            covered_until = segment.startdate
        segments.append(segment)
        span_start = max(segment.startdate, covered_until)
        if segment.enddate > span_start:
            spans.append(_Span(segment.state, span_start, segment.enddate))
        covered_until = max(covered_until, segment.enddate)
    if segments:
        sessions.append(_Session(tuple(segments), tuple(spans)))
    return sessions


def sleep_summaries_from_segments(series: SleepSeries, ctx: UserContext) -> list[Produced]:
    """One `sleep_summary` per local date (in `ctx.timezone`, as sleep `get` names no zone) from
    a sleep `get` response alone.

    Each session's date is the local date of its end (the wake-up day, as Withings dates
    nights). Stage durations are the sums of the session's light, deep and REM segments; sleep
    is every asleep segment (manual and unspecified included); time to fall asleep runs from the
    first segment to the first asleep one; awake time is what is not asleep between the first
    and the last asleep one (gaps included); efficiency is sleep over time in bed. Heart rate and
    breathing statistics come from the per-minute samples. On the captured week these durations
    equal Withings' own summaries of the same nights.
    """
    tz = ctx.timezone
    chosen = main_sessions(
        _sessions_of(series),
        day=lambda session: local_date(session.end_s, tz),
        length_s=lambda session: session.end_s - session.start_s,
        recency=lambda session: session.start_s,
    )
    detail = _Detail.of(series)
    return [_from_session(session, day, ctx, detail) for day, session in sorted(chosen.items())]


def _stage_seconds(spans: Sequence[_Span], states: frozenset[SleepState]) -> int:
    return sum(span.end_s - span.start_s for span in spans if span.state in states)


def _from_session(session: _Session, day: date, ctx: UserContext, detail: _Detail) -> Produced:
    tz = ctx.timezone
    segments, spans = session.segments, session.spans
    start_s, end_s = session.start_s, session.end_s
    asleep = [span for span in spans if span.state in _ASLEEP]
    sleep_s = _stage_seconds(spans, _ASLEEP)
    in_bed_s = end_s - start_s
    latency_s: int | None = None
    awake_s: int | None = None
    if asleep:
        onset_s = asleep[0].start_s
        last_asleep_end_s = max(span.end_s for span in asleep)
        latency_s = onset_s - start_s
        # Everything between falling asleep and the last sleep that is not sleep, unrecorded
        # gaps included: this is how Withings counts `waso` (checked on the captured week).
        awake_s = last_asleep_end_s - onset_s - sleep_s
    granular = _granular(detail, start_s, end_s, tz)
    hr_values = [item["hr_bpm_int"] for item in granular.hr]
    rr_values = [item["breaths_per_min_int"] for item in granular.breathing]
    ended = iso_local(end_s, tz)
    document = SleepSummaryDocument.of_fields(
        {
            "metadata": summary_metadata(ended, ctx.user_id),
            "duration": {
                "sleep_start_datetime_string": iso_local(start_s, tz),
                "sleep_end_datetime_string": ended,
                "sleep_date_string": day.isoformat(),
                "sleep_duration_seconds_int": sleep_s,
                "time_in_bed_seconds_int": in_bed_s,
                "light_sleep_duration_seconds_int": _stage_seconds(spans, _LIGHT),
                "deep_sleep_duration_seconds_int": _stage_seconds(spans, _DEEP),
                "rem_sleep_duration_seconds_int": _stage_seconds(spans, _REM),
                "time_to_fall_asleep_seconds_int": latency_s,
                "time_awake_during_sleep_seconds_int": awake_s,
            },
            "scores": {
                "sleep_efficiency_1_100_score_int": (
                    round_half_away(Decimal(sleep_s * 100) / in_bed_s) if in_bed_s > 0 else None
                )
            },
            "heart_rate": {
                "hr_avg_bpm_int": mean_int(hr_values),
                "hr_minimum_bpm_int": _min(hr_values),
                "hr_maximum_bpm_int": _max(hr_values),
                "hr_granular_data_array": granular.hr,
            },
            "breathing": {
                "breaths_avg_per_min_int": mean_int(rr_values),
                "breaths_minimum_per_min_int": _min(rr_values),
                "breaths_maximum_per_min_int": _max(rr_values),
                "breathing_granular_data_array": granular.breathing,
                "snoring_granular_data_array": granular.snoring,
            },
            "non_structured_data_array": tuple(s.raw for s in segments),
        },
        client_uuid=ctx.client_uuid,
        user_id=ctx.user_id,
    )
    return produced(document, day.isoformat(), day)


def _min(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
