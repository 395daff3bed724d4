"""Charts drawn on the server as inline SVG: no script, no `style=` attribute (the page's CSP
forbids inline styles; the look lives in static/insights.css under the `chart-*` classes),
every label XML-escaped, a `<title>` per bar so a pointer (or a long press) shows its value.
Each chart has a `viewBox` and `width="100%"`, so it scales down to a phone's width."""

from __future__ import annotations

import math
from datetime import date, timedelta
from html import escape

from markupsafe import Markup

WIDTH = 440  # narrow: on a 375 px phone the text shrinks by a third at most
LABEL_W = 150  # room for the label column of a bar chart
BAR_X = LABEL_W + 6
BAR_MAX = 200  # the longest bar; the value is written after it
ROW_H = 28
BAR_H = 18
LABEL_CHARS = 19
MAX_DAYS = 400  # a daily chart never draws more columns than this


def _x(text: str) -> str:
    return escape(text, quote=True)


def _num(value: float) -> float:
    return value if math.isfinite(value) and value > 0 else 0.0


def format_value(value: float, unit: str = "usd") -> str:
    if unit == "usd":
        return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart_svg(rows: list[tuple[str, float]], unit: str = "usd") -> str:
    """Horizontal bars, one per (label, value), in the given order; bar lengths are
    proportional to the values (the largest is `BAR_MAX` wide)."""
    values = [_num(v) for _, v in rows]
    top = max(values, default=0.0)
    height = max(ROW_H * len(rows), ROW_H) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-bars" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-label="bar chart, {len(rows)} bars">'
    ]
    if not rows:
        parts.append(f'<text class="chart-empty" x="4" y="{ROW_H - 8}">no data</text>')
    for i, ((label, _), value) in enumerate(zip(rows, values, strict=True)):
        y = 4 + i * ROW_H
        length = round(value / top * BAR_MAX, 2) if top else 0.0
        shown = format_value(value, unit)
        parts.append(
            f'<g class="chart-row"><title>{_x(label)}: {_x(shown)}</title>'
            f'<text class="chart-label" x="4" y="{y + BAR_H - 4}">{_x(_short(label))}</text>'
            f'<rect class="chart-bar" x="{BAR_X}" y="{y}" width="{length}" height="{BAR_H}" '
            f'rx="3"/>'
            f'<text class="chart-value" x="{BAR_X + length + 6:.2f}" y="{y + BAR_H - 4}">'
            f"{_x(shown)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def daily_chart_svg(points: list[tuple[date, float]], unit: str = "usd") -> str:
    """One column per day from the first point's day to the last (days without a point
    are drawn as zero), column heights proportional to the values."""
    height, left, right, top_pad, bottom = 200, 64, 8, 14, 36
    by_day: dict[date, float] = {}
    for day, value in points:
        by_day[day] = by_day.get(day, 0.0) + _num(value)
    days: list[date] = []
    if by_day:
        first, last = min(by_day), max(by_day)
        span = min((last - first).days, MAX_DAYS - 1)
        days = [first + timedelta(days=i) for i in range(span + 1)]
    top = max(by_day.values(), default=0.0)
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    base = top_pad + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-daily" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-label="daily chart, {len(days)} days">',
        f'<line class="chart-axis" x1="{left}" y1="{base}" x2="{WIDTH - right}" y2="{base}"/>',
        f'<text class="chart-tick" x="{left - 6}" y="{base}" text-anchor="end">'
        f"{_x(format_value(0.0, unit))}</text>",
    ]
    if top:
        parts.append(
            f'<text class="chart-tick" x="{left - 6}" y="{top_pad + 4}" text-anchor="end">'
            f"{_x(format_value(top, unit))}</text>"
        )
    if not days:
        parts.append(f'<text class="chart-empty" x="{left + 8}" y="{base - 8}">no data</text>')
    col = plot_w / max(len(days), 1)
    bar_w = min(col * 0.8, 40.0)  # a few days do not make slabs
    every = max(1, math.ceil(len(days) / 6))
    for i, day in enumerate(days):
        value = by_day.get(day, 0.0)
        h = round(value / top * plot_h, 2) if top else 0.0
        x = left + i * col
        shown = f"{day.isoformat()}: {format_value(value, unit)}"
        parts.append(
            f'<g class="chart-col"><title>{_x(shown)}</title>'
            f'<rect class="chart-bar" x="{x + (col - bar_w) / 2:.2f}" y="{base - h:.2f}" '
            f'width="{bar_w:.2f}" height="{h}"/></g>'
        )
        if i % every == 0 or (i == len(days) - 1 and i % every > every / 2):
            # the last label ends at the plot's edge rather than past it
            end = i == len(days) - 1 and len(days) > 1
            tx, anchor = (x + col, "end") if end else (x + col / 2, "middle")
            parts.append(
                f'<text class="chart-tick" x="{tx:.2f}" y="{base + 18}" '
                f'text-anchor="{anchor}">{_x(day.strftime("%m-%d"))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
