"""One agent step: catalog entry + mode + pinned configuration version → a real CrewAI crew
on the provider chain (or the offline policy) → a validated `AgentStepResult`.

The crew runs in the host's bounded thread pool (the caller heartbeats meanwhile, see
`activities.agent_step.heartbeat`); when the activity is cancelled, the step's cancel flag is
raised so the agent loop stops at its next model or tool call. An answer written without tools that
failed fails the step, or reports them (`tool_failures`). Each attempt's tools work in a private
scratch directory; files travel in and out as ``blob://`` refs (`activities.agent_step.files`).
Outputs bigger than the step's inline limit go to the store and travel as ``output_ref``
with a bounded view (activities.agent_step.outputs). While Vault or the database is
unreachable, the step waits and runs again inside its attempt, heartbeating why, instead of
spending the step's retries (activities.agent_step.outages).
"""

from __future__ import annotations

import activities.crew.env  # noqa: F401  (must precede the first crewai import)

# isort: split

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from crewai.crews.crew_output import CrewOutput

from activities.agent_step import live_events
from activities.agent_step.answer import parse_output
from activities.agent_step.budget import open_run_budget, pooled, report_pool
from activities.agent_step.errors import (
    AgentInputInvalid,
    AgentOutputInvalid,
    break_cause_cycles,
    to_application_error,
)
from activities.agent_step.files import StepFiles
from activities.agent_step.journal import StoreCallJournal
from activities.agent_step.keys import scratch_root, step_attempt, step_key
from activities.agent_step.outages import OutageWaits, attempt_deadline, outage_of
from activities.agent_step.outputs import deliver, resolve_inputs
from activities.agent_step.tool_failures import ToolFailures, check_tool_failures
from activities.catalog.agent_config import AgentConfig, max_tokens
from activities.catalog.catalog import AgentCatalog, AgentSpec
from activities.contract import AgentStepInput, AgentStepResult
from activities.crew.builder import build_crew
from activities.crew.toolbox import StepToolbox
from activities.providers.chain import ChainLLM
from activities.providers.credentials import is_configured
from activities.providers.estimates import offline_pricing
from activities.providers.offline import OFFLINE_MODEL, OFFLINE_PROVIDER, OfflineLLM
from activities.providers.prices import NANOS_PER_USD
from activities.providers.resolve import ResolvedChain, resolve_chain
from activities.providers.step_context import StepContext

if TYPE_CHECKING:
    from crewai.llms.base_llm import BaseLLM

    from activities.catalog.output_models import AgentOutput
    from activities.contract import ToolCallRecord
    from store import Store


T = TypeVar("T")


class StepHost(Protocol):
    """What a step needs from the process it runs in (`AgentRuntime` is one): the step never
    imports the runtime, the runtime hands itself in."""

    cancelled_steps: int

    @property
    def catalog(self) -> AgentCatalog: ...

    @property
    def pool(self) -> Executor: ...

    @property
    def home(self) -> Path | None: ...

    async def store(self) -> Store: ...

    async def pinned_version(
        self, workflow_id: str, run_id: str, agent_id: str, tenant: str | None = None
    ) -> int: ...

    def crew_started(self) -> None: ...

    def crew_finished(self) -> None: ...


def _check_inputs(agent: AgentSpec, mode: str, inputs: dict[str, Any]) -> None:
    if mode not in agent.modes:
        raise AgentInputInvalid(
            f"agent {agent.id!r} has no mode {mode!r}; its modes: {', '.join(agent.modes)}"
        )
    tone = inputs.get("tone")
    if agent.tones and tone is not None and tone not in agent.tones:
        raise AgentInputInvalid(
            f"tone {tone!r} is not one of {agent.id}'s tones: {', '.join(agent.tones)}"
        )


def _temperature(agent: AgentSpec, mode: str, config: AgentConfig | None) -> float:
    if config is not None:
        for value in (config.mode(mode).temperature, config.temperature):
            if value is not None:
                return value
    mode_t = agent.modes[mode].temperature
    return mode_t if mode_t is not None else agent.temperature


