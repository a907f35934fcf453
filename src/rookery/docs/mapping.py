"""Render `docs/mapping.md` (Withings → ROOK) from the code's own tables and transforms.

Run `python -m rookery.docs.mapping` to rewrite the file, `--check` to fail when it is stale.
Every table comes from code: the structures from `model.structures.STRUCTURES`, the meastype
rules from `transform.meastypes.MEASURE_FIELDS`, notification categories from
`withings.codes.APPLIS` and `pipeline.plans`, workout names from `withings.codes`, the
`data_fields` Rookery asks for from `withings.responses.DATA_FIELDS`, each structure's rules from
its transform module's docstring, and the field-by-field sources of the summaries and workouts by
running the transforms: each Withings field is given alone in an otherwise bare record, and the
ROOK keys it fills are listed against it.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from rookery.docs.files import write_or_check
from rookery.model.common import Kind, RookDocument
from rookery.model.structures import STRUCTURES
from rookery.pipeline import plans
from rookery.pipeline.plans import APPLI_DOMAINS, PLANS
from rookery.transform import activity, heart, measure, sleep, workouts
from rookery.transform.context import UserContext
from rookery.transform.dispatch import transform_parsed
from rookery.transform.meastypes import MEASURE_FIELDS
from rookery.transform.time import zone
from rookery.withings.codes import (
    APPLIS,
    SUBSCRIBED_APPLIS,
    WORKOUT_CATEGORY_NAMES,
    WORKOUT_OTHER,
    MeasureType,
)
from rookery.withings.responses import DATA_FIELDS, Endpoint, parse_endpoint

DEFAULT_PATH: Final = Path("docs/mapping.md")
REGENERATE: Final = "python -m rookery.docs.mapping"

# A bare record's dates: 2023-11-14 22:00 to 2023-11-15 06:00 UTC (a night in Paris).
_START_S: Final = 1_700_000_000 - 1_700_000_000 % 3600
_END_S: Final = _START_S + 8 * 3600
_DATE: Final = "2023-11-14"
_ZONE: Final = "Europe/Paris"
# A value no rule maps to "absent": positive, not 0, a valid fraction for ratios.
_PROBE_VALUE: Final = 0.75
_PROBE_CONTEXT: Final = UserContext(
    client_uuid="00000000-0000-0000-0000-000000000000", user_id="doc", timezone=zone(_ZONE)
)


@dataclass(frozen=True, slots=True)
class Probe:
    """How to build a bare response of `endpoint` holding one Withings field, and which ROOK
    documents its transform makes of it."""

    endpoint: Endpoint
    title: str
    fields: tuple[str, ...]
    body: Callable[[Mapping[str, Any]], dict[str, Any]]


def _activity_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    day = {"date": _DATE, "timezone": _ZONE, "brand": 1, **fields}
    return {"activities": [day], "more": False, "offset": 0}


def _workouts_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    workout = {
        "id": 1,
        "category": 2,
        "timezone": _ZONE,
        "startdate": _START_S,
        "enddate": _START_S + 3600,
        "data": dict(fields),
    }
    return {"series": [workout], "more": False, "offset": 0}


def _sleep_summary_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    row = {
        "id": 1,
        "timezone": _ZONE,
        "startdate": _START_S,
        "enddate": _END_S,
        "date": _DATE,
        "data": dict(fields),
    }
    return {"series": [row], "more": False, "offset": 0}


def _intraday_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"series": {str(_START_S): dict(fields)}}


def _sleep_get_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    segment: dict[str, Any] = {"startdate": _START_S, "enddate": _END_S, "state": 1}
    segment.update({name: {str(_START_S + 60): value} for name, value in fields.items()})
    return {"series": [segment]}


def _heart_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    record = {"timestamp": _START_S, "ecg": {"signalid": 1, "afib": 0}, **fields}
    return {"series": [record], "more": False, "offset": 0}


PROBES: Final[tuple[Probe, ...]] = (
    Probe(
        Endpoint.SLEEP_GETSUMMARY,
        "Sleep v2 `getsummary`",
        tuple(name for name in DATA_FIELDS[Endpoint.SLEEP_GETSUMMARY] if name != "night_events"),
        _sleep_summary_body,
    ),
    Probe(Endpoint.SLEEP_GET, "Sleep v2 `get`", DATA_FIELDS[Endpoint.SLEEP_GET], _sleep_get_body),
    Probe(
        Endpoint.GETACTIVITY,
        "Measure v2 `getactivity`",
        DATA_FIELDS[Endpoint.GETACTIVITY],
        _activity_body,
    ),
    Probe(
        Endpoint.GETINTRADAYACTIVITY,
        "Measure v2 `getintradayactivity`",
        DATA_FIELDS[Endpoint.GETINTRADAYACTIVITY],
        _intraday_body,
    ),
    Probe(
        Endpoint.GETWORKOUTS,
        "Measure v2 `getworkouts`",
        DATA_FIELDS[Endpoint.GETWORKOUTS],
        _workouts_body,
    ),
    Probe(Endpoint.HEART_LIST, "Heart v2 `list`", ("heart_rate",), _heart_body),
)


def _documents(probe: Probe, fields: Mapping[str, Any]) -> list[RookDocument]:
    parsed = parse_endpoint(probe.endpoint, probe.body(fields))
    return [item.document for item in transform_parsed(parsed, _PROBE_CONTEXT)]


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """The leaf keys of a decoded document section with their values; arrays are leaves."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{path}.{key}" if path else key)
    else:
        yield path, value


