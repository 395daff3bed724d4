"""The built-in `noop` agent: no model, no tools. It exercises every path of the runtime
(retries, heartbeats and cancellation, costs, big outputs by reference) for tests and benchmarks."""

from __future__ import annotations

import asyncio
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent_step.outputs import StoreGetter, deliver, resolve_inputs
from activities.contract import AgentStepInput, AgentStepResult

HEARTBEAT_EVERY_S = 0.5


async def run_noop(inp: AgentStepInput, store: StoreGetter) -> AgentStepResult:
    """`store` opens the worker's store, only when an output or input goes by reference."""
    started = time.perf_counter()
    info = activity.info()
    args = await resolve_inputs(inp.inputs, store)
    if "fail" in args:
        raise ApplicationError(str(args["fail"]), type="NoopFailure", non_retryable=True)
    if info.attempt <= int(args.get("fail_attempts", 0)):
        raise ApplicationError(f"noop: planned failure on attempt {info.attempt}", type="NoopRetry")
    sleep_s = float(args.get("sleep_s", 0))
    deadline = time.monotonic() + sleep_s
    while (left := deadline - time.monotonic()) > 0:
        # Heartbeats are how a cancellation (or a dead worker) reaches a running step.
        activity.heartbeat({"left_s": round(left, 2)})
        await asyncio.sleep(min(HEARTBEAT_EVERY_S, left))
    output: dict[str, object] = {"echo": args, "step": inp.step_id, "attempt": info.attempt}
    if inp.item_index is not None:
        output["index"] = inp.item_index
    if "output_bytes" in args:
        output["padding"] = "x" * int(args["output_bytes"])
    result = AgentStepResult(
        summary=f"noop {inp.mode} ok",
        cost_usd=float(args.get("cost_usd", 0.0)),
        provider="none",
        model="noop",
        attempt=info.attempt,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    return await deliver(result, output, inp, store)
