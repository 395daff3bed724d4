"""The built-in `noop` agent: no model, no tools. It exercises every path of the runtime
(retries, heartbeats and cancellation, costs, big outputs by reference) for tests and benchmarks."""

from __future__ import annotations

import asyncio
import time

from temporalio.exceptions import ApplicationError

from activities.agent_step.heartbeat import MAX_BEAT_S, heartbeating
from activities.agent_step.keys import step_attempt
from activities.agent_step.outputs import StoreGetter, deliver, resolve_inputs
from activities.contract import AgentStepInput, AgentStepResult


async def run_noop(
    inp: AgentStepInput, store: StoreGetter, *, beat_cap_s: float = MAX_BEAT_S
) -> AgentStepResult:
    """`store` opens the worker's store, only when an output or input goes by reference;
    `beat_cap_s` is the worker's longest heartbeat beat (`AgentRuntime.heartbeat_every_s`)."""
    started = time.perf_counter()
    attempt = step_attempt(inp)
    args = await resolve_inputs(inp.inputs, store)
    if "fail" in args:
        raise ApplicationError(str(args["fail"]), type="NoopFailure", non_retryable=True)
    if attempt <= int(args.get("fail_attempts", 0)):
        raise ApplicationError(f"noop: planned failure on attempt {attempt}", type="NoopRetry")
    sleep_s = float(args.get("sleep_s", 0))
    if sleep_s > 0:
        # Heartbeats are how a cancellation (or a dead worker) reaches a running step: the
        # same beat a crew step has, so `heartbeat:` timeouts are tested on the real one.
        async with heartbeating({"phase": "sleeping", "sleep_s": sleep_s}, cap_s=beat_cap_s):
            await asyncio.sleep(sleep_s)
    output: dict[str, object] = {"echo": args, "step": inp.step_id, "attempt": attempt}
    if inp.item_index is not None:
        output["index"] = inp.item_index
    if "output_bytes" in args:
        output["padding"] = "x" * int(args["output_bytes"])
    result = AgentStepResult(
        summary=f"noop {inp.mode} ok",
        cost_usd=float(args.get("cost_usd", 0.0)),
        provider="none",
        model="noop",
        attempt=attempt,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    return await deliver(result, output, inp, store)