def _filled(document: RookDocument) -> dict[str, Any]:
    """`structure.key` → value of every leaf of a document's structure objects that is set."""
    data = document.model_dump(mode="json")
    pillar = data[document.PILLAR.value]
    section = pillar["summary" if document.KIND is Kind.SUMMARY else "events"]
    structure = str(document.DATA_STRUCTURE)
    body = section[structure]
    objects: Sequence[Any] = body if isinstance(body, list) else [body]
    filled: dict[str, Any] = {}
    for item in objects:
        for key, value in _leaves(item, ""):
            if key.startswith(("metadata.", "non_structured_data_array")):
                continue
            if value is not None and value != []:
                filled[f"{structure}.{key}"] = value
    return filled


def _filled_by(documents: Sequence[RookDocument]) -> dict[str, Any]:
    filled: dict[str, Any] = {}
    for document in documents:
        filled.update(_filled(document))
    return filled


@dataclass(frozen=True, slots=True)
class FieldSources:
    """What running a probe found."""

    by_key: dict[str, list[str]]
    """ROOK key → the Withings fields that fill it when given alone (empty: the bare record
    itself fills it; `COMBINED` alone: only several fields together do)."""
    unused: tuple[str, ...]
    """The fields that fill no ROOK key."""


COMBINED: Final = "*"


def field_sources(probe: Probe) -> FieldSources:
    """Run `probe`: each of its fields alone, then all of them together."""
    baseline = _filled_by(_documents(probe, {}))
    by_key: dict[str, list[str]] = {key: [] for key in baseline}
    used: set[str] = set()
    for name in probe.fields:
        for key, value in _filled_by(_documents(probe, {name: _PROBE_VALUE})).items():
            if key not in baseline or baseline[key] != value:
                by_key.setdefault(key, []).append(name)
                used.add(name)
    everything = dict.fromkeys(probe.fields, _PROBE_VALUE)
    for key in _filled_by(_documents(probe, everything)):
        by_key.setdefault(key, [COMBINED])
    unused = tuple(name for name in probe.fields if name not in used)
    return FieldSources(dict(sorted(by_key.items())), unused)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _doc(module: ModuleType) -> str:
    return inspect.cleandoc(module.__doc__ or "")


def _code(name: str) -> str:
    return f"`{name}`"


def _structures_section() -> list[str]:
    rows = [
        [
            _code(spec.data_structure),
            _code(spec.pillar),
            spec.kind,
            _code(spec.schema_name),
            _code(spec.api_path),
        ]
        for spec in STRUCTURES
    ]
    return [
        "## Structures",
        "",
        "From `rookery.model.structures.STRUCTURES`. Each is queried with "
        "`?user_id=&date=YYYY-MM-DD` (200 with the document, 204 when there is none).",
        "",
        *_table(["data_structure", "pillar", "kind", "ROOK schema", "query API path"], rows),
        "",
    ]


def _notifications_section() -> list[str]:
    rows = []
    for code, info in APPLIS.items():
        domain = APPLI_DOMAINS.get(code)
        plan = None if domain is None else PLANS[domain]
        calls = (
            "—"
            if plan is None
            else ", ".join(
                [_code(endpoint) for endpoint in plan.ranged]
                + ([] if plan.per_record is None else [f"{_code(plan.per_record)} per record"])
            )
        )
        rows.append(
            [
                str(code.value),
                code.name.lower(),
                "—" if info.scope is None else _code(info.scope),
                "yes" if code in SUBSCRIBED_APPLIS else "no",
                ", ".join(str(meastype.value) for meastype in info.measure_types) or "—",
                calls,
            ]
        )
    return [
        "## Notification categories (`appli`)",
        "",
        "From `rookery.withings.codes.APPLIS`, `SUBSCRIBED_APPLIS` and "
        "`rookery.pipeline.plans`: what each category needs, whether Rookery subscribes to it, "
        "the meastypes Withings says it carries, and the calls one notification starts.",
        "",
        *_table(["appli", "name", "scope", "subscribed", "meastypes", "fetches"], rows),
        "",
        _doc(plans),
        "",
    ]


