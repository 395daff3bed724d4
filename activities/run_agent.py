"""The `run_agent` activity: every agent pool registers it on its own task queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult
from activities.noop import run_noop


@activity.defn(name=RUN_AGENT)
async def run_agent(inp: AgentStepInput) -> AgentStepResult:
    if inp.agent == "noop":
        return await run_noop(inp)
    # CrewAI is heavy (seconds and ~185 MB to import): imported lazily, once per worker.
    from activities.crew_step import run_crew_step

    return await run_crew_step(inp)


def build_agent_activities() -> list[Callable[..., Any]]:
    """The activities every `bizos-agents-<category>` worker registers."""
    return [run_agent]
