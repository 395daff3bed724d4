"""Benchmarks of the agents' tools against their targets (figures, not pass/fail tests).

Run: .venv/bin/python bench/bench_tools.py, or `bizos bench tools` (bench/suite_tools.py:
a table with median and spread, and JSON). Each figure is the median of a few warm runs
(imports and one-off grammar/font loading are done first and reported separately where they
matter), printed beside its target. `measure(smoke=True)` runs tiny inputs, once each.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# runnable from a checkout without the editable install
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from activities.tools import TOOLS
from activities.tools.brackets import build
from activities.tools.market_data import synthetic_ohlcv
from activities.tools.seo_pages import sample_page
from activities.tools.strategies import TEMPLATES

# (name, samples in seconds, target in seconds, note) of the current `measure`
ROWS: list[tuple[str, list[float], float, str]] = []
_SCALE = {"repeat": 1.0}  # smoke: 1 repeat each


def timed(fn: Callable[[], object], repeat: int = 5) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(max(1, round(repeat * _SCALE["repeat"]))):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples


def report(name: str, seconds: list[float], target: float, note: str = "") -> None:
    ROWS.append((name, seconds, target, note))
    med = statistics.median(seconds)
    ok = "ok " if med < target else "SLOW"
    print(f"{ok} {name:<48} {med * 1000:9.2f} ms   target < {target * 1000:7.1f} ms  {note}")


def main() -> None:
    measure()
    slow = [name for name, s, target, _ in ROWS if statistics.median(s) >= target]
    print(
        f"\n{len(ROWS) - len(slow)} of {len(ROWS)} figures within target"
        + (f"; slow: {', '.join(slow)}" if slow else "")
    )


def measure(
    smoke: bool = False, repeat_scale: float = 1.0
) -> list[tuple[str, list[float], float, str]]:
    """Every figure, as (name, samples in s, target in s, note); smoke: tiny inputs, once."""
    ROWS.clear()
    _SCALE["repeat"] = 0.0 if smoke else repeat_scale
    out = tempfile.mkdtemp(prefix="bizos-bench-")
    print(f"tools: {len(TOOLS)}; files under {out}\n")

    # 1. analytics over 100K rows (table by reference)
    gen = np.random.default_rng(1)
    n = 2_000 if smoke else 100_000
    df = pd.DataFrame(
        {
            "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(gen.integers(0, 730, n), unit="D"),
            "region": gen.choice(["NA", "EU", "APAC", "LATAM"], n),
            "channel": gen.choice(["search", "social", "email", "direct", "referral"], n),
            "revenue": gen.gamma(2.0, 50.0, n).round(2),
            "units": gen.integers(1, 9, n),
        }
    )
    parquet, csv = Path(out) / "sales.parquet", Path(out) / "sales.csv"
    df.to_parquet(parquet)
    df.to_csv(csv, index=False)
    run = TOOLS["table_analytics"].run
    report(
        f"table_analytics, {n // 1000}K rows, Parquet",
        timed(lambda: run({"table_path": str(parquet), "output_dir": out})),
        0.3,
    )
    report(
        f"table_analytics, {n // 1000}K rows, CSV",
        timed(lambda: run({"table_path": str(csv), "output_dir": out})),
        0.3,
    )

    # 2. five-year daily backtest, per strategy
    prices = synthetic_ohlcv(np.random.default_rng(2), years=1 if smoke else 5)
    price_path = Path(out) / "prices.csv"
    prices.to_csv(price_path, index_label="date")
    k = len(TEMPLATES)
    bt = TOOLS["backtest"].run
    total = timed(
        lambda: bt({"prices_path": str(price_path), "strategies": ["all"], "output_dir": out}),
        repeat=3,
    )
    report(
        f"backtest, {'1y' if smoke else '5y'} daily ({len(prices)} bars), per strategy",
        [t / k for t in total],
        0.1,
        f"({k} templates, {statistics.median(total) * 1000:.0f} ms incl. CSV in/out)",
    )

    # 3. 64-player bracket
    players = [f"p{i}" for i in range(64)]
    report(
        "tournament_bracket, 64 players (build)", timed(lambda: build(players), repeat=20), 0.010
    )
    report(
        "tournament_bracket, 64 players, double (build)",
        timed(lambda: build(players, double=True), repeat=20),
        0.010,
    )
    tb = TOOLS["tournament_bracket"].run
    report(
        "tournament_bracket tool, 64 players (+ files)",
        timed(lambda: tb({"players": players, "output_dir": out}), repeat=20),
        0.010,
    )

    # 4. SEO audit of a large page (the article body repeated: more text, links, images)
    html, url = sample_page("running shoes")
    body_start, body_end = html.index("<main>") + 6, html.index("</main>")
    audit = TOOLS["seo_audit"].run
    sizes: tuple[int, ...] = (5,) if smoke else (200, 330)
    for copies in sizes:
        big = html[:body_start] + html[body_start:body_end] * copies + html[body_end:]

        def audit_big(big: str = big) -> object:
            return audit({"html": big, "url": url, "keyword": "running shoes"})

        seconds = timed(audit_big, repeat=3)
        report(f"seo_audit, large page ({len(big) / 1e6:.2f} MB)", seconds, 0.5)

    # 5. creatives in 3 sizes (SVG + PNG + PDF each)
    t = time.perf_counter()
    TOOLS["ad_creatives"].run({"brand": "Orbit", "output_dir": out})
    cold = time.perf_counter() - t
    warm = timed(
        lambda: TOOLS["ad_creatives"].run(
            {"brand": "Orbit", "headline": "Reports in minutes", "output_dir": out}
        ),
        repeat=3,
    )
    report(
        "ad_creatives, 3 sizes x SVG/PNG/PDF",
        warm,
        2.0,
        f"(first call incl. matplotlib import: {cold:.2f} s)",
    )

    return list(ROWS)


if __name__ == "__main__":
    main()