def _measures_section() -> list[str]:
    rows = [
        [
            str(row.meastype.value),
            row.meastype.name.lower(),
            row.unit,
            _code(row.document_type.DATA_STRUCTURE),
            _code(row.document_type.PILLAR),
            _code(row.field),
            row.rule,
            "yes" if row.manual_counts else "no",
        ]
        for row in MEASURE_FIELDS
    ]
    mapped = {row.meastype for row in MEASURE_FIELDS}
    unmapped = ", ".join(
        f"{member.value} ({member.name.lower()})"
        for member in MeasureType
        if member not in mapped and member is not MeasureType.UNKNOWN
    )
    return [
        "## Body events — Measure `getmeas`",
        "",
        "From `rookery.transform.meastypes.MEASURE_FIELDS` (the value is Withings' "
        "`value × 10^unit`, exact).",
        "",
        *_table(
            [
                "meastype",
                "name",
                "unit",
                "structure",
                "pillar",
                "field (in the event)",
                "rule",
                "manual entry counts",
            ],
            rows,
        ),
        "",
        f"No ROOK key (kept in `non_structured_data_array` only): {unmapped}; and any code "
        "Withings adds later.",
        "",
        _doc(measure),
        "",
    ]


def _sources_cell(names: Sequence[str]) -> str:
    if not names:
        return "the record itself"
    if list(names) == [COMBINED]:
        return "several fields together (see the rules above)"
    return ", ".join(_code(name) for name in names)


def _probe_section(probe: Probe, module: ModuleType, *, with_rules: bool) -> list[str]:
    found = field_sources(probe)
    rows = [[_code(key), _sources_cell(names)] for key, names in found.by_key.items()]
    unused = ", ".join(_code(name) for name in found.unused) or "none"
    return [
        f"## {probe.title} (`{probe.endpoint}`)",
        "",
        *([_doc(module), ""] if with_rules else [f"Rules: as above (`{module.__name__}`).", ""]),
        "Each Withings field given alone fills these keys (found by running the transform on a "
        "bare record; “the record itself”: its dates, zone or segments).",
        "",
        *_table(["ROOK key", "Withings fields"], rows),
        "",
        f"Asked for but filling no ROOK key (kept in `non_structured_data_array`): {unused}.",
        "",
    ]


def _workout_names_section() -> list[str]:
    rows = [[str(code), name] for code, name in sorted(WORKOUT_CATEGORY_NAMES.items())]
    return [
        "## Workout categories",
        "",
        "From `rookery.withings.codes.WORKOUT_CATEGORY_NAMES`: `activity_type_name_string` of "
        f"an `activity_event`. An unknown code is `{WORKOUT_CATEGORY_NAMES[WORKOUT_OTHER]}`.",
        "",
        *_table(["category", "name"], rows),
        "",
    ]


def _data_fields_section() -> list[str]:
    rows = [
        [_code(endpoint), ", ".join(_code(name) for name in names)]
        for endpoint, names in DATA_FIELDS.items()
    ]
    return [
        "## `data_fields` requested",
        "",
        "From `rookery.withings.responses.DATA_FIELDS`: Withings returns only the fields asked "
        "for, so the client asks for all of these.",
        "",
        *_table(["endpoint", "data_fields"], rows),
        "",
    ]


_MODULES: Final[dict[Endpoint, ModuleType]] = {
    Endpoint.SLEEP_GETSUMMARY: sleep,
    Endpoint.SLEEP_GET: sleep,
    Endpoint.GETACTIVITY: activity,
    Endpoint.GETINTRADAYACTIVITY: activity,
    Endpoint.GETWORKOUTS: workouts,
    Endpoint.HEART_LIST: heart,
}


def render() -> str:
    """The whole of `docs/mapping.md`."""
    lines = [
        "# Withings → ROOK mapping",
        "",
        f"<!-- Generated by `{REGENERATE}` from the code's tables; do not edit by hand. -->",
        "",
        "How Rookery turns Withings responses into ROOK documents, as the code does it. The "
        "rules common to every structure (datetimes in the record's own zone, exact "
        "`value × 10^unit`, rounding half away from zero, identities and versions) are in "
        "`rookery.transform.rules` and `rookery.transform.time`.",
        "",
        *_structures_section(),
        *_notifications_section(),
        *_measures_section(),
    ]
    described: set[ModuleType] = set()
    for probe in PROBES:
        module = _MODULES[probe.endpoint]
        lines += _probe_section(probe, module, with_rules=module not in described)
        described.add(module)
    lines += [*_workout_names_section(), *_data_fields_section()]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with `--check`, compare) the mapping document; 1 when `--check` finds it stale."""
    parser = argparse.ArgumentParser(prog="python -m rookery.docs.mapping", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    return write_or_check(args.path, render(), check=args.check, regenerate=REGENERATE)


if __name__ == "__main__":
    raise SystemExit(main())
