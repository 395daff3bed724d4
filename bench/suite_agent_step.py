"""`bizos bench agent-step`: where one agent step's time goes, and a worker under a burst.

Starts a Temporal dev server and, per variant, one worker process hosting every agent pool
(bench/bench_agents.py: one runtime, crewai imported once, BIZOS_HOME in the suite's temp
dir), then from this process, on the offline provider:

1. cold: the first step a fresh worker runs; warm: N steps one after another in one
   workflow, repeated. Split of a step (p50 over steps, median ± spread over repeats):
   Temporal round trip (step wall time as the workflow sees it - the activity), CrewAI build
   (LLM, tools, Agent/Task/Crew), agent loop (the crew's thread minus build and tools: the
   prompts, parsing, events, and the store calls the loop waits for), tools, store (the
   activity outside the crew's thread: inputs, pins, ledger, outputs, live events).
   Framework overhead = the step's wall time minus its tools.
2. bursts of concurrent steps, after one step of every agent and mode (so each tool's
   libraries are loaded: "idle" is the RSS after that): the same agent (framework-bound)
   and every agent/mode of the catalog across all pools (tools-bound): steps/s, worker RSS
   before, peak during and after (once the pool has been idle a few seconds).

Variants, in one run on one server, each with its own worker on its own namespace:
"before" (BIZOS_STEP_SPEEDUPS=0: the speed-ups of issue #14 off) and "after" (as shipped).
Each phase runs for both in turn, so load from elsewhere falls on both alike. `--full` adds
one variant per speed-up alone ("only-<name>", activities/agent_step/tuning.py) and
"after-4-threads" (BIZOS_AGENT_THREADS=4 instead of 8). The smoke size runs "after" only.
The store is a PostgreSQL schema of the suite's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from activities.agent_step.tuning import ALL as STEP_SPEEDUPS
from bench.harness import (
    REPO,
    ProcSampler,
    Row,
    SuiteOptions,
    SuiteResult,
    bench_env,
    dev_server,
    percentile,
)

TITLE = "one agent step's split (cold, warm) and bursts of concurrent steps"
OVERHEAD_GOAL_MS = 35.0
BURST_GOAL = 20.0  # steps/s
RSS_AFTER_GOAL = 1.10  # after burst / idle before
SETTLE_S = 3.0  # idle time before "RSS after": the runtime trims the heap after 1 s idle
VARIANTS: dict[str, dict[str, str]] = {"before": {"BIZOS_STEP_SPEEDUPS": "0"}, "after": {}}
# --full adds: each speed-up alone (activities/agent_step/tuning.py), and a smaller pool
FULL_VARIANTS: dict[str, dict[str, str]] = {
    **{f"only-{name}": {"BIZOS_STEP_SPEEDUPS": name} for name in sorted(STEP_SPEEDUPS)},
    "after-4-threads": {"BIZOS_AGENT_THREADS": "4"},
}


ALL_VARIANTS = {**VARIANTS, **FULL_VARIANTS}


class Worker:
    """The bench worker process (all agent pools) of one variant."""

    def __init__(self, proc: asyncio.subprocess.Process, splits: Path, ready: dict[str, Any]):
        self.proc, self.splits, self.ready = proc, splits, ready

    @classmethod
    async def start(
        cls, address: str, workdir: Path, variant: str, store_env: dict[str, str]
    ) -> Worker:
        """The worker polls the variant's own namespace (`namespace(variant)`)."""
        splits = workdir / f"splits-{variant}.jsonl"
        home = workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = bench_env(
            workdir, BIZOS_BENCH_SPLITS=str(splits), **store_env, **ALL_VARIANTS[variant]
        )
        log = (workdir / f"worker-{variant}.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "bench" / "bench_agents.py"),
            "--worker",
            "--address",
            address,
            "--home",
            str(home),
            "--namespace",
            namespace(variant),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=REPO,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        if not line:
            tail = (workdir / f"worker-{variant}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the {variant} bench worker exited:\n{tail}")
        return cls(proc, splits, json.loads(line))

    def split_of(self, tag: str) -> list[dict[str, Any]]:
        lines = self.splits.read_text().splitlines() if self.splits.exists() else []
        return [d for d in map(json.loads, lines) if tag in d["step"]]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


def namespace(variant: str) -> str:
    return f"bench-{variant}"


class Driver:
    """Runs probe workflows (tests/agents/probe_workflow.py) from this process."""

    def __init__(self, client: Any, queue: str):
        self.client, self.queue = client, queue

    async def run(self, steps: list[Any], parallel: int, agent_queue: str) -> list[Any]:
        from tests.agents.probe_workflow import AgentProbeWorkflow, ProbeInput

        out = await self.client.execute_workflow(
            AgentProbeWorkflow.run,
            ProbeInput(
                task_queue=agent_queue,
                steps=steps,
                max_parallel=parallel,
                start_to_close_s=600,  # a burst queues behind the pool: measure, don't time out
            ),
            id=f"bench-{uuid.uuid4().hex[:8]}",
            task_queue=self.queue,
        )
        return list(out.outcomes)


def step_input(i: int, agent: str, mode: str, tag: str) -> Any:
    from activities.contract import AgentStepInput
    from bench.bench_agents import INPUTS

    return AgentStepInput(
        workflow_id=f"bench-{tag}-{i}",
        run_id="r1",
        template="bench",
        step_id=f"s{i}",
        agent=agent,
        mode=mode,
        inputs={**INPUTS, "topic": f"{INPUTS['topic']} {i}"},
    )


def split_figures(splits: Sequence[dict[str, Any]], per_step_wall_ms: float) -> dict[str, float]:
    """p50s of one series of sequential steps (the round trip is a mean: wall / steps)."""

    def p50(key: str) -> float:
        return statistics.median(d.get(key, 0.0) for d in splits)

    loop = [d["pool_ms"] - d.get("build_ms", 0.0) - d.get("tool_ms", 0.0) for d in splits]
    store = [d["activity_ms"] - d["pool_ms"] for d in splits]
    outside_tools = [d["activity_ms"] - d.get("tool_ms", 0.0) for d in splits]
    round_trip = per_step_wall_ms - statistics.fmean(d["activity_ms"] for d in splits)
    return {
        "round_trip_ms": round_trip,
        "build_ms": p50("build_ms"),
        "loop_ms": statistics.median(loop),
        "tools_ms": p50("tool_ms"),
        "store_ms": statistics.median(store),
        "activity_ms": p50("activity_ms"),
        "overhead_ms": statistics.median(outside_tools) + round_trip,
        "overhead_p90_ms": percentile(outside_tools, 0.9) + round_trip,
        "wall_ms": per_step_wall_ms,
    }


async def sequential(driver: Driver, worker: Worker, n: int, agent_queue: str) -> dict[str, float]:
    from bench.bench_agents import STEP_AGENT, STEP_MODE

    tag = uuid.uuid4().hex[:8]
    with ProcSampler({"worker": worker.proc.pid}, interval_s=1.0) as sampler:
        started = time.perf_counter()
        outcomes = await driver.run(
            [step_input(i, STEP_AGENT, STEP_MODE, tag) for i in range(n)], 1, agent_queue
        )
        wall_ms = (time.perf_counter() - started) * 1000 / n
    failed = [o.failure.type for o in outcomes if o.failure]
    if failed:
        raise RuntimeError(f"{len(failed)} of {n} sequential steps failed: {sorted(set(failed))}")
    figures = split_figures(worker.split_of(tag), wall_ms)
    # CPU time barely moves with load from elsewhere on the machine; wall time does
    figures["cpu_ms"] = sampler.cpu_s("worker") * 1000 / n
    return figures


async def burst(
    driver: Driver, worker: Worker, pairs: list[tuple[str, str]], n: int
) -> dict[str, Any]:
    from activities.catalog import default_catalog, task_queue_for

    tag = uuid.uuid4().hex[:8]
    catalog = default_catalog()
    by_queue: dict[str, list[Any]] = {}
    for i in range(n):
        agent, mode = pairs[i % len(pairs)]
        queue = task_queue_for(catalog.get(agent).category)
        by_queue.setdefault(queue, []).append(step_input(i, agent, mode, tag))
    pid = worker.proc.pid
    with ProcSampler({"worker": pid}, interval_s=0.05) as sampler:
        rss_before = sampler.rss_now_mb("worker")
        started = time.perf_counter()
        outs = await asyncio.gather(*(driver.run(s, len(s), q) for q, s in by_queue.items()))
        wall = time.perf_counter() - started
    await asyncio.sleep(SETTLE_S)  # a measurement point, not synchronisation
    rss_after = sampler.rss_now_mb("worker")
    outcomes = [o for out in outs for o in out]
    splits = worker.split_of(tag)
    tools_s = sum(d.get("tool_ms", 0.0) for d in splits) / 1000
    return {
        "steps": n,
        "pools": len(by_queue),
        "failures": sorted({o.failure.type for o in outcomes if o.failure}),
        "failed": sum(1 for o in outcomes if o.failure),
        "wall_s": wall,
        "steps_per_s": n / wall,
        "tools_s": tools_s,
        "rss_before_mb": rss_before,
        "rss_peak_mb": sampler.peak_rss_mb("worker"),
        "rss_after_mb": rss_after,
        "cpu_pct": sampler.cpu_pct("worker"),
        "cpu_ms_per_step": sampler.cpu_s("worker") * 1000 / n,
    }


class Lane:
    """One variant: its worker process and the driver of its namespace."""

    def __init__(self, variant: str, worker: Worker, driver: Driver):
        self.variant, self.worker, self.driver = variant, worker, driver
        self.figures: dict[str, Any] = {"worker": worker.ready}


async def measure(opts: SuiteOptions, lanes: list[Lane]) -> None:
    """Every phase runs for each variant in turn before the next phase (warm series
    alternate), so load from elsewhere on the machine falls on both alike."""
    from activities.catalog import default_catalog, task_queue_for
    from bench.bench_agents import STEP_AGENT, STEP_MODE

    steps = opts.pick(smoke=4, default=40, full=100)
    burst_n = opts.pick(smoke=8, default=100, full=100)
    repeats = opts.repeats_or(3)
    catalog = default_catalog()
    agent_queue = task_queue_for(catalog.get(STEP_AGENT).category)
    pairs = [(a.id, m) for a in catalog if a.category != "system" for m in a.modes]
    for lane in lanes:
        f, worker, driver = lane.figures, lane.worker, lane.driver
        f["rss_start_mb"] = ProcSampler({"w": worker.proc.pid}).rss_now_mb("w")
        opts.log(f"[{lane.variant}] cold step, warm-up")
        cold_tag = uuid.uuid4().hex[:8]
        t = time.perf_counter()
        await driver.run([step_input(0, STEP_AGENT, STEP_MODE, cold_tag)], 1, agent_queue)
        f["cold"] = split_figures(worker.split_of(cold_tag), (time.perf_counter() - t) * 1000)
        await sequential(driver, worker, 5, agent_queue)  # lazy imports, connections
        f["warm"] = []
    for r in range(repeats):
        for lane in lanes:
            opts.log(f"[{lane.variant}] {steps} warm steps, repeat {r + 1} of {repeats}")
            f = lane.figures
            f["warm"].append(await sequential(lane.driver, lane.worker, steps, agent_queue))
    for lane in lanes:
        # Every agent and mode once, so the bursts measure steady state, not the first
        # import of each tool's libraries (reported as the RSS after warm-up).
        opts.log(f"[{lane.variant}] every agent and mode once (warm-up)")
        first = pairs[:4] if opts.size == "smoke" else pairs
        lane.figures["warmup_all"] = await burst(lane.driver, lane.worker, first, len(first))
        lane.figures["rss_idle_mb"] = lane.figures["warmup_all"]["rss_after_mb"]
    for key, which, label in (
        ("burst_same", [(STEP_AGENT, STEP_MODE)], f"{STEP_AGENT}/{STEP_MODE}"),
        ("burst_mixed", pairs, "every agent and mode"),
    ):
        for lane in lanes:
            opts.log(f"[{lane.variant}] burst of {burst_n} steps, {label}")
            lane.figures[key] = await burst(lane.driver, lane.worker, which, burst_n)


def rows_of(variant: str, f: dict[str, Any], compare: bool) -> list[Row]:
    tag = f" [{variant}]" if compare else ""
    warm = f["warm"]
    over = Row.of(f"warm: framework overhead p50{tag}", [w["overhead_ms"] for w in warm], "ms")
    over.goal = f"<= {OVERHEAD_GOAL_MS:.0f}"
    over.met = over.value is not None and over.value <= OVERHEAD_GOAL_MS
    cpu = Row.of(f"warm: worker CPU per step{tag}", [w["cpu_ms"] for w in warm], "ms")
    cpu.note = "all threads of the worker, tools included: steady under outside load"
    rows = [over, cpu]
    parts = (
        ("round_trip_ms", "Temporal round trip (mean)"),
        ("build_ms", "CrewAI build"),
        ("loop_ms", "agent loop"),
        ("tools_ms", "tools"),
        ("store_ms", "store (outside the loop)"),
    )
    for key, label in parts:
        rows.append(Row.of(f"  warm: {label}{tag}", [w[key] for w in warm], "ms"))
    c = f["cold"]
    rows.append(
        Row(
            f"cold: first step of a fresh worker{tag}",
            c["wall_ms"],
            "ms",
            note=(
                f"activity {c['activity_ms']:.0f}, build {c['build_ms']:.0f}, "
                f"loop {c['loop_ms']:.0f}, tools {c['tools_ms']:.0f}, "
                f"store {c['store_ms']:.0f} ms"
            ),
        )
    )
    idle = f["rss_idle_mb"]
    w = f["warmup_all"]
    rows.append(
        Row(
            f"worker RSS idle, every tool warm{tag}",
            idle,
            "MB",
            note=(
                f"{f['rss_start_mb']:.0f} at start; {w['steps']} steps (each agent and mode "
                f"once) peaked at {w['rss_peak_mb']:.0f}"
            ),
        )
    )
    for key, label in (("burst_same", "same agent"), ("burst_mixed", "every agent")):
        b = f[key]
        sps = Row(f"burst of {b['steps']}, {label}: steps/s{tag}", b["steps_per_s"], "steps/s")
        sps.note = (
            f"{b['wall_s']:.1f} s over {b['pools']} pool(s), tools {b['tools_s']:.1f} s, "
            f"worker CPU {b['cpu_pct']:.0f} % ({b['cpu_ms_per_step']:.0f} ms a step), "
            f"failed {b['failed']} {b['failures'] or ''}"
        )
        if key == "burst_same":
            sps.goal, sps.met = f">= {BURST_GOAL:.0f}", b["steps_per_s"] >= BURST_GOAL
        after = b["rss_after_mb"] / idle
        rss = Row(f"  RSS after / idle before{tag}", after, "x", goal=f"<= {RSS_AFTER_GOAL}")
        rss.met = after <= RSS_AFTER_GOAL
        rss.note = (
            f"before {b['rss_before_mb']:.0f}, peak {b['rss_peak_mb']:.0f}, "
            f"after {b['rss_after_mb']:.0f} MB ({SETTLE_S:.0f} s idle)"
        )
        rows += [sps, rss]
    return rows


def ratio_rows(figures: dict[str, Any]) -> list[Row]:
    """Each variant against "before", measured in the same run."""
    b = figures["before"]

    def med(f: dict[str, Any]) -> float:
        return statistics.median(w["overhead_ms"] for w in f["warm"])

    rows = []
    for name, a in figures.items():
        if name == "before":
            continue
        rows.append(Row(f"{name} / before: warm framework overhead", med(a) / med(b), "x"))
        cpu_a = statistics.median(w["cpu_ms"] for w in a["warm"])
        cpu_b = statistics.median(w["cpu_ms"] for w in b["warm"])
        rows.append(Row(f"{name} / before: warm worker CPU per step", cpu_a / cpu_b, "x"))
        for key, label in (("burst_same", "same agent"), ("burst_mixed", "every agent")):
            rows.append(
                Row(
                    f"{name} / before: burst worker CPU per step, {label}",
                    a[key]["cpu_ms_per_step"] / b[key]["cpu_ms_per_step"],
                    "x",
                )
            )
        for key, label in (("burst_same", "same agent"), ("burst_mixed", "every agent")):
            rows.append(
                Row(
                    f"{name} / before: burst steps/s, {label}",
                    a[key]["steps_per_s"] / b[key]["steps_per_s"],
                    "x",
                )
            )
            rows.append(
                Row(
                    f"{name} / before: RSS after the burst, {label}",
                    a[key]["rss_after_mb"] / b[key]["rss_after_mb"],
                    "x",
                )
            )
    return rows


async def run(opts: SuiteOptions) -> SuiteResult:
    from temporalio.client import Client
    from temporalio.worker import Worker as TemporalWorker

    from store.testing import temporary_pg_schema
    from tests.agents.probe_workflow import AgentProbeWorkflow
    from worker.plugin import BizosPlugin

    variants = opts.pick(smoke=["after"], default=list(VARIANTS), full=[*VARIANTS, *FULL_VARIANTS])
    ns_flags = [flag for v in variants for flag in ("--namespace", namespace(v))]
    # The store on PostgreSQL, as deployed: a schema of its own, dropped at the end. (On the
    # SQLite file a burst of 100 steps in one process queues on SQLite's one writer until
    # the 30 s busy timeout fails steps with "database is locked".)
    async with temporary_pg_schema("bizos_bench") as db, contextlib.AsyncExitStack() as stack:
        store_env = {
            "BIZOS_DATABASE_URL": str(db.database_url),
            "BIZOS_DATABASE_SCHEMA": str(db.database_schema),
        }
        server = stack.enter_context(dev_server(opts.workdir, *ns_flags))
        lanes = []
        for variant in variants:
            client = await Client.connect(
                server.address, namespace=namespace(variant), plugins=[BizosPlugin()]
            )
            queue = f"bench-probe-{uuid.uuid4().hex[:6]}"
            await stack.enter_async_context(
                TemporalWorker(client, task_queue=queue, workflows=[AgentProbeWorkflow])
            )
            opts.log(f"[{variant}] starting the worker (every agent pool, crewai import)")
            worker = await Worker.start(server.address, opts.workdir, variant, store_env)
            stack.push_async_callback(worker.stop)
            lanes.append(Lane(variant, worker, Driver(client, queue)))
        await measure(opts, lanes)
    figures = {lane.variant: lane.figures for lane in lanes}
    compare = len(variants) > 1
    rows = [r for v in variants for r in rows_of(v, figures[v], compare)]
    if compare:
        rows += ratio_rows(figures)
    meta = {
        "sizes": {
            "warm_steps": opts.pick(smoke=4, default=40, full=100),
            "burst": opts.pick(smoke=8, default=100, full=100),
            "repeats": opts.repeats_or(3),
        },
        "variants": {k: ALL_VARIANTS[k] for k in variants},
        "store": "PostgreSQL (a schema of its own)",
        "raw": figures,
    }
    return SuiteResult("agent-step", rows, meta)
