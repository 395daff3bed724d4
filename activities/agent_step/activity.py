"""The `run_agent` activity: every agent pool registers it on its own task queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.agent_step.noop import run_noop
from activities.agent_step.runtime import AgentRuntime, default_runtime
from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult
from activities.metrics import timed_step


class AgentActivities:
    """`run_agent` bound to a worker's `AgentRuntime` (thread pool, store, catalog)."""

    def __init__(self, runtime: AgentRuntime):
        self.runtime = runtime

    @activity.defn(name=RUN_AGENT)
    async def run_agent(self, inp: AgentStepInput) -> AgentStepResult:
        if inp.agent == "noop":
            runtime = self.runtime
            return await run_noop(inp, runtime.store, beat_cap_s=runtime.heartbeat_every_s)
        with timed_step(inp.agent, inp.mode):
            return await self.runtime.run_step(inp)


@activity.defn(name=RUN_AGENT)
async def run_agent(inp: AgentStepInput) -> AgentStepResult:
    """Unbound variant on the process-wide default runtime (prefer `build_agent_activities`)."""
    if inp.agent == "noop":
        runtime = default_runtime()
        return await run_noop(inp, runtime.store, beat_cap_s=runtime.heartbeat_every_s)
    return await default_runtime().run_step(inp)


def build_agent_activities(runtime: AgentRuntime | None = None) -> list[Callable[..., Any]]:
    """The activities every `bizos-agents-<category>` worker registers.

    Pass the worker's `AgentRuntime` (and `await runtime.close()` at shutdown); without one
    the process-wide default runtime is used.
    """
    return [AgentActivities(runtime or default_runtime()).run_agent]
