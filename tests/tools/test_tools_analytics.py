"""Analytics and charts on tables whose answers are known."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from activities.tools.errors import DataFileError, InvalidToolInput
from activities.tools.registry import TOOLS


@pytest.fixture
def known_table(tmp_path: Path) -> str:
    """60 days x 2 regions: value = 100 + 2*day per region (linear trend), except one planted
    spike day; region North always 3x South."""
    rows = []
    for day in range(60):
        date = pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)
        base = 100 + 2 * day
        spike = 5000 if day == 40 else 0
        rows.append(
            {"date": date.date().isoformat(), "region": "North", "revenue": 3 * base + spike}
        )
        rows.append({"date": date.date().isoformat(), "region": "South", "revenue": base})
    path = tmp_path / "sales.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_group_by_trend_and_planted_anomaly(known_table: str, tmp_path: Path) -> None:
    r = TOOLS["table_analytics"].run({"table_path": known_table, "output_dir": str(tmp_path)})
    assert (r.date_column, r.value_column) == ("date", "revenue")
    south = sum(100 + 2 * d for d in range(60))
    groups = {g.key: g.value for g in r.groups["region"]}
    assert groups == {"North": 3 * south + 5000, "South": south}
    assert [a.date for a in r.anomalies] == ["2024-02-10"]  # day 40
    # daily total = 4*(100 + 2*day): OLS slope 8/day, plus the spike's pull on the fit,
    # 5000 * (40 - mean t) / sum((t - mean t)^2)
    pull = 5000 * (40 - 29.5) / sum((t - 29.5) ** 2 for t in range(60))
    assert r.trend["slope_per_day"] == pytest.approx(8.0 + pull)
    assert r.kpis["rows"] == 120
    assert Path(r.groups_path).exists() and Path(r.daily_path).exists()


def test_explicit_columns_and_mean_aggregation(known_table: str, tmp_path: Path) -> None:
    r = TOOLS["table_analytics"].run(
        {
            "table_path": known_table,
            "value_column": "revenue",
            "group_by": ["region"],
            "agg": "mean",
            "output_dir": str(tmp_path),
        }
    )
    south_mean = sum(100 + 2 * d for d in range(60)) / 60
    assert {g.key: round(g.value, 6) for g in r.groups["region"]}["South"] == pytest.approx(
        south_mean
    )


def test_hundred_thousand_rows_by_reference(tmp_path: Path) -> None:
    gen = np.random.default_rng(7)
    n = 100_000
    df = pd.DataFrame(
        {
            "day": pd.Timestamp("2023-01-01") + pd.to_timedelta(gen.integers(0, 365, n), unit="D"),
            "store": gen.choice(["a", "b", "c", "d"], n),
            "amount": gen.uniform(1, 100, n).round(2),
        }
    )
    path = tmp_path / "big.parquet"
    df.to_parquet(path)
    r = TOOLS["table_analytics"].run({"table_path": str(path), "output_dir": str(tmp_path)})
    assert r.rows == n
    assert r.kpis["total"] == pytest.approx(df["amount"].sum())
    assert {g.key for g in r.groups["store"]} == {"a", "b", "c", "d"}
    assert len(r.monthly) == 12


def test_bad_inputs_say_what_is_wrong(tmp_path: Path, known_table: str) -> None:
    with pytest.raises(DataFileError, match="not found"):
        TOOLS["table_analytics"].run({"table_path": str(tmp_path / "missing.csv")})
    with pytest.raises(DataFileError, match="lacks column"):
        TOOLS["table_analytics"].run({"table_path": known_table, "value_column": "profit"})
    with pytest.raises(InvalidToolInput, match="agg"):
        TOOLS["table_analytics"].run({"table_path": known_table, "agg": "median"})


def test_cohort_retention_matrix(tmp_path: Path) -> None:
    # Jan cohort: u1, u2, u3, u4; Feb: u1, u2; Mar: u1.  Feb cohort: u5, u6; Mar: u5.
    events = [
        ("u1", "2024-01-03"),
        ("u2", "2024-01-10"),
        ("u3", "2024-01-20"),
        ("u4", "2024-01-25"),
        ("u1", "2024-02-02"),
        ("u2", "2024-02-14"),
        ("u1", "2024-03-01"),
        ("u5", "2024-02-05"),
        ("u6", "2024-02-07"),
        ("u5", "2024-03-09"),
        ("u5", "2024-03-10"),
    ]
    path = tmp_path / "events.csv"
    pd.DataFrame(events, columns=["user_id", "event_date"]).to_csv(path, index=False)
    r = TOOLS["cohort_analysis"].run({"events_path": str(path), "output_dir": str(tmp_path)})
    assert r.cohort_sizes == {"2024-01": 4, "2024-02": 2}
    assert r.retention["2024-01"][:3] == [1.0, 0.5, 0.25]
    assert r.retention["2024-02"][:2] == [1.0, 0.5]
    assert r.retention["2024-02"][2] is None  # not observable yet
    # size-weighted month-1 retention: (4*0.5 + 2*0.5) / 6
    assert r.average_retention[1] == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["line", "bar", "area", "scatter", "pie", "histogram", "heatmap"])
def test_chart_kinds_render_to_png_svg_html(kind: str, tmp_path: Path) -> None:
    r = TOOLS["chart_render"].run(
        {
            "kind": kind,
            "series": {"a": [1, 3, 2, 5], "b": [2, 2, 4, 1]},
            "labels": ["q1", "q2", "q3", "q4"],
            "title": f"My {kind}",
            "output_dir": str(tmp_path),
        }
    )
    png = Path(r.chart_paths["png"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    root = ET.parse(r.chart_paths["svg"]).getroot()
    assert root.tag.endswith("svg")
    page = Path(r.chart_paths["html"]).read_text()
    assert f"<title>My {kind}</title>" in page and "<svg" in page and "<td>q3</td>" in page


def test_chart_from_a_table_and_errors(tmp_path: Path, known_table: str) -> None:
    r = TOOLS["chart_render"].run(
        {
            "kind": "line",
            "data_path": known_table,
            "x_column": "date",
            "y_columns": ["revenue"],
            "formats": ["svg", "pdf"],
            "output_dir": str(tmp_path),
        }
    )
    assert r.points == 120 and Path(r.chart_paths["pdf"]).read_bytes()[:4] == b"%PDF"
    with pytest.raises(InvalidToolInput, match="unknown chart kind"):
        TOOLS["chart_render"].run({"kind": "radar"})
    with pytest.raises(InvalidToolInput, match="non-negative"):
        TOOLS["chart_render"].run(
            {"kind": "pie", "series": {"x": [1, -2]}, "output_dir": str(tmp_path)}
        )
