"""Benchmarks of the DAG core. Prints figures beside their goals; asserts nothing.

    .venv/bin/python -m bench.bench_core            # full run (a few minutes)
    .venv/bin/python -m bench.bench_core --quick    # small sizes (CI keeps it from rotting)

1. worker CPU per run: compiled template vs a hand-written workflow (same activities, same
   search-attribute upserts), side by side on one server, in one run; history events of each.
2. `bizos dev` as shipped: serial latency per noop step, beside a stock dev server.
3. many runs parked on approvals held by one worker on the SQLite dev server: resident
   memory; then all approved by one batch signal found through the search attribute.
4. `bizos specs validate` over all templates: wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from starters.devserver import DevServer  # noqa: E402
from starters.runs import start_options  # noqa: E402
from worker.binaries import temporal_cli  # noqa: E402
from worker.plugin import BizosPlugin  # noqa: E402
from workflows.compiler import CompiledDag  # noqa: E402
from workflows.models import RunInput  # noqa: E402
from workflows.plans import build_plan  # noqa: E402
from workflows.registry import SPEC_DIRS_ENV, load_registry, set_registry  # noqa: E402

CHAIN = """name: bench_chain
version: 1
description: four noop steps around an approval that times out after 100 ms
steps:
  - {id: s1, agent: noop, mode: echo, with: {step: s1}}
  - {id: s2, agent: noop, mode: echo, with: {step: s2}, after: [s1]}
  - {id: review, approval: {prompt: "ok?", timeout: 100ms, on_timeout: approve}, after: [s2]}
  - {id: s3, agent: noop, mode: echo, with: {step: s3}, after: [review]}
  - {id: s4, agent: noop, mode: echo, with: {step: s4}, after: [s3]}
"""
PARK = """name: bench_park
version: 1
description: waits for a person, then one noop step
steps:
  - {id: review, approval: {prompt: "go?", timeout: 1h}}
  - {id: done, agent: noop, mode: echo, after: [review]}
"""


def serial(n: int) -> str:
    steps = [
        f"  - {{id: s{i}, agent: noop, mode: echo{', after: [s' + str(i - 1) + ']' if i else ''}}}"
        for i in range(n)
    ]
    return (
        f"name: bench_serial{n}\nversion: 1\ndescription: {n} serial noop steps\nsteps:\n"
        + "\n".join(steps)
        + "\n"
    )


def write_specs(d: Path) -> None:
    (d / "versions").mkdir(parents=True, exist_ok=True)
    for name, text in {
        "bench_chain": CHAIN,
        "bench_park": PARK,
        "bench_serial1": serial(1),
        "bench_serial21": serial(21),
    }.items():
        (d / f"{name}.yaml").write_text(text)
        (d / "versions" / f"{name}@1.yaml").write_text(text)


CACHE_ENV = "BIZOS_POOL_WORKFLOWS_MAX_CACHED_WORKFLOWS"  # worker.pools.tuning_for


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.popen = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        self.ps = psutil.Process(self.popen.pid)

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def rss_mb(self) -> float:
        return float(self.ps.memory_info().rss / 2**20)

    def wait_ready(self, log: Path, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while "ready" not in log.read_text(errors="replace"):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bench worker did not start; see {log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()


@contextmanager
def bench_workers(
    address: str, spec_dir: Path, tmp: Path, tag: str, cache: int | None = None
) -> Iterator[tuple[Proc, Proc]]:
    """The two bench workers; `cache`: the workflow worker's max_cached_workflows (None: the
    pool's tuning)."""
    env = dict(os.environ, TEMPORAL_ADDRESS=address, **{SPEC_DIRS_ENV: str(spec_dir)})
    if cache is not None:
        env[CACHE_ENV] = str(cache)
    wf = Proc([sys.executable, "-m", "bench.bench_worker", "workflows"], env, tmp / f"wf-{tag}.log")
    ag = Proc([sys.executable, "-m", "bench.bench_worker", "agents"], env, tmp / f"ag-{tag}.log")
    try:
        yield wf, ag
    finally:
        wf.stop()
        ag.stop()


async def connect(address: str) -> Client:
    return await Client.connect(address, plugins=[BizosPlugin()])


def planned(dag: CompiledDag, **fields: Any) -> RunInput:
    return RunInput(plan=build_plan(dag), **fields)


async def run_batch(client: Client, wtype: str, n: int, concurrency: int) -> None:
    reg_dag = load_registry().by_name("bench_chain")
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            wid = f"bench.{wtype}.{uuid.uuid4().hex[:10]}"
            opts = start_options(reg_dag, RunInput(), wid)
            # the compiled template carries its plan, as `bizos` starts it
            ri = planned(reg_dag) if wtype == "BenchChain" else RunInput()
            await client.execute_workflow(wtype, ri, **opts)

    await asyncio.gather(*(one() for _ in range(n)))


