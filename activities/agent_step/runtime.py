"""What an agent worker process keeps for its whole life: the bounded thread pool CrewAI
runs in, the store (database engine), the validated catalog.

CrewAI's agent loop is synchronous (it even runs its own event loops inside): it runs in
this pool, never on the worker's event loop, so heartbeats, polls and other activities keep
moving. The pool bounds how many crews run at once; more concurrent steps wait their turn
(still heartbeating). Size the worker's ``max_concurrent_activities`` to about twice the
pool.

Construction is cheap and sync (the worker builds it before the Worker); crewai and the
tools are imported once, in a pool thread, by `start()` or the first step; the store opens
(and migrates) on first use. `close()` at shutdown.

The runtime hands itself to the step as its `StepHost`; the step module (crewai, tools) is
imported only inside the pool, never at this module's import.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from activities.agent_step import memory
from activities.agent_step.heartbeat import MAX_BEAT_S, heartbeating
from activities.agent_step.tuning import step_speedups
from activities.catalog import AgentCatalog, CatalogError, default_catalog

if TYPE_CHECKING:
    from activities.contract import AgentStepInput, AgentStepResult
    from store import Store, StoreSettings

DEFAULT_THREADS = 8
# After the last running step ends, wait this long for another before trimming the heap: a
# steady trickle of steps never pays for it, the end of a burst does once.
TRIM_AFTER_IDLE_S = 1.0
DEFAULT_HEARTBEAT_EVERY_S = MAX_BEAT_S  # the longest beat; shorter heartbeat timeouts beat faster
PIN_CACHE_SIZE = 10_000


def _load_crewai_and_tools() -> list[str]:
    """Runs in a pool thread: ~2-3 s of imports that must not block the event loop."""
    import activities.agent_step.step
    import activities.tools  # noqa: F401  (registers every tool)
    from activities.tools.registry import TOOLS

    return sorted(TOOLS)


class AgentRuntime:
    def __init__(
        self,
        *,
        threads: int | None = None,
        store: Store | None = None,
        store_settings: StoreSettings | None = None,
        catalog: AgentCatalog | None = None,
        heartbeat_every_s: float = DEFAULT_HEARTBEAT_EVERY_S,
        home: Path | None = None,
    ):
        self.threads = threads or int(os.environ.get("BIZOS_AGENT_THREADS", DEFAULT_THREADS))
        self._trims = step_speedups("trim")
        if self._trims:
            memory.limit_arenas()  # before the pool's threads exist
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="bizos-agent")
        self.catalog = catalog or default_catalog()  # validated here: worker start fails fast
        self.heartbeat_every_s = heartbeat_every_s
        self.home = home  # None: $BIZOS_HOME (read per step); scratch dirs under home/scratch
        self._store = store
        self._owns_store = store is None
        self._store_settings = store_settings
        self._store_lock = asyncio.Lock()
        self._loaded: asyncio.Future[list[str]] | None = None
        self._crews_lock = threading.Lock()
        self._active_crews = 0
        self.cancelled_steps = 0  # steps whose activity was cancelled while their crew ran
        self._pins: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._running_steps = 0
        self._trim_timer: asyncio.TimerHandle | None = None
        self.heap_trims = 0
        self._frozen = False

    @property
    def active_crews(self) -> int:
        """Crews running in the pool now (a cancelled step's crew counts until it stops)."""
        return self._active_crews

    def crew_started(self) -> None:
        with self._crews_lock:
            self._active_crews += 1

    def crew_finished(self) -> None:
        with self._crews_lock:
            self._active_crews -= 1

    async def start(self) -> None:
        """Open the store and import crewai + tools now rather than on the first step."""
        await self.store()
        await self.load()

    async def store(self) -> Store:
        if self._store is None:
            async with self._store_lock:
                if self._store is None:
                    from store import Store

                    self._store = await Store.open(self._store_settings)
        return self._store

    async def pinned_version(
        self, workflow_id: str, run_id: str, agent_id: str, tenant: str | None = None
    ) -> int:
        """The configuration version a run uses for an agent (0 = catalog defaults), from
        ``tenant``'s configurations. A pin never changes once written, so it is remembered
        here and the store is asked once per run and agent."""
        key = (workflow_id, run_id, agent_id)
        if key in self._pins:
            self._pins.move_to_end(key)
            return self._pins[key]
        version = await (await self.store()).pin_config_for_run(
            workflow_id, run_id, agent_id, tenant=tenant
        )
        self._pins[key] = version
        if len(self._pins) > PIN_CACHE_SIZE:
            self._pins.popitem(last=False)
        return version

    async def load(self) -> None:
        """Import the heavy modules once and check every catalog tool exists."""
        if self._loaded is None:
            loop = asyncio.get_running_loop()
            self._loaded = asyncio.ensure_future(
                loop.run_in_executor(self.pool, _load_crewai_and_tools)
            )
        known = await asyncio.shield(self._loaded)
        if not self._frozen and step_speedups("gcfreeze"):
            # Once, after the ~2-3 s of imports: the collector's full passes during steps
            # then skip the import-time objects (they live as long as the process anyway).
            self._frozen = True
            gc.collect()
            gc.freeze()
        problems = self.catalog.unknown_tools(set(known))
        if problems:
            raise CatalogError("catalog names tools the registry lacks:\n" + "\n".join(problems))

    async def run_step(self, inp: AgentStepInput) -> AgentStepResult:
        progress: dict[str, object] = {"phase": "loading"}
        self._step_began()
        try:
            async with heartbeating(progress, cap_s=self.heartbeat_every_s):
                await self.load()
                from activities.agent_step.step import run_crew_step  # loaded by `load()`

                return await run_crew_step(inp, self, progress)
        finally:
            self._step_ended()

    def _step_began(self) -> None:
        self._running_steps += 1
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None

    def _step_ended(self) -> None:
        self._running_steps -= 1
        if self._trims and self._running_steps == 0:
            loop = asyncio.get_running_loop()
            self._trim_timer = loop.call_later(TRIM_AFTER_IDLE_S, self._trim_when_idle, loop)

    def _trim_when_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        self._trim_timer = None
        if self._running_steps == 0 and self._active_crews == 0:
            self.heap_trims += 1
            # off the event loop: milliseconds on a big heap (the default executor, not the
            # crew pool, so a queued crew never waits behind it)
            loop.run_in_executor(None, memory.trim)

    async def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self._store is not None and self._owns_store:
            await self._store.close()
            self._store = None


_default: AgentRuntime | None = None


def default_runtime() -> AgentRuntime:
    """A process-wide runtime for callers that did not build one (it is never closed:
    workers should build their own and close it)."""
    global _default
    if _default is None:
        _default = AgentRuntime()
    return _default
