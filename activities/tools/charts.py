"""`chart_render`: line, bar, area, scatter, pie, histogram and heatmap charts to PNG, SVG
and self-contained HTML.

Uses matplotlib's object API (`Figure`, no pyplot): no global figure state, so concurrent
activities in one worker cannot draw on each other's charts, and no GUI backend is touched.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng
from activities.tools.tabular import read_table, require_columns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KINDS = ("line", "bar", "area", "scatter", "pie", "histogram", "heatmap")
FORMATS = ("png", "svg", "html", "pdf")
PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777")


class ChartRenderInput(ToolInput):
    kind: str = Field(default="line", description=" | ".join(KINDS))
    series: dict[str, list[float]] = Field(default_factory=dict, description="name -> values")
    labels: list[str] = Field(default_factory=list, description="x categories / pie slices")
    data_path: str | None = Field(
        default=None, validation_alias=AliasChoices("data_path", "table_path", "path", "daily_path")
    )
    x_column: str | None = None
    y_columns: list[str] = Field(default_factory=list)
    max_points: int = Field(default=5000, ge=10, description="longer series are downsampled")
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    formats: list[str] = Field(default_factory=lambda: ["png", "svg", "html"])
    width_in: float = Field(default=8.0, gt=1, le=40)
    height_in: float = Field(default=4.5, gt=1, le=40)


class ChartRenderOutput(ToolOutput):
    kind: str = ""
    chart_paths: dict[str, str] = Field(default_factory=dict, description="format -> file")
    points: int = 0
    series_names: list[str] = Field(default_factory=list)


def _sample_series(inp: ChartRenderInput) -> tuple[list[str], dict[str, list[float]]]:
    rnd = rng(inp, "chart_render")
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    series = {}
    for name in ("Revenue", "Costs"):
        level, values = rnd.uniform(50, 150), []
        for _ in months:
            level *= 1 + rnd.uniform(-0.05, 0.12)
            values.append(round(level, 2))
        series[name] = values
    return months, series


def _from_table(inp: ChartRenderInput) -> tuple[list[str], dict[str, list[float]]]:
    assert inp.data_path
    df = read_table(inp.data_path)
    ys = (
        inp.y_columns
        or [str(c) for c in df.select_dtypes("number").columns if c != inp.x_column][:3]
    )
    if not ys:
        raise InvalidToolInput(f"{inp.data_path} has no numeric column to plot; set y_columns")
    require_columns(df, [*ys, *([inp.x_column] if inp.x_column else [])], f"table {inp.data_path}")
    if len(df) > inp.max_points:
        step = math.ceil(len(df) / inp.max_points)
        df = df.iloc[::step]
    x_col = inp.x_column or str(df.columns[0])
    labels = [str(v) for v in df[x_col].tolist()]
    return labels, {c: [float(v) for v in df[c].tolist()] for c in ys}


def draw(
    fig: Figure, kind: str, labels: list[str], series: dict[str, list[float]], inp: ChartRenderInput
) -> None:
    ax = fig.add_subplot(1, 1, 1)
    names = list(series)
    n = max(len(v) for v in series.values())
    xs = list(range(n))
    if kind in ("line", "area"):
        for i, name in enumerate(names):
            ys = series[name]
            ax.plot(xs[: len(ys)], ys, label=name, color=PALETTE[i % len(PALETTE)], linewidth=2)
            if kind == "area":
                ax.fill_between(xs[: len(ys)], ys, alpha=0.25, color=PALETTE[i % len(PALETTE)])
    elif kind == "bar":
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            ys = series[name]
            ax.bar(
                [x + i * width - 0.4 + width / 2 for x in xs[: len(ys)]],
                ys,
                width,
                label=name,
                color=PALETTE[i % len(PALETTE)],
            )
    elif kind == "scatter":
        if len(names) >= 2:
            a, b = series[names[0]], series[names[1]]
            m = min(len(a), len(b))
            ax.scatter(a[:m], b[:m], color=PALETTE[0], s=18)
            ax.set_xlabel(inp.x_label or names[0])
            ax.set_ylabel(inp.y_label or names[1])
        else:
            ax.scatter(xs, series[names[0]], color=PALETTE[0], s=18)
    elif kind == "pie":
        values = series[names[0]]
        if any(v < 0 for v in values):
            raise InvalidToolInput("a pie chart needs non-negative values")
        slice_labels = labels or [f"#{i + 1}" for i in range(len(values))]
        ax.pie(
            values,
            labels=slice_labels[: len(values)],
            colors=[PALETTE[i % len(PALETTE)] for i in range(len(values))],
            autopct="%1.0f%%",
        )
        ax.set_aspect("equal")
    elif kind == "histogram":
        for i, name in enumerate(names):
            ax.hist(
                series[name],
                bins=min(50, max(5, int(math.sqrt(len(series[name]))))),
                alpha=0.6,
                label=name,
                color=PALETTE[i % len(PALETTE)],
            )
    elif kind == "heatmap":
        width = min(len(v) for v in series.values())
        grid = [series[name][:width] for name in names]
        image = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set_yticks(range(len(names)), labels=names)
        fig.colorbar(image, ax=ax)
    if kind in ("line", "area", "bar", "heatmap") and labels:
        step = max(1, math.ceil(len(labels) / 12))
        ax.set_xticks(
            xs[::step][: len(labels[::step])],
            labels=labels[::step],
            rotation=30 if step > 1 or len(labels) > 8 else 0,
        )
    if kind not in ("pie", "heatmap", "scatter"):
        ax.set_xlabel(inp.x_label)
        ax.set_ylabel(inp.y_label)
        if len(names) > 1 or kind == "histogram":
            ax.legend(frameon=False)
        ax.grid(alpha=0.3)
    ax.set_title(inp.title)
    fig.tight_layout()


def save_figure(fig: Figure, writer: ArtifactWriter, stem: str, fmt: str) -> str:
    import matplotlib

    path = writer.path(stem, fmt)
    # Fixed SVG ids and no timestamps: the same chart gives the same bytes.
    with matplotlib.rc_context({"svg.hashsalt": "bizos", "pdf.compression": 6}):
        metadata: dict[str, Any] = {"Date": None} if fmt in ("svg", "pdf") else {}
        fig.savefig(path, format=fmt, dpi=100, metadata=metadata)
    return str(path)


def _html_page(title: str, svg: str, labels: list[str], series: dict[str, list[float]]) -> str:
    head = "".join(f"<th>{html.escape(n)}</th>" for n in series)
    n = max(len(v) for v in series.values())
    rows = "".join(
        "<tr><td>"
        + html.escape(labels[i] if i < len(labels) else str(i))
        + "</td>"
        + "".join(f"<td>{v[i]:,.2f}</td>" if i < len(v) else "<td></td>" for v in series.values())
        + "</tr>"
        for i in range(min(n, 500))
    )
    start = svg.find("<svg")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2rem}table{border-collapse:collapse}"
        "td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><figure>{svg[start:]}</figure>"
        f"<details><summary>Data</summary><table><tr><th></th>{head}</tr>{rows}</table></details>"
        "</body></html>"
    )


@tool("chart_render", "Render line/bar/area/scatter/pie/histogram/heatmap charts to PNG, SVG, HTML")
def chart_render(inp: ChartRenderInput) -> ChartRenderOutput:
    from matplotlib.figure import Figure

    if inp.kind not in KINDS:
        raise InvalidToolInput(f"unknown chart kind {inp.kind!r}; use one of {', '.join(KINDS)}")
    bad = [f for f in inp.formats if f not in FORMATS]
    if bad or not inp.formats:
        raise InvalidToolInput(
            f"unsupported format(s) {bad or '[]'}; use some of {', '.join(FORMATS)}"
        )
    if inp.series:
        labels, series = (
            list(inp.labels),
            {k: [float(x) for x in v] for k, v in inp.series.items() if v},
        )
    elif inp.data_path:
        labels, series = _from_table(inp)
    else:
        labels, series = _sample_series(inp)
    if not series:
        raise InvalidToolInput("every series is empty: nothing to plot")
    title = inp.title or f"{inp.kind.title()} chart of {', '.join(series)}"
    fig = Figure(figsize=(inp.width_in, inp.height_in))
    draw(fig, inp.kind, labels, series, inp.model_copy(update={"title": title}))
    writer = ArtifactWriter(inp, "chart_render")
    paths: dict[str, str] = {}
    for fmt in dict.fromkeys(inp.formats):
        if fmt == "html":
            svg_path = paths.get("svg") or save_figure(fig, writer, f"chart-{inp.kind}", "svg")
            with open(svg_path, encoding="utf-8") as f:
                svg = f.read()
            paths["html"] = writer.text(
                f"chart-{inp.kind}", "html", _html_page(title, svg, labels, series)
            )
        else:
            paths[fmt] = save_figure(fig, writer, f"chart-{inp.kind}", fmt)
    points = sum(len(v) for v in series.values())
    return ChartRenderOutput(
        headline=(
            f"Rendered a {inp.kind} chart of {len(series)} series ({points} "
            f"points) as {', '.join(paths)}."
        ),
        metrics={
            "series": float(len(series)),
            "points": float(points),
            "files": float(len(set(writer.written))),
        },
        recommendations=[f"Embed {paths.get('html') or next(iter(paths.values()))} in the report."],
        artifacts=list(dict.fromkeys(writer.written)),
        kind=inp.kind,
        chart_paths=paths,
        points=points,
        series_names=list(series),
    )
