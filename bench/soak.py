"""`bizos bench soak --minutes 60` (or `python -m bench.soak --minutes 60`): mixed load on a
stack of its own for the duration, then whether memory, latency and connections stay flat.

Load: `--rate` runs a second of the load template (two agent steps and an approval, priced
offline), each approved through the API as soon as a batch poll sees it waiting, beside an
approver's reads (the approvals inbox, the cost report, a page of executions) every few
seconds. Sampled every `SAMPLE_S`: RSS of each process, its open TCP connections
(psutil), and the store's PostgreSQL backends serving the stack (`pg_stat_activity` rows
whose client port is one of the stack's connections to PostgreSQL, so other users of the
same server are not counted).

Per bucket (a minute by default): start / decision / end-to-end latency p50 and p95, runs
completed, errors, mean RSS and connections. At the end, each series' least-squares slope
and the change it implies over the whole run, against its mean: "flat" when that change is
within `FLAT_PCT` (a memory leak or a connection leak shows as a steady climb). Not a test:
nothing is asserted; the table and the JSON are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.harness import Row, SuiteResult, machine, percentile, print_table, write_json
from bench.load_client import LoadClient, Run
from bench.stack import BenchStack, bench_stack

TITLE = "soak: mixed load for a while; memory, latency and connections over time"
SAMPLE_S = 5.0
FLAT_PCT = 10.0
PG_PORT = 5432


@dataclass
class Samples:
    """Time series sampled in a thread: (t, value) per series name."""

    series: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, t: float, value: float) -> None:
        with self.lock:
            self.series[name].append((t, value))


def _pg_client_ports(procs: dict[str, psutil.Process]) -> set[int]:
    ports: set[int] = set()
    for p in procs.values():
        with contextlib.suppress(psutil.Error):
            for c in p.net_connections(kind="tcp"):
                if c.raddr and c.raddr.port == PG_PORT and c.status == psutil.CONN_ESTABLISHED:
                    ports.add(c.laddr.port)
    return ports


def _proc_sample(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, p in procs.items():
        with contextlib.suppress(psutil.Error):
            out[f"{name} RSS MB"] = p.memory_info().rss / 2**20
            out[f"{name} TCP connections"] = float(len(p.net_connections(kind="tcp")))
    return out


async def _sampler(stack: BenchStack, samples: Samples, stop: asyncio.Event, t0: float) -> None:
    """RSS and connections of every process, and the stack's PostgreSQL backends."""
    import asyncpg

    procs = {k: psutil.Process(pid) for k, pid in stack.pids().items()}
    conn = await asyncpg.connect(str(stack.db.database_url))
    try:
        while not stop.is_set():
            t = time.time() - t0
            for name, value in (await asyncio.to_thread(_proc_sample, procs)).items():
                samples.add(name, t, value)
            ports = await asyncio.to_thread(_pg_client_ports, procs)
            found = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY($1::int[])",
                sorted(ports),
            )
            samples.add("PostgreSQL backends", t, float(found or 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_S)
    finally:
        await conn.close()


async def _reader(
    client: LoadClient, stop: asyncio.Event, lat: dict[str, list[tuple[float, float]]], t0: float
) -> None:
    """An approver's and a manager's reads beside the load."""
    while not stop.is_set():
        for what, url, params in (
            ("inbox", "/v1/approvals", {}),
            ("costs", "/v1/costs", {}),
            ("list", "/v1/executions", {"limit": 50}),
        ):
            resp, took = await client.timed(what, "GET", url, params=params)
            if resp is not None and resp.status_code == 200:
                lat[what].append((time.time() - t0, took))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)


async def _starter(
    client: LoadClient, runs: dict[str, Run], rate: float, until: float, t0: float
) -> None:
    """`rate` starts a second (each its own task, so a slow start does not slow the pace)."""
    tasks: set[asyncio.Task[None]] = set()
    i = 0

    async def one(k: int) -> None:
        run = await client.start_one(f"soak {k}")
        if run is not None:
            runs[run.execution_id] = run

    next_at = time.monotonic()
    while time.monotonic() < until:
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # the arrival pace
    if tasks:
        await asyncio.gather(*tasks)


async def _follower(client: LoadClient, runs: dict[str, Run], stop: asyncio.Event) -> None:
    """Approve waiting runs and note closes, listing only since the oldest open run."""
    pending: set[asyncio.Task[None]] = set()
    while True:
        open_ = [r for r in runs.values() if r.closed_at is None]
        if open_:
            since = datetime.fromtimestamp(min(r.sent_at for r in open_) - 2, UTC)
            await client.refresh(runs, since)
            for r in open_:
                if r.waiting and r.decided_at is None and r.status == "running":
                    task = asyncio.create_task(client.decide(r))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        elif stop.is_set():
            break
        await asyncio.sleep(1.0)  # the batch poll interval
    if pending:
        await asyncio.gather(*pending)


