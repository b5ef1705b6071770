"""Column charts drawn on the server as SVG, for the dashboard, Usage and Feedback pages.

The SVG has no viewBox: x is in percent of its width and y in pixels of a fixed height, so columns
stretch with the page while text keeps its size on a phone and on a wide screen. Values stay exact
(``Decimal`` or ``int``) for the labels and tooltips; only the geometry is computed in floats.

``templates/includes/column_chart.html`` draws what ``column_chart`` returns; static/js/app.js shows
each column's tooltip (every series' value and the total) from its ``data-tip``.
"""

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, Decimal

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

HEIGHT = 240
TOP = 14  # room for the highest gridline's label
BOTTOM = 24  # room for the date labels
MAX_X_LABELS = 8  # on a wide screen; CSS hides every other one on a phone
TARGET_GRIDLINES = 4  # above zero; round steps give 2 to 4, so 3 to 5 lines with the zero line
COLUMN_FILL = 0.72  # of each column's slot; the rest is the gap


@dataclasses.dataclass(frozen=True)
class Series:
    key: str
    label: str
    css: str  # a class of app.css that colours it: series-1 … series-5, positive, negative


@dataclasses.dataclass(frozen=True)
class Category:
    label: str  # under the column
    title: str  # at the top of its tooltip


def day_categories(days) -> list[Category]:
    """One category per date: "Dec 4" under its column, "Fri, Dec 4, 2026" atop its tooltip."""
    # The formats are translated (Django's date format letters): "n月j日" reads better in Chinese
    # than "十二月 4", which "M j" would give.
    label_format = pgettext("date format of a chart's day", "M j")
    title_format = pgettext("date format of a chart's day in full", "D, M j, Y")
    return [
        Category(label=date_format(day, label_format), title=date_format(day, title_format)) for day in days
    ]


def nice_step(peak: Decimal, *, whole: bool = False) -> Decimal:
    """The round step (1, 2, 2.5 or 5 times a power of ten) that splits ``peak`` into at most
    four parts, and at least two. ``whole`` keeps steps of counts at 1 or more, without fractions."""
    if peak <= 0:
        return Decimal(1)
    raw = peak / TARGET_GRIDLINES
    power = Decimal(1).scaleb(raw.adjusted())
    for multiple in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        step = power * multiple
        if step >= raw:
            break
    if whole:
        step = max(step.to_integral_value(rounding=ROUND_CEILING), Decimal(1))
    return step


def compact_number(value) -> str:
    """1,234 → "1.2k", 2,500,000 → "2.5M": for axis labels, where space is short."""
    value = Decimal(value)
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k")):
        if abs(value) >= size:
            shown = (value / size).quantize(Decimal("0.1")).normalize()
            return f"{shown:f}{suffix}"
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def column_chart(
    *,
    categories: Sequence[Category],
    series: Sequence[Series],
    values: Sequence[dict],
    format_value: Callable[[object], str],
    format_tick: Callable[[object], str] | None = None,
    whole: bool = False,
    height: int = HEIGHT,
) -> dict:
    """Columns stacked by ``series``, one per category; ``values[i][series.key]`` is category i's value.

    Returns what the template draws: gridlines with labels at round values, columns of segments, the
    date labels thinned to fit, a legend, and per column the tooltip's rows as JSON.
    """
    format_tick = format_tick or format_value
    totals = [sum((row.get(s.key, 0) for s in series), Decimal(0)) for row in values]
    peak = max(totals, default=Decimal(0))
    step = nice_step(peak, whole=whole)
    top = step * max(math.ceil(peak / step), 1) if peak > 0 else step * 2
    plot_top, plot_bottom = TOP, height - BOTTOM
    plot_height = plot_bottom - plot_top

    def y_of(value) -> float:
        return plot_bottom - float(Decimal(value) / top) * plot_height

    gridlines = []
    tick = Decimal(0)
    while tick <= top:
        y = y_of(tick)
        gridlines.append(
            {"y": round(y, 1), "label_y": round(y - 4, 1), "label": format_tick(tick), "zero": tick == 0}
        )
        tick += step

    count = max(len(categories), 1)
    slot = 100 / count
    every = max(math.ceil(count / MAX_X_LABELS), 1)
    columns, x_labels = [], []
    for index, (category, row, total) in enumerate(zip(categories, values, totals, strict=True)):
        left = index * slot
        bar_x, bar_width = left + slot * (1 - COLUMN_FILL) / 2, slot * COLUMN_FILL
        segments, base = [], Decimal(0)
        for item in series:
            value = row.get(item.key, 0)
            if value:
                segments.append(
                    {
                        "y": round(y_of(base + value), 1),
                        "height": round(y_of(base) - y_of(base + value), 1),
                        "css": item.css,
                    }
                )
            base += value
        tip = {
            "title": category.title,
            "rows": [[str(item.label), format_value(row.get(item.key, 0)), item.css] for item in series],
            "total": [_("Total"), format_value(total)] if len(series) > 1 else None,
        }
        columns.append(
            {
                "x": round(left, 3),
                "width": round(slot, 3),
                "bar_x": round(bar_x, 3),
                "bar_width": round(bar_width, 3),
                "segments": segments,
                "tip": json.dumps(tip, ensure_ascii=False),
                "summary": f"{category.title}: "
                + ", ".join(f"{label} {value}" for label, value, _css in tip["rows"])
                + (f"; {tip['total'][0]} {tip['total'][1]}" if tip["total"] else ""),
            }
        )
        # Labels count back from the last column (today), so the newest day always has one.
        from_end = count - 1 - index
        if from_end % every == 0:
            center = left + slot / 2
            anchor = "start" if center < 4 else "end" if center > 96 else "middle"
            x_labels.append(
                {
                    "x": round(center, 3),
                    "text": category.label,
                    "anchor": anchor,
                    "minor": (from_end // every) % 2 == 1,
                }
            )
    return {
        "height": height,
        "plot_bottom": plot_bottom,
        "gridlines": gridlines,
        "columns": columns,
        "x_labels": x_labels,
        "legend": [{"label": item.label, "css": item.css} for item in series] if len(series) > 1 else [],
        "empty": peak == 0,
    }
