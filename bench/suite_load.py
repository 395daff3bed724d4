"""`bizos bench load`: concurrent executions of a template with two agent steps and one
approval (bench/specs/load_approval.yaml), started, approved and followed through the HTTP
API only, on a stack of its own (bench/stack.py), priced offline (`price_as`) so the cost
per execution is the real ledger arithmetic.

1. **load**, at each size N (100 and 1,000; 5,000 with `--full`): N executes at once (the
   client keeps `CONNECTIONS` requests in flight), each run approved as soon as a batch poll
   sees it waiting: start latency and end-to-end p50/p95/p99, success rate, error types,
   CPU and RSS of every process (sampled every 0.5 s), cost per execution;
2. **parked**: N runs parked on their approval, worker RSS parked, then every run approved
   through the API at once: time until every decision is applied and until all complete.
   At the default size measured on two stacks in the same run — the workflow cache as
   tuned (worker/pools.py) and on the other side of N (see `cache_variants`) — so the
   difference is the cache's, on the same machine at the same time; at `--full` (5,000
   parked) once, as tuned, with the agent pool as two processes (`FULL_AGENT_PROCESSES`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import ProcSampler, Row, SuiteOptions, SuiteResult, percentile
from bench.load_client import LoadClient, Run
from bench.stack import BenchStack, bench_stack
from worker.pools import WORKFLOWS_POOL, tuning_for

TITLE = "concurrent executions through the HTTP API (agent steps + one approval, priced offline)"
CONNECTIONS = 64
_CACHE_ENV = "BIZOS_POOL_WORKFLOWS_MAX_CACHED_WORKFLOWS"
SAMPLE_S = 0.5
FULL_AGENT_PROCESSES = 2
"""At `--full` the agent pool runs as two processes, as a deployment scales a pool: one
process tops out near one core (the agent loop and tools share one GIL), and 5,000 runs'
agent steps are the phase's work."""


