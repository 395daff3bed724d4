"""Every CrewAI private or internal API the platform uses, in one place.

**Re-check this module on every crewai upgrade.** Each item below reaches past CrewAI's
public surface; an upgrade may rename, move or change any of them without notice. The
speed-ups are applied only to the version they were measured with
(``CHECKED_CREWAI_VERSION``); the rest fails loudly at import if it moved.

1. ``crewai.llms.retry._active_llm_rate_limit_retry`` (context variable). CrewAI wraps every
   provider call in its own rate-limit retry (3 tries, sleeping) unless this flag says a
   retry owner is already active. The provider chain fails over instead and Temporal
   retries attempts (one retry layer, DESIGN §6): `without_crewai_retry()` sets it.
2. ``BaseLLM.call._crewai_rate_limit_wrapped`` (attribute marker). ``BaseLLM``'s
   ``__init_subclass__`` wraps a subclass's ``call`` in the same retry unless the method
   carries this marker: `owns_retries` sets it on the chain's ``call``.
3. ``crewai.llms.base_llm.call_stop_override`` (internal helper). Gives one native client
   the chain's stop words for one call without mutating the shared instance (re-exported
   here for the chain).
4. ``Crew._task_output_handler`` (pydantic private attribute) and
   ``crewai.utilities.task_output_storage_handler.TaskOutputStorageHandler``. CrewAI keeps
   "latest kickoff" outputs in one SQLite file per project for its ``replay`` CLI, reset by
   every kickoff: shared mutable state across a worker's concurrent steps. `StepCrew`
   swaps in a handler that keeps nothing (Temporal history and the store are the record).
5. ``crewai.flow.runtime.asyncio`` (module global). Each of the ~20 flow steps of CrewAI
   1.15's agent loop (``AgentExecutor`` is a Flow) is dispatched with
   ``asyncio.to_thread`` from a fresh event loop, and each ``asyncio.run`` builds and joins
   a new default thread pool. The hop lets a flow step call ``Agent.kickoff()``
   synchronously; a BizOS step never does (one agent, one task, sync tools and LLMs). So in
   the agent pool's threads (``bizos-agent*``) `apply_speedups` makes ``to_thread`` run the
   function inline; every other thread keeps CrewAI's behaviour.
6. ``AgentExecutor._initial_state_t``, ``AgentExecutorState`` and
   ``crewai.flow.runtime.FlowState``. The executor's state type is a plain model, so every
   executor builds a new ``StateWithId(FlowState, AgentExecutorState)`` class (~8 ms);
   `apply_speedups` builds it once and declares it as the executor's state type.
7. ``crewai_core.settings.DEFAULT_CONFIG_PATH`` (module global): CrewAI's settings file
   goes to ``~/.config/crewai/`` unless moved. Set in ``activities.crew.env``, not here,
   because it must happen before crewai is imported.

8. ``crewai.tools.structured_tool.format_description_for_llm`` and the same name imported
   into ``crewai.tools.base_tool`` (module globals). CrewAI renders every tool's description
   block (name, JSON schema of its arguments, text) on each of ~4 prompt renderings per step,
   and builds the schema with ``generate_model_description`` each time (~1 ms a tool). The
   block is a pure function of (name, args schema class, text), so `apply_speedups` memoises
   it in a bounded cache (the strings are immutable; no CrewAI object is shared).

Items 5 and 6 cut a two-tool step's framework time on the 2-core target from ~33 ms to
~20 ms (``bizos bench agent-step`` measures it); ``BIZOS_CREWAI_SPEEDUPS=0`` turns them all
off (the test suite passes either way); ``BIZOS_STEP_SPEEDUPS=0`` turns off only item 8
and the other changes of issue #14 (`activities.agent_step.tuning`), so the bench can print
before and after.
"""

from __future__ import annotations

import activities.crew.env  # noqa: F401  (must precede the first crewai import)

# isort: split

import asyncio
import functools
import logging
import os
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from crewai import Crew
from crewai.llms.base_llm import call_stop_override
from crewai.llms.retry import _active_llm_rate_limit_retry
from crewai.utilities.task_output_storage_handler import TaskOutputStorageHandler
from pydantic import PrivateAttr

from activities.agent_step.tuning import step_speedups

__all__ = [
    "CHECKED_CREWAI_VERSION",
    "StepCrew",
    "apply_speedups",
    "call_stop_override",
    "owns_retries",
    "without_crewai_retry",
]

CHECKED_CREWAI_VERSION = "1.15.30"
POOL_THREAD_PREFIX = "bizos-agent"

log = logging.getLogger(__name__)
_applied = False
F = TypeVar("F", bound=Callable[..., Any])


# ----------------------------------------------------------------- 1-3: one retry owner


@contextmanager
def without_crewai_retry() -> Iterator[None]:
    """Within this block CrewAI believes a rate-limit retry owner is active (item 1)."""
    token = _active_llm_rate_limit_retry.set(True)
    try:
        yield
    finally:
        _active_llm_rate_limit_retry.reset(token)


def owns_retries(call: F) -> F:
    """Mark a ``BaseLLM`` subclass's ``call`` so CrewAI does not wrap it in its retry
    (item 2)."""
    call._crewai_rate_limit_wrapped = True  # type: ignore[attr-defined]
    return call


# ----------------------------------------------------------------- 4: no replay store


class _NoTaskOutputStore(TaskOutputStorageHandler):
    """A kickoff-output handler that opens no storage and keeps nothing."""

    def __init__(self) -> None:  # no storage is opened
        pass

    def update(self, task_index: int, log: dict[str, Any]) -> None:
        pass

    def add(self, *args: Any, **kwargs: Any) -> None:
        pass

    def reset(self) -> None:
        pass

    def load(self) -> list[dict[str, Any]] | None:
        return []


class StepCrew(Crew):
    """A Crew without CrewAI's kickoff-output SQLite store (item 4)."""

    _task_output_handler: TaskOutputStorageHandler = PrivateAttr(default_factory=_NoTaskOutputStore)


# ----------------------------------------------------------------- 5-6: agent-loop speed-ups


class _FlowAsyncio(types.ModuleType):
    """``asyncio`` as the flow runtime sees it: the real module but for ``to_thread``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith(POOL_THREAD_PREFIX):
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)


def _cache_tool_descriptions() -> None:
    """Item 8: one rendering per (tool name, args schema class, text), 1,024 at most."""
    import crewai.tools.base_tool as base_tool
    import crewai.tools.structured_tool as structured_tool

    render = functools.lru_cache(maxsize=1024)(structured_tool.format_description_for_llm)
    structured_tool.format_description_for_llm = render  # type: ignore[assignment]
    base_tool.format_description_for_llm = render  # type: ignore[attr-defined]


def apply_speedups() -> bool:
    """Install items 5, 6 and 8 once per process; True when active."""
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
    if step_speedups("tooldesc"):
        _cache_tool_descriptions()
    _applied = True
    return True
