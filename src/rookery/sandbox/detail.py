"""High-frequency detail derived on request from the stored summaries, never stored up front.

Minute data for a whole population would not fit the start-up budget, so the sleep `get` series,
the getintradayactivity samples and ECG signals are rebuilt from the records they belong to, with
randomness named by the record. They agree with those records by construction: per-state
durations add up to the night's summary, heart rate spans its min and max around its average,
and the minute steps of a day add up to the day's row.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from rookery.sandbox.days import HOUR_S, MINUTE_S, ActivityDay
from rookery.sandbox.profiles import UserProfile
from rookery.sandbox.records import Record
from rookery.sandbox.streams import stream
from rookery.withings.codes import SleepState, device_model_name

# Withings splits a long stretch of one sleep state into segments of at most ten minutes.
MAX_SEGMENT_S: Final = 600
# A sleep cycle lasts about ninety minutes: light, deep, light again, then REM.
_CYCLE_S: Final = 5400
# How a state moves the heart rate and breathing of a sleeper, relative to light sleep.
_HR_OFFSET: Final = {
    SleepState.AWAKE: 6.0,
    SleepState.LIGHT: 0.0,
    SleepState.DEEP: -5.0,
    SleepState.REM: 3.0,
}
_RR_OFFSET: Final = {
    SleepState.AWAKE: 1.5,
    SleepState.LIGHT: 0.0,
    SleepState.DEEP: -1.5,
    SleepState.REM: 1.0,
}


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split the integer `total` in proportion to `weights` so that the parts add up exactly.

    Largest remainder; all-zero weights share evenly. Ties go to the earlier part.
    """
    if not weights:
        return []
    weight_sum = sum(weights)
    shares = list(weights) if weight_sum > 0 else [1.0] * len(weights)
    weight_sum = sum(shares)
    exact = [total * share / weight_sum for share in shares]
    parts = [math.floor(value) for value in exact]
    order = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def fit_series(raw: Sequence[float], low: int, average: int, high: int) -> list[int]:
    """Integers shaped like `raw` whose minimum is `low`, maximum `high` and mean `average`.

    The mean is exact to within 1/len(raw) when the bounds allow it.
    """
    count = len(raw)
    if count == 0:
        return []
    if count == 1 or high <= low:
        return [average] * count
    mean = sum(raw) / count
    centred = [value - mean for value in raw]
    top, bottom = max(centred), min(centred)
    # A flat series (up to float noise) has no shape to scale: it would blow up to the bounds.
    flat = top - bottom <= 1e-9 * max(1.0, abs(mean))
    scale = min(
        (high - average) / top if top > 0 else math.inf,
        (average - low) / -bottom if bottom < 0 else math.inf,
    )
    scale = 0.0 if flat or math.isinf(scale) else scale
    values = [min(high, max(low, round(average + scale * value))) for value in centred]
    peak, trough = centred.index(top), centred.index(bottom)
    if peak == trough:
        peak, trough = count - 1, 0
    values[peak], values[trough] = high, low
    missing = round(average * count) - sum(values)
    step = 1 if missing > 0 else -1
    for i in range(count):
        if missing == 0:
            break
        if i in (peak, trough):
            continue
        # Other points may reach the bounds too: the peak and trough already hold them.
        if low <= values[i] + step <= high:
            values[i] += step
            missing -= step
    return values


@dataclass(frozen=True, slots=True)
class _Piece:
    state: SleepState
    start: int
    end: int