def _run_crew(
    agent: AgentSpec,
    mode: str,
    inputs: dict[str, Any],
    config: AgentConfig | None,
    chain: ResolvedChain,
    ctx: StepContext,
    open_files: Callable[[], StepFiles],
) -> tuple[str, list[ToolCallRecord], BaseLLM]:
    """In a pool thread: build the crew, run CrewAI's loop, return the final answer text
    (and the LLM, for a corrective re-ask). The attempt's scratch directory lives exactly as
    long as the crew (even when the activity is cancelled and the crew runs on to its next
    call)."""
    spec = agent.modes[mode]
    family = spec.output or "report"
    # A configuration version may switch tools off; the offline plan skips them too.
    names = config.tools(agent, mode) if config is not None else agent.mode_tools(mode)
    llm: BaseLLM
    if chain.offline:
        llm = OfflineLLM.build(
            plan=[(step.tool, step.args) for step in spec.offline_plan if step.tool in names],
            inputs=inputs,
            family=family,
            agent_name=agent.name or agent.id,
            mode=mode,
            mode_description=spec.description,
            ctx=ctx,
        )
    else:
        llm = ChainLLM.build(
            chain.links,
            ctx,
            temperature=_temperature(agent, mode, config),
            max_tokens=max_tokens(agent, mode, config),
        )
    with open_files() as files:
        toolbox = StepToolbox(files, ctx)
        tools = toolbox.crew_tools(names)
        crew = build_crew(agent, mode, inputs, llm=llm, tools=tools, config=config)
        result = crew.kickoff()
    if not isinstance(result, CrewOutput):  # streaming output: never requested here
        raise TypeError(f"unexpected CrewAI result {type(result).__name__}")
    return str(result.raw), toolbox.records, llm


def _counted(host: StepHost, fn: Callable[..., T], *args: Any) -> T:
    host.crew_started()
    try:
        return fn(*args)
    finally:
        host.crew_finished()


