"""`bizos bench core`: the DAG core (bench/bench_core.py) — worker CPU per run of a compiled
template vs a hand-written workflow on one server in one run, serial latency per noop step
(tuned vs stock dev server), runs parked on approvals, `specs validate` wall time."""

from __future__ import annotations

from typing import Any

from bench import bench_core
from bench.harness import Row, SuiteOptions, SuiteResult
from worker.pools import WORKFLOWS_POOL, tuning_for

TITLE = "compiled templates vs hand-written workflows, step latency, parked runs"


async def run(opts: SuiteOptions) -> SuiteResult:
    runs, parked_n, reps = opts.pick(smoke=(4, 10, 1), default=(50, 300, 3), full=(200, 5000, 7))
    repeats = opts.repeats_or(3)
    smoke = opts.size == "smoke"
    # every parked run cached (issue #14: 5,000 held by one worker), past the pool's own cache
    cache = parked_n if parked_n > tuning_for(WORKFLOWS_POOL).max_cached_workflows else None
    f = await bench_core.measure(
        opts.workdir, runs, parked_n, reps, repeats, opts.log, stock=not smoke, parked_cache=cache
    )
    cpu: list[dict[str, Any]] = f["cpu"]
    park = f["park"]
    ratio = Row.of("worker CPU ratio compiled / hand-written", [c["ratio"] for c in cpu], "x")
    ratio.goal, ratio.met = "<= 1.05", ratio.value is not None and ratio.value <= 1.05
    tuned = Row.of("serial latency per noop step, tuned dev server", f["tuned_ms"], "ms")
    tuned.goal, tuned.met = "<= 15", tuned.value is not None and tuned.value <= 15
    rows = [
        Row.of("specs validate, all templates (wall)", f["validate_s"], "s", goal="< 1"),
        Row.of("worker CPU per run, hand-written", [c["baseline_ms"] for c in cpu], "ms"),
        Row.of("worker CPU per run, compiled", [c["compiled_ms"] for c in cpu], "ms"),
        ratio,
        Row(
            "history events compiled / hand-written",
            cpu[0]["compiled_events"] / cpu[0]["baseline_events"],
            "x",
            goal="1.00",
            note=f"{cpu[0]['compiled_events']} / {cpu[0]['baseline_events']} events",
        ),
        tuned,
        Row.of(
            "serial latency per noop step, stock dev server",
            f["stock_ms"],
            "ms",
            note="not measured at the smoke size"
            if smoke
            else "`temporal server start-dev` defaults",
        ),
        Row("parked runs: workflow worker RSS idle", park["rss_idle_mb"], "MB"),
        Row(
            "parked runs: workflow worker RSS parked",
            park["rss_parked_mb"],
            "MB",
            note=f"{parked_n} runs waiting on an approval",
        ),
        Row(
            "parked runs: workflow worker RSS per cached run",
            park["kb_per_run"],
            "KB",
            note="(parked - idle) / runs",
        ),
        Row("parked runs: started and parked in", park["start_s"], "s"),
        Row(
            "parked runs: one batch signal -> all completed",
            park["approve_all_s"],
            "s",
            note="signal by search attribute",
        ),
    ]
    return SuiteResult("core", rows, {"sizes": f["sizes"], "repeats": repeats, "raw": f})