def _wake_episodes(summary: Record) -> list[tuple[int, int]]:
    """The awakenings of a night as (offset, duration) seconds from its start."""
    data = summary["data"]
    events = data.get("night_events")
    if isinstance(events, dict) and events.get("3") and events.get("2"):
        woke = sorted(int(t) for t in events["3"])[:-1]
        slept = sorted(int(t) for t in events["2"])[1:]
        return [
            (begin, end - begin) for begin, end in zip(woke, slept, strict=False) if end > begin
        ]
    # A night added without events: spread its awakenings evenly over the sleep.
    count = int(data.get("wakeupcount", 0)) + int(data.get("out_of_bed_count", 0))
    waso = int(data.get("waso", 0))
    if count == 0 or waso == 0:
        return []
    latency = int(data.get("sleep_latency", 0))
    asleep = int(data.get("total_sleep_time", 0))
    durations = allocate(waso, [1.0] * count)
    episodes, passed = [], 0
    for i, duration in enumerate(durations):
        begin = latency + asleep * (i + 1) // (count + 1) + passed
        episodes.append((begin, duration))
        passed += duration
    return episodes


def _stage_sequence(summary: Record) -> list[tuple[SleepState, int]]:
    """The night's sleep as cycles of (state, seconds), REM-less for devices without REM."""
    data = summary["data"]
    light = int(data.get("lightsleepduration", 0))
    deep = int(data.get("deepsleepduration", 0))
    rem = int(data.get("remsleepduration", 0))
    asleep = light + deep + rem
    unit = MINUTE_S if all(value % MINUTE_S == 0 for value in (light, deep, rem)) else 1
    cycles = int(data.get("nb_rem_episodes") or 0) or max(1, round(asleep / _CYCLE_S))
    cycles = max(1, min(cycles, max(1, asleep // (4 * unit))))
    deep_parts = allocate(deep // unit, [(cycles - c) ** 1.5 for c in range(cycles)])
    rem_parts = allocate(rem // unit, [c + 1.0 for c in range(cycles)])
    light_parts = allocate(light // unit, [1.0] * (2 * cycles))
    sequence: list[tuple[SleepState, int]] = []
    for c in range(cycles):
        sequence += [
            (SleepState.LIGHT, light_parts[2 * c] * unit),
            (SleepState.DEEP, deep_parts[c] * unit),
            (SleepState.LIGHT, light_parts[2 * c + 1] * unit),
            (SleepState.REM, rem_parts[c] * unit),
        ]
    return [(state, seconds) for state, seconds in sequence if seconds > 0]


def _night_pieces(summary: Record) -> list[_Piece]:
    """The night's states in time order, each stretch as one piece (before ten-minute splitting)."""
    data = summary["data"]
    start = int(summary["startdate"])
    in_bed = int(summary["enddate"]) - start
    latency = int(data.get("sleep_latency", 0))
    pieces: list[_Piece] = []

    def add(state: SleepState, begin: int, seconds: int) -> None:
        if seconds <= 0:
            return
        if pieces and pieces[-1].state == state and pieces[-1].end == begin:
            pieces[-1] = _Piece(state, pieces[-1].start, begin + seconds)
        else:
            pieces.append(_Piece(state, begin, begin + seconds))

    add(SleepState.AWAKE, start, latency)
    cursor = start + latency
    episodes = [(start + offset, duration) for offset, duration in _wake_episodes(summary)]
    for state, seconds in _stage_sequence(summary):
        remaining = seconds
        while remaining > 0:
            if episodes and episodes[0][0] <= cursor:
                _, duration = episodes.pop(0)
                add(SleepState.AWAKE, cursor, duration)
                cursor += duration
                continue
            run = remaining if not episodes else min(remaining, episodes[0][0] - cursor)
            add(state, cursor, run)
            cursor += run
            remaining -= run
    for _, duration in episodes:
        add(SleepState.AWAKE, cursor, duration)
        cursor += duration
    add(SleepState.AWAKE, cursor, start + in_bed - cursor)
    return pieces


def _minute_points(pieces: list[_Piece]) -> list[tuple[int, SleepState]]:
    return [(t, piece.state) for piece in pieces for t in range(piece.start, piece.end, MINUTE_S)]


def _snoring_marks(
    rng: random.Random, states: list[SleepState], minutes: int, episodes: int
) -> list[int]:
    """0/1 per point: `episodes` separate runs of snoring, `minutes` points in all, all asleep."""
    marks = [0] * len(states)
    if minutes <= 0 or episodes <= 0:
        return marks
    lengths = allocate(minutes, [rng.uniform(0.5, 1.5) for _ in range(episodes)])
    span = len(states) // episodes
    for number, length in enumerate(lengths):
        if length == 0:
            continue
        begin = number * span + rng.randint(0, max(0, span // 3))
        last = len(states) - length + 1
        for first in [*range(begin, last), *range(min(begin, last))]:
            stretch = range(first, first + length)
            clear = all(states[i] != SleepState.AWAKE and marks[i] == 0 for i in stretch)
            apart = (first == 0 or marks[first - 1] == 0) and (
                first + length == len(states) or marks[first + length] == 0
            )
            if clear and apart:
                for i in stretch:
                    marks[i] = 1
                break
    return marks


def night_segments(seed: int, userid: int, summary: Record) -> list[Record]:
    """The sleep `get` segments of one night, with per-minute `hr`, `rr` and `snoring` maps.

    Per-state durations add up to the summary's (awake = wakeupduration); heart rate and
    breathing take exactly the summary's min and max and average to its average; snoring minutes
    and episodes match. Maps are present only when the summary has those measurements.
    """
    data = summary["data"]
    rng = stream(seed, userid, "segments", summary["id"])
    pieces = _night_pieces(summary)
    points = _minute_points(pieces)
    states = [state for _, state in points]
    drift = rng.uniform(0, 2 * math.pi)
    count = max(1, len(points))
    maps: dict[str, dict[int, int]] = {}
    if "hr_average" in data:
        raw = [
            _HR_OFFSET[state] + 2.5 * math.sin(drift + 6 * i / count) + rng.gauss(0, 1.6)
            for i, state in enumerate(states)
        ]
        values = fit_series(raw, data["hr_min"], data["hr_average"], data["hr_max"])
        maps["hr"] = {t: v for (t, _), v in zip(points, values, strict=True)}
    if "rr_average" in data:
        raw = [_RR_OFFSET[state] + rng.gauss(0, 0.8) for state in states]
        values = fit_series(raw, data["rr_min"], data["rr_average"], data["rr_max"])
        maps["rr"] = {t: v for (t, _), v in zip(points, values, strict=True)}
    if "snoring" in data:
        marks = _snoring_marks(
            rng, states, int(data["snoring"]) // MINUTE_S, int(data.get("snoringepisodecount", 0))
        )
        maps["snoring"] = {t: v for (t, _), v in zip(points, marks, strict=True)}
    model_name = device_model_name(summary.get("model_id")) or ""
    segments: list[Record] = []
    for piece in pieces:
        for begin in range(piece.start, piece.end, MAX_SEGMENT_S):
            end = min(piece.end, begin + MAX_SEGMENT_S)
            segment: Record = {
                "startdate": begin,
                "state": int(piece.state),
                "enddate": end,
                "model": model_name,
            }
            for name, series in maps.items():
                segment[name] = {str(t): series[t] for t in range(begin, end, MINUTE_S)}
            segment["hash_deviceid"] = summary.get("hash_deviceid")
            segment["model_id"] = summary.get("model_id")
            segments.append(segment)
    return segments


def intraday_samples(
    profile: UserProfile,
    plan: ActivityDay,
    row: Record,
    workouts: Sequence[Record],
    start: int,
    end: int,
) -> dict[int, Record]:
    """getintradayactivity samples of one day's watch row, keyed by epoch, within [start, end).

    The samples cover the day up to the data the row carries (its last upload), and their steps
    add up to the row's steps exactly; heart rate stays within the row's min and max.
    """
    covered = plan.covered_until(int(row["modified"]))
    buckets = [
        (begin, min(begin + HOUR_S, plan.day_end))
        for begin in range(plan.day_start, covered, HOUR_S)
    ]
    hour_steps = allocate(int(row["steps"]), plan.shape.weights()[: len(buckets)])
    base: Record = {"deviceid": row["deviceid"], "model": row["model"], "model_id": row["modelid"]}
    weight_kg = profile.weight_on(date.fromisoformat(row["date"]))
    samples: dict[int, Record] = {}
    for (begin, finish), steps in zip(buckets, hour_steps, strict=True):
        if steps == 0 or finish <= start or begin >= end:
            continue
        rng = stream(profile.seed, profile.userid, "intraday", row["date"], begin)
        minutes = list(range(begin, finish, MINUTE_S))
        minute_steps = allocate(steps, [rng.random() ** 3 for _ in minutes])
        for at, count in zip(minutes, minute_steps, strict=True):
            if count and start <= at < end:
                samples[at] = base | {
                    "steps": count,
                    "elevation": 0,
                    "calories": round(count * 0.045 * weight_kg / 70, 3),
                    "distance": round(count * profile.stride_m, 2),
                    "duration": MINUTE_S,
                }
    if "hr_average" in row:
        _heart_rate_samples(
            profile, row, workouts, base, samples, max(start, plan.day_start), min(end, covered)
        )
    return dict(sorted(samples.items()))


def _heart_rate_samples(
    profile: UserProfile,
    row: Record,
    workouts: Sequence[Record],
    base: Record,
    samples: dict[int, Record],
    start: int,
    end: int,
) -> None:
    """Heart rate every ten minutes, every minute in a workout, within the day's min and max."""
    rng = stream(profile.seed, profile.userid, "intraday-hr", row["date"])
    low, high, average = int(row["hr_min"]), int(row["hr_max"]), int(row["hr_average"])
    first = start + (-start) % (10 * MINUTE_S)
    times = set(range(first, end, 10 * MINUTE_S))
    in_workout: dict[int, Record] = {}
    for workout in workouts:
        for at in range(int(workout["startdate"]), int(workout["enddate"]), MINUTE_S):
            if start <= at < end:
                times.add(at)
                in_workout[at] = workout["data"]
    for at in sorted(times):
        data = in_workout.get(at)
        if data is not None and data.get("hr_average"):
            value = rng.uniform(data["hr_min"], data["hr_max"])
        else:
            value = average + rng.gauss(0, 6)
        heart_rate = min(high, max(low, round(value)))
        samples[at] = samples.get(at, base) | {"heart_rate": heart_rate}


def ecg_signal(seed: int, userid: int, row: Record) -> Record:
    """The heart `get` body of an ECG listed by heart `list`: a plausible single-lead trace in µV.

    BPM Core records 20 s at 500 Hz on the arm, ScanWatch 30 s at 300 Hz on the wrist.
    """
    from_bpm = row["model"] == 44
    frequency, seconds = (500, 20) if from_bpm else (300, 30)
    rng = stream(seed, userid, "ecg", row["ecg"]["signalid"])
    beat_s = 60.0 / max(30, int(row["heart_rate"]))
    wander = rng.uniform(0, 2 * math.pi)
    # P, Q, R, S and T waves: (phase in the beat, amplitude µV, width as a share of the beat).
    waves = (
        (0.2, 120.0, 0.025),
        (0.36, -90.0, 0.01),
        (0.4, 950.0, 0.012),
        (0.44, -230.0, 0.012),
        (0.65, 280.0, 0.04),
    )
    signal = []
    for i in range(frequency * seconds):
        t = i / frequency
        phase = (t / beat_s) % 1.0
        value = 40 * math.sin(2 * math.pi * 0.3 * t + wander)
        for centre, amplitude, width in waves:
            value += amplitude * math.exp(-(((phase - centre) / width) ** 2) / 2)
        signal.append(round(value + rng.gauss(0, 8)))
    return {
        "signal": signal,
        "sampling_frequency": frequency,
        "wearposition": 2 if from_bpm else 1,
        "model": row["model"],
        "heart_rate": row["heart_rate"],
    }
