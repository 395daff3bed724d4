"""Data analytics on tables by reference: `table_analytics` and `cohort_analysis`.

Built for 100K+ rows: one vectorised pass per question (pandas), full results written as
CSV artifacts, only the top rows inline.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import DataFileError, InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import np_rng
from activities.tools.tabular import read_table, require_columns

if TYPE_CHECKING:
    import pandas as pd

_VALUE_NAMES = ("revenue", "sales", "amount", "value", "total", "gmv", "spend")


class TableAnalyticsInput(ToolInput):
    table_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "table_path", "data_path", "path", "csv_path", "parquet_path"
        ),
        description="CSV/TSV/Parquet/JSONL file; a sample sales table is generated without one",
    )
    date_column: str | None = None
    value_column: str | None = None
    group_by: list[str] = Field(default_factory=list)
    agg: str = Field(default="sum", description="sum | mean | count for group-bys and trends")
    rows: int = Field(default=100_000, ge=100, le=2_000_000, description="sample table size")
    top_n: int = Field(default=10, ge=1, le=100)
    anomaly_z: float = Field(default=3.5, gt=0, description="robust z-score that flags a day")


class GroupRow(BaseModel):
    key: str
    value: float
    count: int
    share_pct: float


class Anomaly(BaseModel):
    date: str
    value: float
    expected: float
    robust_z: float


class TableAnalyticsOutput(ToolOutput):
    rows: int = 0
    date_column: str | None = None
    value_column: str = ""
    kpis: dict[str, float] = Field(default_factory=dict)
    groups: dict[str, list[GroupRow]] = Field(default_factory=dict)
    trend: dict[str, float] = Field(default_factory=dict)
    monthly: dict[str, float] = Field(default_factory=dict)
    anomalies: list[Anomaly] = Field(default_factory=list)
    summary_path: str = ""
    groups_path: str = ""
    daily_path: str = ""
    source: str = ""


def _detect_date(df: pd.DataFrame) -> str | None:
    import pandas as pd

    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            return str(c)
    for c in df.columns:
        name = str(c).lower()
        textual = df[c].dtype == object or pd.api.types.is_string_dtype(df[c])
        if any(k in name for k in ("date", "time", "day", "month")) and textual:
            parsed = pd.to_datetime(df[c].head(50), errors="coerce")
            if parsed.notna().mean() > 0.9:
                return str(c)
    return None


def _detect_value(df: pd.DataFrame) -> str:
    numeric = [str(c) for c in df.select_dtypes("number").columns]
    if not numeric:
        raise DataFileError("the table has no numeric column to analyse; name one in value_column")
    for name in _VALUE_NAMES:
        for c in numeric:
            if c.lower() == name:
                return c
    return max(numeric, key=lambda c: float(df[c].abs().sum()))


def _detect_groups(df: pd.DataFrame, exclude: set[str]) -> list[str]:
    out = []
    for c in df.columns:
        if str(c) in exclude or df[c].dtype.kind in "fiumM":
            continue
        if 1 < df[c].nunique(dropna=True) <= 50:
            out.append(str(c))
    return out[:2]


def robust_anomalies(daily: pd.Series, threshold: float) -> list[Anomaly]:
    """Days far from their 7-day centred median, in units of the median absolute deviation.
    Medians, not means, so the spikes being hunted do not hide themselves."""
    if len(daily) < 8:
        return []
    expected = daily.rolling(7, center=True, min_periods=3).median()
    resid = daily - expected
    mad = float((resid - resid.median()).abs().median())
    if mad == 0:
        mad = float(resid.abs().mean()) or 1.0
    z = 0.6745 * (resid - resid.median()) / mad
    flagged = z[z.abs() > threshold]
    return [
        Anomaly(
            date=str(d.date()),
            value=float(daily[d]),
            expected=float(expected[d]),
            robust_z=round(float(z[d]), 2),
        )
        for d in flagged.index
    ]


def linear_trend(daily: pd.Series) -> dict[str, float]:
    import numpy as np

    if len(daily) < 2:
        return {}
    t = (daily.index - daily.index[0]).days.to_numpy(dtype=float)
    y = daily.to_numpy(dtype=float)
    slope, _intercept = np.polyfit(t, y, 1)
    mean = float(y.mean()) or 1.0
    out = {
        "slope_per_day": float(slope),
        "growth_pct_per_30d": float(100.0 * slope * 30 / mean),
    }
    if len(daily) >= 60:
        last, prev = float(daily.iloc[-30:].sum()), float(daily.iloc[-60:-30].sum())
        if prev:
            out["last_30d_vs_prior_pct"] = 100.0 * (last - prev) / prev
    return out


def _aggregate(series_grouped: Any, agg: str) -> Any:
    if agg == "sum":
        return series_grouped.sum()
    if agg == "mean":
        return series_grouped.mean()
    return series_grouped.size()


@tool("table_analytics", "KPIs, group-bys, trends and anomalies on a large CSV/Parquet table")
def table_analytics(inp: TableAnalyticsInput) -> TableAnalyticsOutput:
    import pandas as pd

    from activities.tools.sample_tables import sales_table

    if inp.agg not in ("sum", "mean", "count"):
        raise InvalidToolInput(f"agg must be sum, mean or count, not {inp.agg!r}")
    if inp.table_path:
        df = read_table(inp.table_path)
        source = inp.table_path
    else:
        df = sales_table(np_rng(inp, "table_analytics"), inp.rows)
        source = f"sample sales table ({inp.rows} rows)"
    if df.empty:
        raise DataFileError(f"table {source} has no rows")
    date_col = inp.date_column or _detect_date(df)
    value_col = inp.value_column or _detect_value(df)
    require_columns(df, [c for c in (date_col, value_col, *inp.group_by) if c], f"table {source}")
    if not pd.api.types.is_numeric_dtype(df[value_col]):
        raise DataFileError(f"value_column {value_col!r} is not numeric")
    values = df[value_col]
    kpis = {
        "rows": float(len(df)),
        "columns": float(df.shape[1]),
        "total": float(values.sum()),
        "mean": float(values.mean()),
        "median": float(values.median()),
        "std": float(values.std(ddof=1)) if len(df) > 1 else 0.0,
        "min": float(values.min()),
        "max": float(values.max()),
        "null_cells": float(df.isna().sum().sum()),
    }
    group_cols = inp.group_by or _detect_groups(df, {c for c in (date_col, value_col) if c})
    groups: dict[str, list[GroupRow]] = {}
    group_frames = []
    for g in group_cols:
        grouped = df.groupby(g, observed=True)[value_col]
        agg_values = _aggregate(grouped, inp.agg)
        counts = grouped.size()
        total = float(agg_values.sum()) or 1.0
        table = pd.DataFrame({"value": agg_values, "count": counts}).sort_values(
            "value", ascending=False
        )
        table["share_pct"] = 100.0 * table["value"] / total
        groups[g] = [
            GroupRow(
                key=str(k),
                value=float(r.value),
                count=int(r["count"]),
                share_pct=round(float(r.share_pct), 2),
            )
            for k, r in table.head(inp.top_n).iterrows()
        ]
        group_frames.append(table.reset_index().rename(columns={g: "key"}).assign(group_by=g))

    writer = ArtifactWriter(inp, "table_analytics")
    summary_path = writer.path("summary", "csv")
    df.describe(include="all").transpose().to_csv(summary_path)
    groups_path = ""
    if group_frames:
        gp = writer.path("groups", "csv")
        pd.concat(group_frames, ignore_index=True).to_csv(gp, index=False)
        groups_path = str(gp)

    trend: dict[str, float] = {}
    monthly: dict[str, float] = {}
    anomalies: list[Anomaly] = []
    daily_path = ""
    if date_col:
        dates = pd.to_datetime(df[date_col], errors="coerce")
        if dates.notna().any():
            by_day = _aggregate(values.groupby(dates.dt.normalize()), inp.agg)
            daily = by_day.asfreq("D", fill_value=0) if inp.agg != "mean" else by_day.asfreq("D")
            daily = daily.dropna()
            trend = linear_trend(daily)
            by_month = _aggregate(values.groupby(dates.dt.to_period("M")), inp.agg)
            monthly = {str(k): float(v) for k, v in by_month.items()}
            anomalies = robust_anomalies(daily, inp.anomaly_z)
            dp = writer.path("daily", "csv")
            daily.rename(value_col).to_frame().to_csv(dp, index_label="date")
            daily_path = str(dp)

    recs: list[str] = []
    for g, rows in groups.items():
        if rows and rows[0].share_pct > 50:
            recs.append(
                f"{g} '{rows[0].key}' carries {rows[0].share_pct:.0f}% of {value_col}: "
                "concentration risk."
            )
        elif len(rows) >= 2:
            recs.append(
                f"Top {g}: '{rows[0].key}' ({rows[0].share_pct:.0f}%), then '{rows[1].key}' "
                f"({rows[1].share_pct:.0f}%)."
            )
    if anomalies:
        worst = max(anomalies, key=lambda a: abs(a.robust_z))
        recs.append(
            f"Investigate {len(anomalies)} anomalous days, worst {worst.date} "
            f"({worst.value:,.0f} vs ~{worst.expected:,.0f})."
        )
    growth = trend.get("growth_pct_per_30d")
    if growth is not None:
        recs.append(
            f"{value_col} trends {'up' if growth >= 0 else 'down'} {abs(growth):.1f}% per 30 days."
        )
    metrics = dict(kpis)
    metrics["anomalies"] = float(len(anomalies))
    if growth is not None and math.isfinite(growth):
        metrics["growth_pct_per_30d"] = round(growth, 3)
    return TableAnalyticsOutput(
        headline=(
            f"{len(df):,} rows: {value_col} total {kpis['total']:,.2f}, mean {kpis['mean']:,.2f}"
            + (f", trend {growth:+.1f}%/30d" if growth is not None else "")
            + f", {len(anomalies)} anomalous days."
        ),
        metrics=metrics,
        recommendations=recs,
        artifacts=writer.written,
        rows=len(df),
        date_column=date_col,
        value_column=value_col,
        kpis=kpis,
        groups=groups,
        trend=trend,
        monthly=monthly,
        anomalies=anomalies,
        summary_path=str(summary_path),
        groups_path=groups_path,
        daily_path=daily_path,
        source=source,
    )


class CohortAnalysisInput(ToolInput):
    events_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("events_path", "table_path", "data_path", "path"),
        description="table with one row per user activity: user and date columns",
    )
    user_column: str = "user_id"
    date_column: str = "event_date"
    period: str = Field(default="month", description="month | week")
    users: int = Field(default=3000, ge=10, le=200_000, description="sample size without data")


class CohortAnalysisOutput(ToolOutput):
    cohort_sizes: dict[str, int] = Field(default_factory=dict)
    retention: dict[str, list[float | None]] = Field(
        default_factory=dict,
        description="cohort -> retention by period offset (None = not yet observable)",
    )
    average_retention: list[float] = Field(
        default_factory=list, description="size-weighted, by offset"
    )
    matrix_path: str = ""


@tool("cohort_analysis", "Acquisition cohorts and their retention by month or week")
def cohort_analysis(inp: CohortAnalysisInput) -> CohortAnalysisOutput:
    from activities.tools.cohorts import period_retention
    from activities.tools.sample_tables import activity_events

    if inp.period not in ("month", "week"):
        raise InvalidToolInput(f"period must be month or week, not {inp.period!r}")
    if inp.events_path:
        df = read_table(inp.events_path)
        require_columns(df, [inp.user_column, inp.date_column], f"events file {inp.events_path}")
        user_col, date_col = inp.user_column, inp.date_column
    else:
        df = activity_events(np_rng(inp, "cohort_analysis"), inp.users)
        user_col, date_col = "user_id", "event_date"
    if df.empty:
        raise DataFileError("no events to build cohorts from")
    sizes, matrix = period_retention(df, user_col, date_col, inp.period)
    avg: list[float] = []
    for offset in matrix.columns:
        col = matrix[offset]
        observed = col.notna()
        weight = sizes[observed]
        avg.append(
            round(float((col[observed] * weight).sum() / weight.sum()), 4) if weight.sum() else 0.0
        )
    writer = ArtifactWriter(inp, "cohort_analysis")
    mp = writer.path("cohort-retention", "csv")
    matrix.assign(size=sizes).to_csv(mp, index_label="cohort")
    retention = {
        str(c): [None if math.isnan(v) else round(float(v), 4) for v in matrix.loc[c].tolist()]
        for c in matrix.index
    }
    p1 = avg[1] if len(avg) > 1 else 0.0
    p3 = avg[3] if len(avg) > 3 else 0.0
    best = max(
        (c for c in matrix.index if len(matrix.columns) > 1 and not math.isnan(matrix.loc[c, 1])),
        key=lambda c: matrix.loc[c, 1],
        default=None,
    )
    recs = []
    if best is not None:
        recs.append(
            f"Cohort {best} retains best after one {inp.period} ({matrix.loc[best, 1]:.0%}): "
            "study what it got."
        )
    if len(avg) > 2 and avg[1] and avg[2] / avg[1] > 0.8:
        recs.append("Retention flattens after the first period: focus on first-period activation.")
    else:
        recs.append(
            "Retention keeps decaying: add re-engagement touchpoints after the first period."
        )
    return CohortAnalysisOutput(
        headline=(
            f"{len(sizes)} {inp.period}ly cohorts of {int(sizes.sum()):,} users: average retention "
            f"{p1:.1%} after 1 {inp.period}, {p3:.1%} after 3."
        ),
        metrics={
            "cohorts": float(len(sizes)),
            "users": float(sizes.sum()),
            "retention_p1": p1,
            "retention_p3": p3,
        },
        recommendations=recs,
        artifacts=writer.written,
        cohort_sizes={str(k): int(v) for k, v in sizes.items()},
        retention=retention,
        average_retention=avg,
        matrix_path=str(mp),
    )
