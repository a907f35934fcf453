"""The SVG chart module: scales, ticks, the day axis (DST days included), bars, lines, empty
states and escaping."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from rookery.web import charts
from rookery.web.charts import DayAxis, LinearScale, Part, Point

SVG = "{http://www.w3.org/2000/svg}"
PARIS = ZoneInfo("Europe/Paris")
AXIS = DayAxis(date(2026, 3, 27), date(2026, 3, 31))


def _svg(markup: str) -> ET.Element:
    """The chart's <svg>, parsed (the figure around it is HTML)."""
    match = re.search(r"<svg.*</svg>", markup, re.DOTALL)
    assert match is not None, markup
    return ET.fromstring(  # noqa: S314 - our own output, not untrusted input
        match.group(0).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    )


def test_a_linear_scale_maps_ends_and_middle_and_may_be_reversed() -> None:
    y = LinearScale(0, 10, 200, 0)
    assert y(0) == 200
    assert y(10) == 0
    assert y(5) == 100
    assert LinearScale(3, 3, 0, 100)(3) == 50  # a flat domain sits in the middle


@given(
    lo=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    span=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
)
def test_nice_ticks_cover_the_values_with_round_even_steps(lo: float, span: float) -> None:
    hi = lo + span
    ticks = charts.nice_ticks(lo, hi)
    assert ticks[0] <= lo + 1e-9 * span
    assert ticks[-1] >= hi - 1e-9 * span
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
    step = charts.nice_step(hi - lo)
    assert all(abs(s - step) <= step * 1e-6 + 1e-6 for s in steps)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5, 10)


def test_nice_ticks_known_values() -> None:
    assert charts.nice_ticks(0, 9.3) == [0, 2, 4, 6, 8, 10]
    assert charts.nice_ticks(71.2, 72.9) == [71, 71.5, 72, 72.5, 73]
    assert charts.nice_ticks(0, 12_345) == [0, 5000, 10_000, 15_000]
    assert charts.nice_ticks(96, 96) == [90, 92, 94, 96, 98, 100, 102]


def test_day_fraction_uses_elapsed_time_on_dst_days() -> None:
    # 29 March 2026: Paris springs forward at 02:00, the day lasts 23 hours.
    spring = datetime(2026, 3, 29, 12, 0, tzinfo=PARIS)
    assert charts.day_fraction(spring) == pytest.approx(11 / 23)
    # 25 October 2026: Paris falls back at 03:00, the day lasts 25 hours.
    autumn = datetime(2026, 10, 25, 23, 30, tzinfo=PARIS)
    assert charts.day_fraction(autumn) == pytest.approx(24.5 / 25)
    assert charts.day_fraction(datetime(2026, 3, 28, 12, 0, tzinfo=PARIS)) == 0.5
    assert charts.day_fraction(datetime(2026, 3, 28, 0, 0, tzinfo=UTC)) == 0.0
    with pytest.raises(ValueError, match="aware"):
        charts.day_fraction(datetime(2026, 3, 28, 12, 0))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_day_fraction_is_within_the_day_and_grows_with_time(naive: datetime) -> None:
    moment = naive.replace(tzinfo=UTC).astimezone(PARIS)
    fraction = charts.day_fraction(moment)
    assert 0 <= fraction < 1
    later = (moment.astimezone(UTC) + timedelta(minutes=30)).astimezone(PARIS)
    if later.date() == moment.date():
        assert charts.day_fraction(later) > fraction


def test_the_day_axis_places_days_in_order_and_labels_long_ranges_weekly() -> None:
    assert AXIS.days == [date(2026, 3, d) for d in range(27, 32)]
    assert AXIS.position(date(2026, 3, 27), 0) == charts.MARGIN_LEFT
    assert AXIS.position(date(2026, 3, 31), 1) == pytest.approx(charts.WIDTH - charts.MARGIN_RIGHT)
    assert AXIS.labelled_days() == AXIS.days
    month = DayAxis(date(2026, 1, 1), date(2026, 3, 1))
    labelled = month.labelled_days()
    assert labelled[-1] == date(2026, 3, 1)
    assert all((b - a).days == 7 for a, b in itertools.pairwise(labelled))
    with pytest.raises(ValueError, match="end before"):
        DayAxis(date(2026, 3, 2), date(2026, 3, 1))


def test_stacked_bars_are_as_tall_as_their_values_and_stack_in_order() -> None:
    parts = (Part("deep", "Deep"), Part("light", "Light"))
    markup = charts.stacked_bar_chart(
        chart_id="sleep",
        title="Sleep",
        unit="hours",
        axis=AXIS,
        parts=parts,
        values={date(2026, 3, 28): (1.5, 4.0), date(2026, 3, 30): (2.0, None)},
        value_format=charts.hours_minutes,
    )
    rects = _svg(markup).findall(f".//{SVG}rect")
    assert [(r.get("data-day"), r.get("data-part")) for r in rects] == [
        ("2026-03-28", "deep"),
        ("2026-03-28", "light"),
        ("2026-03-30", "deep"),
    ]
    heights = [float(r.get("height", "0")) for r in rects]
    values = [float(r.get("data-value", "0")) for r in rects]
    # One pixel scale for every segment: height / value is constant.
    assert len({round(h / v, 6) for h, v in zip(heights, values, strict=True)}) == 1
    deep, light = rects[0], rects[1]
    assert float(light.get("y", "0")) + float(light.get("height", "0")) == pytest.approx(
        float(deep.get("y", "0"))
    )  # light sits on top of deep
    assert float(deep.get("y", "0")) + float(deep.get("height", "0")) == pytest.approx(
        charts.HEIGHT - charts.MARGIN_BOTTOM
    )  # bars stand on the axis
    assert "28 Mar: Deep 1 h 30 min" in markup
    assert 'class="legend"' in markup


