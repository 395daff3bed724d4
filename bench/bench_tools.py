"""Benchmarks of the agents' tools against their targets (figures, not pass/fail tests).

Run: .venv/bin/python bench/bench_tools.py
Each figure is the median of a few warm runs (imports and one-off grammar/font loading are
done first and reported separately where they matter), printed beside its target.
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

ROWS = []


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def report(name: str, seconds: float, target: float, note: str = "") -> None:
    ok = "ok " if seconds < target else "SLOW"
    ROWS.append((name, seconds, target))
    print(f"{ok} {name:<48} {seconds * 1000:9.2f} ms   target < {target * 1000:7.1f} ms  {note}")


def main() -> None:
    out = tempfile.mkdtemp(prefix="bizos-bench-")
    print(f"tools: {len(TOOLS)}; files under {out}\n")

    # 1. analytics over 100K rows (table by reference)
    gen = np.random.default_rng(1)
    n = 100_000
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
        "table_analytics, 100K rows, Parquet",
        timed(lambda: run({"table_path": str(parquet), "output_dir": out})),
        0.3,
    )
    report(
        "table_analytics, 100K rows, CSV",
        timed(lambda: run({"table_path": str(csv), "output_dir": out})),
        0.3,
    )

    # 2. five-year daily backtest, per strategy
    prices = synthetic_ohlcv(np.random.default_rng(2), years=5)
    price_path = Path(out) / "prices.csv"
    prices.to_csv(price_path, index_label="date")
    k = len(TEMPLATES)
    bt = TOOLS["backtest"].run
    total = timed(
        lambda: bt({"prices_path": str(price_path), "strategies": ["all"], "output_dir": out}),
        repeat=3,
    )
    report(
        f"backtest, 5y daily ({len(prices)} bars), per strategy",
        total / k,
        0.1,
        f"({k} templates, {total * 1000:.0f} ms incl. CSV in/out)",
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
    for copies in (200, 330):
        big = html[:body_start] + html[body_start:body_end] * copies + html[body_end:]
        seconds = timed(
            lambda big=big: audit({"html": big, "url": url, "keyword": "running shoes"}), repeat=3
        )
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

    slow = [name for name, s, target in ROWS if s >= target]
    print(
        f"\n{len(ROWS) - len(slow)} of {len(ROWS)} figures within target"
        + (f"; slow: {', '.join(slow)}" if slow else "")
    )


if __name__ == "__main__":
    main()