async def history_len(client: Client, wtype: str) -> int:
    dag = load_registry().by_name("bench_chain")
    wid = f"bench.{wtype}.events.{uuid.uuid4().hex[:8]}"
    ri = planned(dag) if wtype == "BenchChain" else RunInput()
    await client.execute_workflow(wtype, ri, **start_options(dag, RunInput(), wid))
    return len((await client.get_workflow_handle(wid).fetch_history()).events)


async def bench_cpu(address: str, spec_dir: Path, tmp: Path, runs: int) -> dict[str, float]:
    with bench_workers(address, spec_dir, tmp, "cpu") as (wf, _):
        client = await connect(address)
        await run_batch(client, "BenchChain", 5, 5)  # warm both paths
        await run_batch(client, "BenchBaseline", 5, 5)
        cpu = {"BenchChain": 0.0, "BenchBaseline": 0.0}
        for _ in range(2):  # alternate to even out drift
            for wtype in ("BenchBaseline", "BenchChain"):
                before = wf.cpu_s()
                await run_batch(client, wtype, runs, 20)
                cpu[wtype] += wf.cpu_s() - before
        events = {w: await history_len(client, w) for w in cpu}
    per_run = {w: c / (2 * runs) * 1000 for w, c in cpu.items()}
    return {
        "compiled_ms": per_run["BenchChain"],
        "baseline_ms": per_run["BenchBaseline"],
        "ratio": per_run["BenchChain"] / per_run["BenchBaseline"],
        "compiled_events": events["BenchChain"],
        "baseline_events": events["BenchBaseline"],
    }


async def serial_latency(address: str, spec_dir: Path, tmp: Path, reps: int) -> float:
    """ms per noop step: (21-step chain - 1-step chain) / 20, medians of `reps` runs."""
    with bench_workers(address, spec_dir, tmp, f"lat-{address.rsplit(':', 1)[1]}"):
        client = await connect(address)
        reg = load_registry()

        async def timed(name: str) -> float:
            dag = reg.by_name(name)
            wid = f"bench.lat.{uuid.uuid4().hex[:10]}"
            t = time.perf_counter()
            await client.execute_workflow(
                dag.workflow_type, planned(dag), **start_options(dag, RunInput(), wid)
            )
            return time.perf_counter() - t

        await timed("bench_serial21")  # warm
        long = statistics.median([await timed("bench_serial21") for _ in range(reps)])
        short = statistics.median([await timed("bench_serial1") for _ in range(reps)])
    return (long - short) / 20 * 1000