def test_lines_join_points_in_time_order_and_span_the_values() -> None:
    morning = datetime(2026, 3, 29, 7, 0, tzinfo=PARIS)
    markup = charts.line_chart(
        chart_id="weight",
        title="Weight",
        unit="kg",
        axis=AXIS,
        series=[
            (
                Part("weight", "Weight"),
                [Point(morning, 71.5), Point(date(2026, 3, 27), 72.25), Point(date(2040, 1, 1), 1)],
            )
        ],
        value_format=charts.plain("kg", 1),
    )
    svg = _svg(markup)
    points = svg.findall(f".//{SVG}circle")
    assert [p.get("data-value") for p in points] == ["72.25", "71.5"]  # in time order, 2040 out
    assert points[1].get("data-at") == morning.isoformat()
    # 07:00 on the 23-hour day Paris springs forward: 6 hours have elapsed since midnight.
    x_morning = float(points[1].get("cx", "0"))
    assert x_morning == pytest.approx(AXIS.position(date(2026, 3, 29), 6 / 23), abs=0.01)
    assert float(points[0].get("cy", "0")) < float(points[1].get("cy", "0"))  # heavier is higher
    ticks = [t.text for t in svg.findall(f".//{SVG}text") if "y-tick" in (t.get("class") or "")]
    assert ticks == ["71.4", "71.6", "71.8", "72.0", "72.2", "72.4"]  # the unit is in the caption
    assert svg.find(f".//{SVG}polyline") is not None


def _y_ticks(markup: Markup) -> list[str | None]:
    svg = _svg(markup)
    return [t.text for t in svg.findall(f".//{SVG}text") if "y-tick" in (t.get("class") or "")]


def test_thousands_are_labelled_short_to_fit_the_margin() -> None:
    assert charts.tick_labels([0, 5000, 10_000, 15_000]) == ["0", "5k", "10k", "15k"]
    assert charts.tick_labels([1000, 1200, 1400]) == ["1.0k", "1.2k", "1.4k"]
    assert charts.tick_labels([0, 200, 400, 600, 800]) == ["0", "200", "400", "600", "800"]
    assert charts.tick_labels([89.5, 90, 90.5]) == ["89.5", "90.0", "90.5"]
    markup = charts.bar_chart(
        chart_id="steps",
        title="Steps",
        unit="steps",
        axis=AXIS,
        part=Part("steps", "Steps"),
        values={date(2026, 3, 27): 12_345},
        value_format=charts.plain("steps"),
    )
    assert _y_ticks(markup) == ["0", "5k", "10k", "15k"]
    assert "12,345 steps" in markup  # the bar's own label keeps the exact value


def test_a_ceiling_keeps_the_axis_at_or_below_it() -> None:
    def spo2(values: list[float], ceiling: float | None) -> list[str | None]:
        return _y_ticks(
            charts.line_chart(
                chart_id="spo2",
                title="SpO2",
                unit="%",
                axis=AXIS,
                series=[
                    (
                        Part("spo2", "SpO2"),
                        [Point(date(2026, 3, 27 + i), v) for i, v in enumerate(values)],
                    )
                ],
                value_format=charts.plain("%"),
                ceiling=ceiling,
            )
        )

    assert spo2([96], None)[-1] == "102"  # a lone value is padded on both sides
    assert spo2([96], 100) == ["90", "92", "94", "96", "98", "100"]
    assert spo2([100], 100)[-1] == "100"
    assert spo2([97, 99], 100)[-1] == "99.0"  # the axis ends where the values do


@pytest.mark.parametrize(
    "markup",
    [
        charts.bar_chart(
            chart_id="steps",
            title="Steps",
            unit="steps",
            axis=AXIS,
            part=Part("steps", "Steps"),
            values={date(2025, 1, 1): 5000},  # outside the range
            value_format=charts.plain("steps"),
            empty="No daily activity in this range.",
        ),
        charts.line_chart(
            chart_id="spo2",
            title="SpO2",
            unit="%",
            axis=AXIS,
            series=[(Part("spo2", "SpO2"), [])],
            value_format=charts.plain("%"),
            empty="No daily activity in this range.",
        ),
    ],
)
def test_nothing_to_draw_shows_the_empty_message_and_no_svg(markup: str) -> None:
    assert "<svg" not in markup
    assert '<p class="chart-empty">No daily activity in this range.</p>' in markup


def test_every_text_is_escaped() -> None:
    markup = charts.bar_chart(
        chart_id="x",
        title='<script>"t"</script>',
        unit="<u>",
        axis=AXIS,
        part=Part("steps", "<b>"),
        values={date(2026, 3, 28): 3.0},
        value_format=lambda value: f"{value} <i>",
    )
    assert "<script>" not in markup
    assert "<b>" not in markup
    assert "<i>" not in markup
    assert "&lt;script&gt;" in markup
    _svg(markup)  # still well-formed XML


def test_a_row_with_the_wrong_number_of_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="one value per part"):
        charts.stacked_bar_chart(
            chart_id="x",
            title="x",
            unit="h",
            axis=AXIS,
            parts=(Part("a", "A"), Part("b", "B")),
            values={date(2026, 3, 28): (1.0,)},
            value_format=charts.plain("h"),
        )


def test_formatters() -> None:
    assert charts.hours_minutes(7.0833333) == "7 h 05 min"
    assert charts.hours_minutes(0.5) == "30 min"
    assert charts.plain("steps")(12345.0) == "12,345 steps"
    assert charts.plain("")(5000.0) == "5,000"
    assert charts.plain("kg", 1)(71.25) == "71.2 kg"
