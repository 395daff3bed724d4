"""Two measured speed-ups for CrewAI's agent loop, version-guarded and switchable off.

CrewAI 1.15's agent loop (``AgentExecutor``) is a Flow. Per step it costs, on the 2-core
target, about 33 ms of framework time for a two-tool agent; two avoidable costs are a third
of that (bench/bench_agents.py measures the result):

1. **Thread hand-offs.** Each of the ~20 flow steps of a run is dispatched with
   ``asyncio.to_thread`` from a fresh event loop, and each ``asyncio.run`` builds and joins a
   new default thread pool. The hop exists so a flow step may call ``Agent.kickoff()``
   synchronously; a BizOS step never does (one agent, one task, sync tools and LLMs). So in
   threads of the agent pool (``bizos-agent*``) the flow module's ``asyncio.to_thread`` runs
   the function inline; every other thread keeps CrewAI's behaviour.
2. **A pydantic class per executor.** The executor's state type is a plain model, so every
   executor builds a new ``StateWithId(FlowState, AgentExecutorState)`` class (~8 ms). The
   same class is built once here and declared as the executor's state type.

Applied only to the CrewAI version they were checked against; ``BIZOS_CREWAI_SPEEDUPS=0``
turns them off (the test suite passes either way).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import types
from collections.abc import Callable
from typing import Any

CHECKED_CREWAI_VERSION = "1.15.30"
POOL_THREAD_PREFIX = "bizos-agent"

log = logging.getLogger(__name__)
_applied = False


class _FlowAsyncio(types.ModuleType):
    """``asyncio`` as the flow runtime sees it: the real module but for ``to_thread``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith(POOL_THREAD_PREFIX):
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)


def apply() -> bool:
    """Install once per process; True when active."""
    global _applied
    if _applied:
        return True
    if os.environ.get("BIZOS_CREWAI_SPEEDUPS", "1") == "0":
        return False
    import crewai
    import crewai.flow.runtime as flow_runtime
    from crewai.agents.agent_executor import AgentExecutor, AgentExecutorState

    if crewai.__version__ != CHECKED_CREWAI_VERSION:
        log.warning(
            "crewai %s is not the version the agent-loop speed-ups were checked with (%s); "
            "running CrewAI unmodified",
            crewai.__version__,
            CHECKED_CREWAI_VERSION,
        )
        return False

    flow_runtime.asyncio = _FlowAsyncio("asyncio")  # type: ignore[attr-defined]

    class ExecutorStateWithId(flow_runtime.FlowState, AgentExecutorState):  # type: ignore[misc]
        """What CrewAI would build per executor, built once."""

    AgentExecutor._initial_state_t = ExecutorStateWithId  # type: ignore[attr-defined]
    _applied = True
    return True