async def _in_pool(host: StepHost, ctx: StepContext, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` (CrewAI work) on the host's pool; a cancelled activity stops it at its next
    model or tool call."""
    # run_in_executor does not carry context variables into the pool thread (asyncio.to_thread
    # does): copy them, so the crew's log lines keep their run and step ids and its model-call
    # spans are children of the activity's span.
    job = asyncio.get_running_loop().run_in_executor(
        host.pool, contextvars.copy_context().run, _counted, host, fn, *args
    )
    try:
        return await job
    except asyncio.CancelledError:
        ctx.cancel.set()  # the crew stops at its next model or tool call
        job.add_done_callback(_forget)  # its StepCancelled is expected, not news
        host.cancelled_steps += 1
        raise


async def _validated(
    raw: str,
    family: str,
    llm: BaseLLM,
    host: StepHost,
    ctx: StepContext,
    progress: dict[str, Any],
) -> AgentOutput:
    """The final answer as the mode's output model. An answer that does not fit gets ONE
    corrective re-ask with the validation error (a model call like any other: journalled,
    billed, reserved from the run's pool); a second misfit fails the step."""
    try:
        return parse_output(raw, family)
    except AgentOutputInvalid as first:
        if not isinstance(llm, ChainLLM):  # the offline policy answers alike every time
            raise
        progress["phase"] = "corrective re-ask"
        again = await _in_pool(host, ctx, llm.reask, str(first), family)
        try:
            return parse_output(again, family)
        except AgentOutputInvalid as second:
            raise AgentOutputInvalid(
                f"{second} (after one corrective re-ask; before it: {first})"
            ) from None


async def run_crew_step(
    inp: AgentStepInput, host: StepHost, progress: dict[str, Any] | None = None
) -> AgentStepResult:
    """Run the step on ``host``'s pool and store; ``progress`` is what the caller's
    heartbeats report (updated here). Its live events (tool calls, agent messages) go to the
    store as they happen, for the console (`activities.agent_step.live_events`)."""
    attempt = step_attempt(inp)
    progress = progress if progress is not None else {}
    async with live_events.recording(inp, host.store, attempt=attempt) as live:
        result = await _riding_outages(inp, host, progress, attempt, live)
        live.finished(
            {
                "summary": result.summary,
                "tool_calls": len(result.tool_calls),
                "failed_tools": result.failed_tools,
                "provider": result.provider,
                "model": result.model,
                "cost_usd": result.cost_usd,
            }
        )
    return result


async def _riding_outages(
    inp: AgentStepInput,
    host: StepHost,
    progress: dict[str, Any],
    attempt: int,
    live: live_events.StepRecorder,
) -> AgentStepResult:
    """The step body, run again in this attempt while a dependency it needs (Vault, the
    database) is unreachable, heartbeating why, up to the wait's bound; then its error goes
    to Temporal as before (`activities.agent_step.outages`)."""
    started = time.perf_counter()
    waits: OutageWaits | None = None
    rerun = False
    while True:
        try:
            return await _run_crew_step(inp, host, progress, attempt, started, rerun=rerun)
        except Exception as exc:
            outage = outage_of(exc)
            if outage is None:
                raise
            if waits is None:
                waits = OutageWaits(
                    progress,
                    deadline=attempt_deadline(),
                    on_wait=lambda _, details: live.record("step_waiting", details),
                )
            if not await waits.wait(outage):
                raise
            rerun = True


async def _run_crew_step(
    inp: AgentStepInput,
    host: StepHost,
    progress: dict[str, Any],
    attempt: int,
    started: float,
    *,
    rerun: bool = False,
) -> AgentStepResult:
    where = f"agent {inp.agent}, mode {inp.mode}, step {step_key(inp)}"
    ctx = StepContext(tenant=inp.tenant)
    try:
        try:
            agent = host.catalog.get(inp.agent)
        except KeyError as e:
            raise AgentInputInvalid(str(e).strip("'\"")) from None
        _check_inputs(agent, inp.mode, inp.inputs)
        store = await host.store()
        inputs = await resolve_inputs(inp.inputs, host.store)
        version = inp.config_version
        if version is None:
            version = await host.pinned_version(inp.workflow_id, inp.run_id, agent.id, inp.tenant)
        config = None
        if version:
            stored = await store.config_version(agent.id, version, tenant=inp.tenant)
            config = AgentConfig.model_validate(stored.body)
        # Which links have keys (the tenant's or the platform's) may ask Vault: it blocks,
        # so off the event loop.
        chain = await asyncio.to_thread(
            resolve_chain,
            agent,
            inp.mode,
            config,
            configured=functools.partial(is_configured, tenant=inp.tenant),
        )
        if inp.price_as:
            # An estimate: the offline policy whatever keys are set, its calls priced.
            ctx.pricing = offline_pricing(inp.price_as, agent, inp.mode, config)
            chain = chain.model_copy(
                update={"links": [], "offline": True, "offline_reason": "price_as"}
            )
        # Offline calls are in the ledger too (their estimates, $0 unless priced).
        ctx.journal = StoreCallJournal(
            store,
            asyncio.get_running_loop(),
            tenant=inp.tenant,
            workflow_id=inp.workflow_id,
            run_id=inp.run_id,
            step_key=step_key(inp),
            attempt=attempt,
            agent=agent.id,
            mode=inp.mode,
        )
        if inp.budget_usd is not None:
            prior = await store.ledger_totals(inp.workflow_id, inp.run_id, step_key(inp))
            ctx.budget_nanos = round(inp.budget_usd * NANOS_PER_USD)
            ctx.prior_nanos = prior.usd_nanos
        if pooled(inp):
            # Every model call of the attempt reserves its worst case from the run's pool.
            ctx.run_budget = await open_run_budget(
                inp, store, step_key=step_key(inp), attempt=attempt, rerun=rerun
            )
        progress["phase"] = "agent loop"
        raw, tool_calls, llm = await _in_pool(
            host,
            ctx,
            _run_crew,
            agent,
            inp.mode,
            inputs,
            config,
            chain,
            ctx,
            functools.partial(
                StepFiles.open,
                store,
                asyncio.get_running_loop(),
                tenant=inp.tenant,
                workflow_id=inp.workflow_id,
                run_id=inp.run_id,
                root=scratch_root(host.home),
                cancel=ctx.cancel,
            ),
        )
        # Before the answer is read: when it was written without work that failed, that
        # failure is the news, whatever the answer looks like.
        failures = check_tool_failures(tool_calls, offline=chain.offline)
        family = agent.modes[inp.mode].output or "report"
        answer = await _validated(raw, family, llm, host, ctx, progress)
        output = answer.model_dump(mode="json")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise to_application_error(exc, where) from break_cause_cycles(exc)

    result = AgentStepResult(
        summary=_summary(inp, output, chain, failures),
        attempt=attempt,
        tool_calls=tool_calls,
        tool_failures=failures.failed_calls,
        failed_tools=failures.tools,
        calls=ctx.usage.billed_calls + ctx.usage.reused_calls,
        reused_calls=ctx.usage.reused_calls,
        config_version=version or None,
        tool_ms=round(ctx.tool_ms, 3),
    )
    # What the step cost across all its attempts (a retry reuses paid calls, and the
    # workflow's budget only ever sees this result); offline: its estimates, $0 unless priced.
    totals = await store.ledger_totals(inp.workflow_id, inp.run_id, step_key(inp))
    if chain.offline:
        result.provider, result.model = OFFLINE_PROVIDER, OFFLINE_MODEL
    else:
        result.provider, result.model = ctx.usage.provider, ctx.usage.model
    result.tokens_in, result.tokens_out = totals.tokens_in, totals.tokens_out
    result.cost_usd = totals.usd
    await report_pool(result, inp, store)
    await deliver(result, output, inp, host.store)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


def _forget(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _summary(
    inp: AgentStepInput, output: dict[str, Any], chain: ResolvedChain, failures: ToolFailures
) -> str:
    via = "offline policy" if chain.offline else "providers"
    if chain.offline and inp.price_as:
        via += f", priced as {inp.price_as}"
    text = str(output.get("summary", ""))[:180]
    return f"{inp.agent}/{inp.mode} ({via}): {text}{failures.note()}"