def slope_per_s(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of value over time."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def trend(points: list[tuple[float, float]], duration_s: float, skip_s: float) -> dict[str, Any]:
    """Slope after the warm-up (`skip_s`), as a change over the run against the mean."""
    steady = [p for p in points if p[0] >= skip_s] or points
    mean = statistics.fmean(p[1] for p in steady) if steady else 0.0
    change = slope_per_s(steady) * max(0.0, duration_s - skip_s)
    pct = 100.0 * change / mean if mean else 0.0
    return {
        "mean": mean,
        "slope_per_min": slope_per_s(steady) * 60,
        "change_over_run": change,
        "change_pct": pct,
        "flat": abs(pct) <= FLAT_PCT,
    }


async def soak(
    minutes: float, rate: float = 1.0, bucket_s: float = 60.0, log: Any = print
) -> SuiteResult:
    duration = minutes * 60
    async with bench_stack() as stack:
        samples = Samples()
        lat: dict[str, list[tuple[float, float]]] = defaultdict(list)
        runs: dict[str, Run] = {}
        t0 = time.time()
        stop = asyncio.Event()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(_sampler(stack, samples, stop_sampling, t0))
        async with LoadClient(stack.api_url, stack.api_key, connections=32) as client:
            follower = asyncio.create_task(_follower(client, runs, stop))
            reader = asyncio.create_task(_reader(client, stop, lat, t0))
            log(f"soak: {minutes:g} min at {rate:g} runs/s on {stack.api_url}")
            await _starter(client, runs, rate, time.monotonic() + duration, t0)
            stop.set()
            await reader
            try:
                await asyncio.wait_for(follower, 300)
            except TimeoutError:
                log("soak: some runs still open 5 min after the load stopped")
            errors = client.errors
        stop_sampling.set()
        await sampler
        stack.check_alive()
    return _result(minutes, rate, bucket_s, duration, runs, lat, samples, errors, t0)


def _result(
    minutes: float,
    rate: float,
    bucket_s: float,
    duration: float,
    runs: dict[str, Run],
    lat: dict[str, list[tuple[float, float]]],
    samples: Samples,
    errors: Counter[str],
    t0: float,
) -> SuiteResult:
    for r in runs.values():
        lat["start"].append((r.sent_at - t0, r.start_latency_s))
        if r.decide_latency_s is not None and r.decided_at is not None:
            lat["decide"].append((r.decided_at - t0, r.decide_latency_s))
        if r.status == "completed" and r.closed_at is not None and r.e2e_s is not None:
            lat["end to end"].append((r.closed_at - t0, r.e2e_s))
    n_buckets = max(1, int(duration // bucket_s))
    buckets: list[dict[str, Any]] = []
    for b in range(n_buckets):
        lo, hi = b * bucket_s, (b + 1) * bucket_s
        row: dict[str, Any] = {"from_s": lo}
        for name, pts in lat.items():
            vals = [v for t, v in pts if lo <= t < hi]
            if vals:
                row[f"{name} p50 ms"] = 1000 * percentile(vals, 0.5)
                row[f"{name} p95 ms"] = 1000 * percentile(vals, 0.95)
        for name, pts in samples.series.items():
            vals = [v for t, v in pts if lo <= t < hi]
            if vals:
                row[name] = statistics.fmean(vals)
        buckets.append(row)
    skip = min(bucket_s, duration / 4)  # warm-up: first imports, caches, pools filling
    trends: dict[str, dict[str, Any]] = {}
    for name, pts in samples.series.items():
        trends[name] = trend(pts, duration, skip)
    for name in ("start", "decide", "end to end", "inbox", "costs", "list"):
        if lat.get(name):
            trends[f"{name} latency ms"] = trend(
                [(t, 1000 * v) for t, v in lat[name]], duration, skip
            )
    completed = sum(1 for r in runs.values() if r.status == "completed")
    rows = [
        Row("runs started", float(len(runs)), note=f"{rate:g}/s for {minutes:g} min"),
        Row("runs completed", 100.0 * completed / len(runs) if runs else 0.0, "%", goal="100"),
        Row(
            "errors",
            float(sum(errors.values())),
            note=", ".join(f"{k}: {v}" for k, v in errors.most_common()) or "none",
        ),
    ]
    for name, t in trends.items():
        rows.append(
            Row(
                name,
                t["mean"],
                "",
                goal=f"flat (within ±{FLAT_PCT:g} % over the run)",
                note=f"slope {t['slope_per_min']:+.3g}/min, {t['change_pct']:+.1f} % over the run",
                met=bool(t["flat"]),
            )
        )
    meta = {
        "minutes": minutes,
        "rate_per_s": rate,
        "bucket_s": bucket_s,
        "buckets": buckets,
        "trends": trends,
        "errors": dict(errors),
    }
    return SuiteResult("soak", rows, meta, TITLE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1.0, help="runs started per second")
    parser.add_argument("--bucket-s", type=float, default=60.0, help="seconds per bucket")
    parser.add_argument("--json", type=Path, dest="json_path")
    a = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    mach = machine()
    started = time.perf_counter()
    result = asyncio.run(soak(a.minutes, a.rate, a.bucket_s, log))
    result.meta["wall_s"] = round(time.perf_counter() - started, 1)
    print_table(result)
    _print_buckets(result.meta["buckets"])
    path = write_json(result, a.json_path, mach)
    print(f"wrote {path}")


def _print_buckets(buckets: list[dict[str, Any]]) -> None:
    """Per bucket, the figures one reads for flatness: latency, RSS, connections."""
    keys = [
        k
        for k in (buckets[0] if buckets else {})
        if k != "from_s" and ("p95" in k or "RSS" in k or "connections" in k or "backends" in k)
    ]
    print("per bucket: " + json.dumps(keys))
    for b in buckets:
        print(
            f"  {b['from_s'] / 60:5.1f} min  "
            + "  ".join(f"{b.get(k, float('nan')):.0f}" for k in keys)
        )


if __name__ == "__main__":
    main()
