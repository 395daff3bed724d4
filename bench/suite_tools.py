"""`bizos bench tools`: the agents' tools against the seed's targets (bench/bench_tools.py):
analytics over 100K rows, a 5-year backtest per strategy, a 64-player bracket, an SEO audit
of a large page, ad creatives in three sizes. In-process; no stack needed."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from bench.harness import Row, SuiteOptions, SuiteResult

TITLE = "the agents' tools against their targets (warm, per call)"


def _measure(smoke: bool, scale: float) -> list[tuple[str, list[float], float, str]]:
    from bench import bench_tools

    with contextlib.redirect_stdout(sys.stderr):  # its own lines are progress here
        return bench_tools.measure(smoke=smoke, repeat_scale=scale)


async def run(opts: SuiteOptions) -> SuiteResult:
    # bench_tools' repeats per figure (3 to 20) are its defaults; --repeats N scales them
    # to N/5 of that (at least one each); smoke runs tiny inputs once
    scale = 1.0 if opts.repeats is None else opts.repeats / 5
    measured = await asyncio.to_thread(_measure, opts.size == "smoke", scale)
    rows = []
    for name, samples, target, note in measured:
        row = Row.of(name, [s * 1000 for s in samples], "ms", goal=f"< {target * 1000:g}")
        row.met = row.value is not None and row.value < target * 1000
        row.note = note.strip("()")
        rows.append(row)
    meta = {"size": opts.size, "repeat_scale": scale, "smoke_inputs": opts.size == "smoke"}
    return SuiteResult("tools", rows, meta)
