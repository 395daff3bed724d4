"""Agent platform benchmark: the worker process of `bizos bench agent-step`.

    .venv/bin/python bench/bench_agents.py [--smoke|--full] [--repeats N]
    (the same as `bizos bench agent-step`; the driver is bench/suite_agent_step.py)

`--worker` (started by the suite): one process hosting every agent pool (all categories,
one shared AgentRuntime: one thread pool, one store, crewai imported once), printing one
JSON line when ready; with BIZOS_BENCH_SPLITS set, it times the parts of each step
(`_instrument`) and appends them there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STEP_AGENT, STEP_MODE = "market_research", "marketing_research"
INPUTS: dict[str, Any] = {
    "topic": "electric bikes",
    "product": "VoltRide",
    "company": "Acme Mobility",
    "competitors": ["Rad Power", "VanMoof"],
    "region": "EU",
}


# ---------------------------------------------------------------- worker process
async def run_worker(address: str, home: Path, namespace: str = "default") -> None:
    """All agent pools in one process, sharing one runtime."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from activities.agent_step.activity import build_agent_activities
    from activities.agent_step.runtime import AgentRuntime
    from activities.catalog import CATEGORIES, task_queue_for
    from store import StoreSettings
    from worker.plugin import BizosPlugin

    stand_ins = _register_missing_tools()
    splits = os.environ.get("BIZOS_BENCH_SPLITS")
    if splits:
        _instrument(Path(splits))
    client = await Client.connect(address, namespace=namespace, plugins=[BizosPlugin()])
    runtime = AgentRuntime(store_settings=StoreSettings(home=home), home=home)
    started = time.perf_counter()
    await runtime.start()
    load_s = time.perf_counter() - started
    activities = build_agent_activities(runtime)
    workers = [
        Worker(
            client,
            task_queue=task_queue_for(category),
            activities=activities,
            max_concurrent_activities=16,
        )
        for category in CATEGORIES
    ]
    crewai_modules = sum(1 for m in sys.modules if m == "crewai" or m.startswith("crewai."))
    print(
        json.dumps(
            {
                "ready": True,
                "pools": len(workers),
                "threads": runtime.threads,
                "crewai_and_tools_load_s": round(load_s, 2),
                "crewai_modules": crewai_modules,
                "stand_in_tools": stand_ins,
            }
        ),
        flush=True,
    )
    try:
        await asyncio.gather(*(w.run() for w in workers))
    finally:
        await runtime.close()


_SPLIT: Any = None  # contextvars.ContextVar[dict[str, float]], set by _instrument


def _instrument(out: Path) -> None:
    """Time the parts of each step in this (bench) process and append one JSON line per
    step to `out`: activity (all of `run_step`), pool (the crew's thread: build + loop +
    tools + the store calls the loop waits for), build (LLM, tools, Agent/Task/Crew).
    The activity's context is copied into the pool thread, so one dict per step collects
    the pool's figures too."""
    import contextvars
    import functools

    import activities.agent_step.step as step_mod
    from activities.agent_step.runtime import AgentRuntime

    global _SPLIT
    _SPLIT = contextvars.ContextVar("bench_split")

    def timed_sync(fn: Any, key: str) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                d = _SPLIT.get(None)
                if d is not None:
                    d[key] = d.get(key, 0.0) + (time.perf_counter() - t) * 1000

        return wrapper

    step_mod._run_crew = timed_sync(step_mod._run_crew, "pool_ms")
    step_mod.build_crew = timed_sync(step_mod.build_crew, "build_ms")
    # a bound classmethod and a plain function, wrapped as they are looked up
    setattr(step_mod.OfflineLLM, "build", timed_sync(step_mod.OfflineLLM.build, "build_ms"))  # noqa: B010
    setattr(  # noqa: B010
        step_mod.StepToolbox, "crew_tools", timed_sync(step_mod.StepToolbox.crew_tools, "build_ms")
    )
    original = AgentRuntime.run_step

    async def run_step(self: AgentRuntime, inp: Any) -> Any:
        d: dict[str, Any] = {"step": f"{inp.workflow_id}/{inp.step_id}"}
        token = _SPLIT.set(d)
        t = time.perf_counter()
        try:
            result = await original(self, inp)
            d["tool_ms"] = result.tool_ms
            return result
        finally:
            d["activity_ms"] = (time.perf_counter() - t) * 1000
            _SPLIT.reset(token)
            with out.open("a") as f:
                f.write(json.dumps(d) + "\n")

    setattr(AgentRuntime, "run_step", run_step)  # noqa: B010


def _register_missing_tools() -> list[str]:
    """Until every catalog tool exists, time a deterministic stand-in instead (reported)."""
    import activities.tools  # noqa: F401
    from activities.catalog import default_catalog
    from activities.tools.registry import TOOLS, ToolInput, ToolOutput, tool

    class StandIn(ToolInput):
        topic: str = ""

    missing = sorted(
        {t for a in default_catalog() for m in a.modes for t in a.mode_tools(m)} - set(TOOLS)
    )
    for name in missing:

        def run(inp: StandIn, _name: str = name) -> ToolOutput:
            return ToolOutput(
                headline=f"{_name}: {len(inp.topic)}", metrics={"n": float(len(inp.topic))}
            )

        run.__annotations__ = {"inp": StandIn, "return": ToolOutput}
        tool(name, f"stand-in for {name}")(run)
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import activities.crew.env  # noqa: F401  (before crewai)

        asyncio.run(run_worker(args.address, Path(args.home), args.namespace))
        return
    from bench.harness import run_all

    run_all(
        ["agent-step"],
        "full" if args.full else "smoke" if args.smoke else "default",
        args.repeats,
        None,
    )


if __name__ == "__main__":
    main()