def cache_variants(parked_n: int, size: str) -> list[tuple[str, dict[str, str]]]:
    """The workflow pool's cache for the parked phase. Default size: as tuned
    (worker/pools.py) and, for contrast in the same run, on the other side of `parked_n` —
    every parked run cached when the tuned cache is smaller (what holding them all costs in
    RSS), a quarter of them when it is larger (what evictions cost in decision time).
    Smoke and `--full`: as tuned only (at 5,000 parked the other side — every run cached —
    is `bizos bench core --full`'s parked figure, without the agent steps' hour)."""
    if size != "default":
        return [("tuned", {})]
    cache = tuning_for(WORKFLOWS_POOL).max_cached_workflows
    other = parked_n + 100 if cache < parked_n else max(1, parked_n // 4)
    label = f"cache {other:,} (" + ("all cached)" if other > parked_n else "evicting)")
    return [("tuned", {}), (label, {_CACHE_ENV: str(other)})]


def _since() -> datetime:
    # a little before now: StartTime and this clock may differ by the server's rounding
    return datetime.now(UTC) - timedelta(seconds=1)


def _pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {f"p{q}": percentile(values, q / 100) for q in (50, 95, 99)}


async def load_phase(stack: BenchStack, n: int, log: Any) -> dict[str, Any]:
    """N runs at once, approved as they wait; figures of the phase."""
    async with LoadClient(stack.api_url, stack.api_key, CONNECTIONS) as client:
        since = _since()
        with ProcSampler(stack.pids(), interval_s=SAMPLE_S) as sampler:
            t0 = time.time()
            runs = await client.start_many(n, f"load {n}")
            log(f"load {n}: {len(runs)} started in {time.time() - t0:.1f} s")
            await client.follow(runs, since, approve=True, timeout_s=max(300.0, n * 0.6))
            wall = time.time() - t0
        stack.check_alive()
        await asyncio.sleep(1.0)  # the last steps' ledger rows are written as runs end
        cost = await client.cost_usd(since)
    return _figures(n, runs, client.errors, wall, cost, sampler)


def _figures(
    n: int,
    runs: dict[str, Run],
    errors: Counter[str],
    wall: float,
    cost: float,
    sampler: ProcSampler,
) -> dict[str, Any]:
    done = [r for r in runs.values() if r.status == "completed"]
    for r in runs.values():
        if r.status != "completed":
            errors[f"run {r.status}"] += 1
    e2e = [r.e2e_s for r in done if r.e2e_s is not None]
    return {
        "n": n,
        "started": len(runs),
        "completed": len(done),
        "success_pct": 100.0 * len(done) / n if n else 0.0,
        "wall_s": wall,
        "runs_per_s": len(done) / wall if wall else 0.0,
        "start_s": _pcts([r.start_latency_s for r in runs.values()]),
        "e2e_s": _pcts(e2e),
        "decide_s": _pcts([r.decide_latency_s for r in runs.values() if r.decide_latency_s]),
        "errors": dict(errors),
        "cost_usd": cost,
        "cost_per_execution_usd": cost / len(done) if done else None,
        "processes": sampler.snapshot(),
    }


async def parked_phase(stack: BenchStack, n: int, log: Any) -> dict[str, Any]:
    """N runs parked on their approval, then all approved at once through the API."""
    async with LoadClient(stack.api_url, stack.api_key, CONNECTIONS) as client:
        since = _since()
        pids = stack.pids()
        with ProcSampler(pids, interval_s=SAMPLE_S) as idle:
            pass
        t0 = time.time()
        runs = await client.start_many(n, f"parked {n}")
        await client.follow(runs, since, approve=False, until="waiting")
        parked_s = time.time() - t0
        waiting = sum(1 for r in runs.values() if r.waiting)
        log(f"parked {n}: {waiting} waiting after {parked_s:.1f} s")
        with ProcSampler(pids, interval_s=SAMPLE_S) as parked:
            # one inbox read with every run waiting: what an approver's page costs
            inbox = time.perf_counter()
            await client.timed("approvals", "GET", "/v1/approvals")
            inbox_s = time.perf_counter() - inbox
        with ProcSampler(pids, interval_s=SAMPLE_S) as approving:
            t1 = time.time()
            await client.approve_all(runs.values())
            decided_s = time.time() - t1
            await client.follow(runs, since, approve=True, timeout_s=max(300.0, n * 0.5))
        closed = [r.closed_at for r in runs.values() if r.closed_at is not None]
        all_done_s = (max(closed) - t1) if closed else float("nan")
        log(f"parked {n}: approve-all sent in {decided_s:.1f} s, all done in {all_done_s:.1f} s")
        stack.check_alive()
        done = sum(1 for r in runs.values() if r.status == "completed")
    return {
        "n": n,
        "waiting": waiting,
        "completed": done,
        "parked_in_s": parked_s,
        "inbox_s": inbox_s,
        "approve_sent_s": decided_s,
        "approve_all_to_done_s": all_done_s,
        "decide_s": _pcts([r.decide_latency_s for r in runs.values() if r.decide_latency_s]),
        "errors": dict(client.errors),
        "rss_idle_mb": {k: idle.peak_rss_mb(k) for k in pids},
        "rss_parked_mb": {k: parked.peak_rss_mb(k) for k in pids},
        "approving": approving.snapshot(),
    }


def _load_rows(f: list[dict[str, Any]]) -> list[Row]:
    """Rows of one size from its repeats (median ± half range)."""
    n = f[0]["n"]
    p = f"{n:,} runs"
    rows = [
        Row.of(f"{p}: success rate", [x["success_pct"] for x in f], "%", goal="100"),
        Row.of(f"{p}: throughput", [x["runs_per_s"] for x in f], "runs/s"),
    ]
    for key, label in (("start_s", "start latency"), ("e2e_s", "end to end")):
        for q in ("p50", "p95", "p99"):
            vals = [x[key][q] * 1000 for x in f if q in x[key]]
            rows.append(Row.of(f"{p}: {label} {q}", vals, "ms"))
    dec = [x["decide_s"]["p50"] * 1000 for x in f if x["decide_s"]]
    rows.append(Row.of(f"{p}: decision (POST decisions) p50", dec, "ms"))
    cost = [x["cost_per_execution_usd"] for x in f if x["cost_per_execution_usd"] is not None]
    rows.append(Row.of(f"{p}: cost per execution", cost, "USD", note="price_as gpt-4o-mini"))
    for proc in f[0]["processes"]:
        cpu = [x["processes"][proc]["cpu_pct"] for x in f]
        rss = [x["processes"][proc]["rss_peak_mb"] for x in f]
        mean = [x["processes"][proc]["rss_mean_mb"] for x in f]
        rows.append(Row.of(f"{p}: {proc} CPU (mean)", cpu, "%", note="100 = one core"))
        rows.append(
            Row.of(f"{p}: {proc} RSS peak", rss, "MB", note=f"mean {sum(mean) / len(mean):.0f}")
        )
    errors: Counter[str] = Counter()
    for x in f:
        errors.update(x["errors"])
    rows.append(
        Row(
            f"{p}: errors",
            float(sum(errors.values())),
            "",
            note=", ".join(f"{k}: {v}" for k, v in errors.most_common()) or "none",
        )
    )
    return rows


def _parked_rows(label: str, f: list[dict[str, Any]]) -> list[Row]:
    n = f[0]["n"]
    p = f"{n:,} parked, {label}"
    done = Row.of(f"{p}: approve-all to all done", [x["approve_all_to_done_s"] for x in f], "s")
    done.goal = "<= 60 s (5,000)"
    rss = Row.of(
        f"{p}: worker-workflows RSS parked",
        [x["rss_parked_mb"]["worker-workflows"] for x in f],
        "MB",
    )
    rss.goal = "<= 300 MB (5,000)"
    if n >= 5000:
        done.met = done.value is not None and done.value <= 60
        rss.met = rss.value is not None and rss.value <= 300
    errors: Counter[str] = Counter()
    for x in f:
        errors.update(x["errors"])
    return [
        Row.of(f"{p}: all parked in", [x["parked_in_s"] for x in f], "s"),
        Row.of(
            f"{p}: worker-workflows RSS idle",
            [x["rss_idle_mb"]["worker-workflows"] for x in f],
            "MB",
        ),
        rss,
        Row.of(f"{p}: GET /v1/approvals, all waiting", [x["inbox_s"] * 1000 for x in f], "ms"),
        Row.of(
            f"{p}: approve-all, every decision applied",
            [x["approve_sent_s"] for x in f],
            "s",
            note=f"{CONNECTIONS} decisions in flight",
        ),
        Row.of(
            f"{p}: decision p50 during approve-all",
            [x["decide_s"].get("p50", 0) * 1000 for x in f],
            "ms",
        ),
        done,
        Row.of(
            f"{p}: completed",
            [100.0 * x["completed"] / n for x in f],
            "%",
            note=", ".join(f"{k}: {v}" for k, v in errors.most_common()) or "no errors",
        ),
    ]


async def run(opts: SuiteOptions) -> SuiteResult:
    sizes: list[int] = opts.pick(smoke=[5], default=[100, 1000], full=[100, 1000, 5000])
    parked_n: int = opts.pick(smoke=5, default=1000, full=5000)
    repeats = opts.repeats_or(1)  # a 1,000-run phase is minutes: one repeat unless asked
    variants = cache_variants(parked_n, opts.size)
    agent_processes = opts.pick(smoke=1, default=1, full=FULL_AGENT_PROCESSES)
    meta: dict[str, Any] = {
        "sizes": sizes,
        "parked": parked_n,
        "connections": CONNECTIONS,
        "agent_processes": agent_processes,
    }
    rows: list[Row] = []
    load: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    parked: dict[str, list[dict[str, Any]]] = {}
    for label, wf_env in variants:
        opts.log(f"stack ({label}) starting")
        async with bench_stack(
            pool_env={"workflows": wf_env}, replicas={"agents": agent_processes}
        ) as stack:
            if label == variants[0][0]:  # the load phases once, on the first stack
                for n in sizes:
                    for _ in range(repeats):
                        load[n].append(await load_phase(stack, n, opts.log))
            parked[label] = [await parked_phase(stack, parked_n, opts.log) for _ in range(repeats)]
    for n in sizes:
        rows += _load_rows(load[n])
    for label in parked:
        rows += _parked_rows(label, parked[label])
    meta["load"] = {str(n): f for n, f in load.items()}
    meta["parked"] = parked
    return SuiteResult("load", rows, meta, TITLE)
