"""Small server-rendered SVG charts for the dashboard: bars, stacked bars, lines with points.

Pure (no I/O): the caller hands in numbers already in display units and gets SVG markup back,
every text escaped. The x axis is a day axis: each local date of the range owns one slot; a
timed point sits within its slot at the share of its local day that had elapsed, so a 23- or
25-hour day (a DST change) still fills exactly one slot. Colours come from CSS classes
(`part-<key>`), so the page's stylesheet themes them for light and dark; nothing is styled
inline (the dashboard's CSP allows no inline style).

Written rather than vendored: three chart shapes and their axes are a few hundred lines, and a
JavaScript library would need a build or a client-side runtime the dashboard does not otherwise
have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from markupsafe import Markup, escape

WIDTH: Final = 720
HEIGHT: Final = 240
MARGIN_LEFT: Final = 56
MARGIN_RIGHT: Final = 16
MARGIN_TOP: Final = 12
MARGIN_BOTTOM: Final = 36
# Up to this many days every day is labelled; beyond, one label a week.
DAILY_LABELS_UP_TO: Final = 16
Y_TICKS: Final = 5
POINT_RADIUS: Final = 3.5
# A bar takes this share of its day slot.
BAR_SHARE: Final = 0.7
# From this top tick up, the y axis is labelled in thousands.
THOUSANDS_FROM: Final = 1000

Formatter = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class LinearScale:
    """Maps [domain_lo, domain_hi] linearly onto [range_lo, range_hi] (either may be reversed)."""

    domain_lo: float
    domain_hi: float
    range_lo: float
    range_hi: float

    def __call__(self, value: float) -> float:
        span = self.domain_hi - self.domain_lo
        if span == 0:
            return (self.range_lo + self.range_hi) / 2
        share = (value - self.domain_lo) / span
        return self.range_lo + share * (self.range_hi - self.range_lo)


def nice_step(span: float, count: int = Y_TICKS) -> float:
    """A round step (1, 2 or 5 × 10^k) that cuts `span` into about `count` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * magnitude:
            return float(multiple * magnitude)
    return float(10 * magnitude)  # unreachable in practice: raw <= 10 × magnitude


def nice_ticks(lo: float, hi: float, count: int = Y_TICKS) -> list[float]:
    """Round tick values covering [lo, hi]: the first is ≤ lo, the last ≥ hi, evenly spaced by
    a step of 1, 2 or 5 × 10^k, about `count` intervals. A single value gets a unit-wide span
    around it."""
    if lo > hi:
        lo, hi = hi, lo
    if lo == hi:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step + 1e-9) * step
    ticks: list[float] = []
    index = 0
    while True:
        value = first + index * step
        # Rounded to the step's decimals, so 0.1 + 0.2 shows as 0.3.
        ticks.append(round(value, max(0, -math.floor(math.log10(step))) + 1))
        if value >= hi - 1e-9 * step:
            return ticks
        index += 1


def day_fraction(at: datetime) -> float:
    """How far into its local day `at` is (0 ≤ f < 1), in elapsed time: on a 25-hour day
    23:30 is 24.5/25 of the way, not 23.5/24. The local day is that of `at`'s own zone."""
    if at.tzinfo is None:
        raise ValueError("day_fraction needs an aware datetime")
    zone = at.tzinfo
    day = at.date()
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    length_s = (end - start).total_seconds()
    elapsed_s = (at.astimezone(UTC) - start).total_seconds()
    if length_s <= 0:
        return 0.0
    return min(max(elapsed_s / length_s, 0.0), math.nextafter(1.0, 0.0))