@contextmanager
def stock_server(tmp: Path, port: int) -> Iterator[str]:
    """`temporal server start-dev` with its defaults (SQLite file, no tuning)."""
    from workflows import search_attributes

    proc = subprocess.Popen(
        [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--headless",
            "--db-filename",
            str(tmp / "stock.db"),
            "--log-level",
            "error",
            *search_attributes.dev_server_flags(),
        ],
        stdout=(tmp / "stock.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    server = DevServer(state_dir=tmp, port=port)
    try:
        server.wait_ready(60, proc)  # type: ignore[arg-type]
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


async def parked(
    address: str, spec_dir: Path, tmp: Path, n: int, cache: int | None = None
) -> dict[str, float]:
    """`n` runs parked on an approval, every one cached when `cache` covers them."""
    with bench_workers(address, spec_dir, tmp, "park", cache) as (wf, _):
        client = await connect(address)
        dag = load_registry().by_name("bench_park")
        marker = uuid.uuid4().hex[:8]
        wf.wait_ready(tmp / "wf-park.log")
        rss_idle = wf.rss_mb()  # imports done, specs compiled, no run yet
        sem = asyncio.Semaphore(50)
        t0 = time.perf_counter()

        async def one(i: int) -> None:
            async with sem:
                ri = planned(dag, tenant=f"b{marker}")
                await client.start_workflow(
                    dag.workflow_type, ri, **start_options(dag, ri, f"bench.park.{marker}.{i}")
                )

        await asyncio.gather(*(one(i) for i in range(n)))
        waiting_q = f"BizosPendingApprovals = 'review' AND BizosTenant = 'b{marker}'"
        await until(client, waiting_q, n)
        started_s = time.perf_counter() - t0
        rss_parked = wf.rss_mb()
        # One batch signal, found through the search attribute: no per-run polling.
        t1 = time.perf_counter()
        await asyncio.to_thread(
            subprocess.run,
            [
                temporal_cli(),
                "workflow",
                "signal",
                "--address",
                address,
                "--query",
                waiting_q,
                "--name",
                "approve",
                "--input",
                '{"step": "review", "by": "bench"}',
                "--yes",
                "--reason",
                "bench approves all",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        done_q = f"ExecutionStatus = 'Completed' AND BizosTenant = 'b{marker}'"
        await until(client, done_q, n, timeout_s=600)
        approve_s = time.perf_counter() - t1
    return {
        "runs": n,
        "rss_idle_mb": rss_idle,
        "rss_parked_mb": rss_parked,
        "kb_per_run": (rss_parked - rss_idle) * 1024 / n,
        "start_s": started_s,
        "approve_all_s": approve_s,
    }


async def until(client: Client, query: str, n: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while (await client.count_workflows(query)).count < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {n} runs match {query!r}")
        await asyncio.sleep(0.5)  # visibility list APIs: stay far below 10 requests/s


def validate_wall() -> float:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "starters.cli", "specs", "validate"],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def line(name: str, value: str, goal: str) -> None:
    print(f"{name:<58} {value:>18}   goal {goal}")


def sizes(quick: bool) -> dict[str, int]:
    return (
        {"runs": 20, "parked": 100, "reps": 3}
        if quick
        else {"runs": 200, "parked": 1000, "reps": 7}
    )


async def measure(
    tmp: Path,
    runs: int,
    parked_n: int,
    reps: int,
    repeats: int = 1,
    log: Callable[[str], None] = lambda _m: None,
    stock: bool = True,
    parked_cache: int | None = None,
) -> dict[str, Any]:
    """Every figure of this module; each list holds one sample per repeat.

    Uses its own dev servers on free ports and a spec dir under `tmp`; the process's registry
    and SPEC_DIRS_ENV point at the bench specs until it returns."""
    from bench.harness import free_port

    spec_dir = tmp / "specs"
    write_specs(spec_dir)
    saved = os.environ.get(SPEC_DIRS_ENV)
    os.environ[SPEC_DIRS_ENV] = str(spec_dir)
    set_registry(load_registry([spec_dir]))
    out: dict[str, Any] = {"sizes": {"runs": runs, "parked": parked_n, "reps": reps}}
    try:
        log("specs validate")
        out["validate_s"] = [validate_wall() for _ in range(repeats)]
        server = DevServer(state_dir=tmp / "tuned", port=free_port(), ui_port=free_port())
        server.start()
        try:
            cpu = []
            for i in range(repeats):
                log(f"worker CPU, compiled vs hand-written ({runs} runs each), repeat {i + 1}")
                cpu.append(await bench_cpu(server.address, spec_dir, tmp, runs))
            out["cpu"] = cpu
            log("serial latency, tuned server")
            out["tuned_ms"] = [
                await serial_latency(server.address, spec_dir, tmp, reps) for _ in range(repeats)
            ]
            out["stock_ms"] = []
            if stock:  # another server and two more workers: skipped at the smoke size
                log("serial latency, stock server")
                with stock_server(tmp, free_port()) as stock_addr:
                    out["stock_ms"] = [
                        await serial_latency(stock_addr, spec_dir, tmp, reps)
                        for _ in range(repeats)
                    ]
            log(f"{parked_n} runs parked on approvals")
            out["park"] = await parked(server.address, spec_dir, tmp, parked_n, parked_cache)
        finally:
            server.stop()
    finally:
        if saved is None:
            os.environ.pop(SPEC_DIRS_ENV, None)
        else:
            os.environ[SPEC_DIRS_ENV] = saved
        set_registry(load_registry())
    return out


async def main(quick: bool) -> None:
    sz = sizes(quick)
    print(f"BizOS core benchmarks ({'quick' if quick else 'full'}), {os.cpu_count()} cores\n")
    with tempfile.TemporaryDirectory(prefix="bizos-bench-") as t:
        f = await measure(Path(t), sz["runs"], sz["parked"], sz["reps"])
    cpu, park, parked_n = f["cpu"][0], f["park"], sz["parked"]
    tuned, stock = f["tuned_ms"][0], f["stock_ms"][0]
    line(
        "specs validate over all templates (wall, median of 3)",
        f"{f['validate_s'][0]:.2f} s",
        "< 1 s",
    )
    line("worker CPU per run: hand-written workflow", f"{cpu['baseline_ms']:.2f} ms", "baseline")
    line("worker CPU per run: compiled template", f"{cpu['compiled_ms']:.2f} ms", "")
    line("  ratio compiled / hand-written", f"{cpu['ratio']:.2f}x", "<= 1.05x")
    line(
        "  history events compiled / hand-written",
        f"{cpu['compiled_events']} / {cpu['baseline_events']}",
        "equal",
    )
    line("serial latency per noop step, `bizos dev` as shipped", f"{tuned:.1f} ms", "<= 15 ms")
    line("serial latency per noop step, stock dev server", f"{stock:.1f} ms", "(~62 ms)")
    line("  speed-up", f"{stock / tuned:.1f}x", "")
    line(
        f"{parked_n} runs parked on approvals: workflow worker RSS",
        f"{park['rss_parked_mb']:.0f} MB",
        f"(idle {park['rss_idle_mb']:.0f} MB)",
    )
    line("  started and parked in", f"{park['start_s']:.1f} s", "")
    line(
        "  one batch signal by search attribute -> all completed in",
        f"{park['approve_all_s']:.1f} s",
        "every run completes",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