@dataclass(frozen=True, slots=True)
class DayAxis:
    """The local dates [first, last], one slot each."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("a day axis must not end before it starts")

    @property
    def days(self) -> list[date]:
        """Every day of the axis, in order."""
        return [self.first + timedelta(days=n) for n in range(len(self))]

    def __len__(self) -> int:
        return (self.last - self.first).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def position(self, day: date, fraction: float = 0.5) -> float:
        """The x of `fraction` through `day`'s slot, in plot coordinates."""
        slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(self)
        return MARGIN_LEFT + ((day - self.first).days + fraction) * slot

    @property
    def slot_width(self) -> float:
        """The width of one day's slot."""
        return (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(self)

    def labelled_days(self) -> list[date]:
        """The days that get a label: all of a short range, else every seventh from the last
        (so the most recent day is always labelled)."""
        days = self.days
        if len(days) <= DAILY_LABELS_UP_TO:
            return days
        return sorted(days[::-7])


@dataclass(frozen=True, slots=True)
class Part:
    """One layer of a stacked bar, or one line series: `key` names its CSS class
    (`part-<key>`) and data attribute; `label` is its legend text."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Point:
    """A value at a moment (aware: placed at its share of the local day) or on a day (middle
    of the slot)."""

    at: date | datetime
    value: float

    @property
    def day(self) -> date:
        """The local date the point belongs to."""
        return self.at.date() if isinstance(self.at, datetime) else self.at

    @property
    def fraction(self) -> float:
        """Where in its day's slot the point sits."""
        return day_fraction(self.at) if isinstance(self.at, datetime) else 0.5


def plain(unit: str, decimals: int = 0) -> Formatter:
    """A formatter writing `value unit` with `decimals` decimals and thousands separators."""

    def render(value: float) -> str:
        return f"{value:,.{decimals}f} {unit}".rstrip()

    return render


def hours_minutes(value_h: float) -> str:
    """A duration in hours written as `7 h 05 min`."""
    total_min = round(value_h * 60)
    hours, minutes = divmod(total_min, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _decimals(ticks: Sequence[float]) -> int:
    """Enough decimals to tell the ticks apart, and no more (the unit is in the caption)."""
    if len(ticks) < 2:
        return 0
    step = abs(ticks[1] - ticks[0])
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """The y axis's labels: from a top tick of 1,000 up, in thousands (`5k`, `12.5k`), so the
    labels fit the left margin also at the larger text of a phone; else plain, with enough
    decimals to tell the ticks apart (the unit is in the caption)."""
    if ticks and max(abs(tick) for tick in ticks) >= THOUSANDS_FROM:
        thousands = [tick / 1000 for tick in ticks]
        decimals = _decimals(thousands)
        return [f"{value:.{decimals}f}k" if value else "0" for value in thousands]
    decimals = _decimals(ticks)
    return [f"{tick:,.{decimals}f}" for tick in ticks]


def _day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def _plot_y(lo: float, hi: float) -> LinearScale:
    return LinearScale(lo, hi, HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)


def _frame(
    *,
    chart_id: str,
    title: str,
    unit: str,
    axis: DayAxis,
    ticks: Sequence[float],
    y: LinearScale,
    body: str,
    legend: Sequence[Part],
) -> Markup:
    grid: list[str] = []
    for tick, label in zip(ticks, tick_labels(ticks), strict=True):
        at = y(tick)
        grid.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
            f'y1="{_n(at)}" y2="{_n(at)}"/>'
            f'<text class="tick y-tick" x="{MARGIN_LEFT - 6}" y="{_n(at)}" '
            f'text-anchor="end" dominant-baseline="middle">{label}</text>'
        )
    labelled = axis.labelled_days()
    for index, day in enumerate(labelled):
        x = axis.position(day)
        # Every other label, counted from the last, is `alt`: narrow screens hide those.
        alt = " alt" if (len(labelled) - 1 - index) % 2 else ""
        grid.append(
            f'<line class="x-mark" x1="{_n(x)}" x2="{_n(x)}" y1="{HEIGHT - MARGIN_BOTTOM}" '
            f'y2="{HEIGHT - MARGIN_BOTTOM + 4}"/>'
            f'<text class="tick x-tick{alt}" x="{_n(x)}" y="{HEIGHT - MARGIN_BOTTOM + 18}" '
            f'text-anchor="middle" data-day="{day.isoformat()}">{escape(_day_label(day))}</text>'
        )
    baseline = HEIGHT - MARGIN_BOTTOM
    svg = (
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-title">{escape(title)} ({escape(unit)}), '
        f"{escape(_day_label(axis.first))} to {escape(_day_label(axis.last))}</title>"
        f'<g class="axes">{"".join(grid)}'
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
        f'y1="{baseline}" y2="{baseline}"/></g>'
        f"{body}</svg>"
    )
    return _figure(chart_id, title, unit, Markup(svg), legend)  # noqa: S704 - built from escaped parts


def _figure(
    chart_id: str, title: str, unit: str, content: Markup, legend: Sequence[Part]
) -> Markup:
    items = "".join(
        f'<li><span class="swatch part-{escape(part.key)}"></span>{escape(part.label)}</li>'
        for part in legend
    )
    legend_html = f'<ul class="legend">{items}</ul>' if len(legend) > 1 else ""
    return Markup(  # noqa: S704 - every interpolated text is escaped
        f'<figure class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}">'
        f'<figcaption>{escape(title)} <span class="unit">{escape(unit)}</span></figcaption>'
        f"{content}{legend_html}</figure>"
    )


def empty_chart(*, chart_id: str, title: str, unit: str, message: str) -> Markup:
    """A chart's place when it has nothing to draw: its title and `message`."""
    content = Markup('<p class="chart-empty">{}</p>').format(message)
    return _figure(chart_id, title, unit, content, ())


def stacked_bar_chart(
    *,
    chart_id: str,
    title: str,
    unit: str,
    axis: DayAxis,
    parts: Sequence[Part],
    values: Mapping[date, Sequence[float | None]],
    value_format: Formatter,
    empty: str = "No data in this range.",
) -> Markup:
    """One bar per day of `axis` that has values, its `parts` stacked bottom-up in order.

    `values[day][i]` is part i's value (None or 0: no segment). Days outside the axis are
    ignored. Each segment carries `data-day`, `data-part` and `data-value` (the value given).
    """
    days = {day: row for day, row in values.items() if day in axis}
    if any(len(row) != len(parts) for row in days.values()):
        raise ValueError("each day needs one value per part")
    totals = [sum(v for v in row if v) for row in days.values()]
    if not days or max(totals, default=0) <= 0:
        return empty_chart(chart_id=chart_id, title=title, unit=unit, message=empty)
    ticks = nice_ticks(0.0, max(totals))
    y = _plot_y(0.0, ticks[-1])
    width = axis.slot_width * BAR_SHARE
    shapes: list[str] = []
    for day in sorted(days):
        bottom = 0.0
        x = axis.position(day) - width / 2
        for part, value in zip(parts, days[day], strict=True):
            if not value or value <= 0:
                continue
            top = bottom + value
            shapes.append(
                f'<rect class="bar part-{escape(part.key)}" x="{_n(x)}" y="{_n(y(top))}" '
                f'width="{_n(width)}" height="{_n(y(bottom) - y(top))}" '
                f'data-day="{day.isoformat()}" data-part="{escape(part.key)}" '
                f'data-value="{value!r}"><title>{escape(_day_label(day))}: '
                f"{escape(part.label)} {escape(value_format(value))}</title></rect>"
            )
            bottom = top
    # The legend names only the parts drawn somewhere.
    drawn = [
        part for i, part in enumerate(parts) if any((row[i] or 0) > 0 for row in days.values())
    ]
    return _frame(
        chart_id=chart_id,
        title=title,
        unit=unit,
        axis=axis,
        ticks=ticks,
        y=y,
        body=f'<g class="bars">{"".join(shapes)}</g>',
        legend=drawn,
    )


def bar_chart(
    *,
    chart_id: str,
    title: str,
    unit: str,
    axis: DayAxis,
    part: Part,
    values: Mapping[date, float | None],
    value_format: Formatter,
    empty: str = "No data in this range.",
) -> Markup:
    """One bar per day of `axis` with a value (see `stacked_bar_chart`)."""
    return stacked_bar_chart(
        chart_id=chart_id,
        title=title,
        unit=unit,
        axis=axis,
        parts=(part,),
        values={day: (value,) for day, value in values.items()},
        value_format=value_format,
        empty=empty,
    )


def line_chart(
    *,
    chart_id: str,
    title: str,
    unit: str,
    axis: DayAxis,
    series: Sequence[tuple[Part, Sequence[Point]]],
    value_format: Formatter,
    empty: str = "No data in this range.",
    ceiling: float | None = None,
) -> Markup:
    """Each series as points joined in time order; the y axis spans the values (not from 0),
    and never goes above `ceiling` when one is given (a percentage's 100).

    Points outside the axis are ignored. Each point carries `data-part`, `data-day`,
    `data-at` (ISO date or datetime) and `data-value` (the value given).
    """
    kept = [
        (part, sorted((p for p in points if p.day in axis), key=_point_order))
        for part, points in series
    ]
    values = [point.value for _, points in kept for point in points]
    if not values:
        return empty_chart(chart_id=chart_id, title=title, unit=unit, message=empty)
    ticks = nice_ticks(min(values), max(values))
    if ceiling is not None:
        capped = [tick for tick in ticks if tick <= ceiling]
        # Only when the capped axis still reaches the highest value.
        if len(capped) >= 2 and capped[-1] >= max(values):
            ticks = capped
    y = _plot_y(ticks[0], ticks[-1])
    shapes: list[str] = []
    for part, points in kept:
        if not points:
            continue
        coordinates = [(axis.position(p.day, p.fraction), y(p.value)) for p in points]
        if len(points) > 1:
            path = " ".join(f"{_n(x)},{_n(v)}" for x, v in coordinates)
            shapes.append(f'<polyline class="line part-{escape(part.key)}" points="{path}"/>')
        for point, (x, v) in zip(points, coordinates, strict=True):
            shapes.append(
                f'<circle class="point part-{escape(part.key)}" cx="{_n(x)}" cy="{_n(v)}" '
                f'r="{POINT_RADIUS}" data-part="{escape(part.key)}" '
                f'data-day="{point.day.isoformat()}" data-at="{point.at.isoformat()}" '
                f'data-value="{point.value!r}"><title>{escape(_moment_label(point))}: '
                f"{escape(part.label)} {escape(value_format(point.value))}</title></circle>"
            )
    return _frame(
        chart_id=chart_id,
        title=title,
        unit=unit,
        axis=axis,
        ticks=ticks,
        y=y,
        body=f'<g class="lines">{"".join(shapes)}</g>',
        legend=[part for part, _ in series],
    )


def _point_order(point: Point) -> tuple[date, float]:
    return point.day, point.fraction


def _moment_label(point: Point) -> str:
    if isinstance(point.at, datetime):
        return f"{_day_label(point.day)} {point.at:%H:%M}"
    return _day_label(point.day)
