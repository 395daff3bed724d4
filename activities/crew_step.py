"""One agent step: catalog entry + mode + pinned configuration version → a real CrewAI crew
on the provider chain (or the offline policy) → a validated `AgentStepResult`.

The crew runs in the runtime's bounded thread pool (the caller heartbeats meanwhile, see
`activities.heartbeat`); when the activity is cancelled, the step's cancel flag is raised so
the agent loop stops at its next model or tool call. Outputs bigger than
``INLINE_OUTPUT_LIMIT_BYTES`` go to the store and travel as ``output_ref``.
"""

from __future__ import annotations

import activities.crewai_env  # noqa: F401  (must precede the first crewai import)

# isort: split

import asyncio
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crewai.crews.crew_output import CrewOutput
from pydantic import ValidationError
from temporalio import activity

from activities.agent_config import AgentConfig
from activities.catalog import AgentSpec
from activities.contract import INLINE_OUTPUT_LIMIT_BYTES, AgentStepInput, AgentStepResult
from activities.crew_builder import build_crew
from activities.crew_tools import StepToolbox
from activities.output_models import AgentOutput, output_model
from activities.providers.chain import ChainLLM
from activities.providers.offline import OFFLINE_MODEL, OFFLINE_PROVIDER, OfflineLLM
from activities.providers.prices import NANOS_PER_USD
from activities.providers.resolve import ResolvedChain, resolve_chain
from activities.providers.step_context import StepContext
from activities.step_errors import (
    AgentInputInvalid,
    AgentOutputInvalid,
    break_cause_cycles,
    to_application_error,
)
from activities.step_journal import StoreCallJournal
from store.settings import bizos_home

if TYPE_CHECKING:
    from crewai.llms.base_llm import BaseLLM

    from activities.agent_runtime import AgentRuntime
    from activities.contract import ToolCallRecord

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9_.#=-]+")


def step_key(inp: AgentStepInput) -> str:
    return inp.step_id if inp.item_index is None else f"{inp.step_id}#{inp.item_index}"


def artifacts_dir(inp: AgentStepInput, home: Path | None = None) -> Path:
    """``$BIZOS_HOME/artifacts/<workflow_id>/<step_id>/`` (ids made path-safe)."""
    return (
        (home or bizos_home())
        / "artifacts"
        / _UNSAFE_PATH.sub("_", inp.workflow_id)
        / _UNSAFE_PATH.sub("_", step_key(inp))
    )


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


def parse_output(raw: str, family: str) -> AgentOutput:
    """The final answer as the mode's output model (code fences and prose around the JSON
    object are tolerated; anything else is `AgentOutputInvalid`)."""
    text = _FENCE.sub("", raw.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        raise AgentOutputInvalid(
            f"the final answer is not a JSON object for the {family!r} output model: {raw[:300]!r}"
        )
    try:
        return output_model(family).model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        raise AgentOutputInvalid(
            f"the final answer does not fit the {family!r} output model: {problems}"
        ) from None


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
    out_dir: Path,
) -> tuple[str, list[ToolCallRecord]]:
    """In a pool thread: build the crew, run CrewAI's loop, return the final answer text."""
    spec = agent.modes[mode]
    family = spec.output or "report"
    llm: BaseLLM
    if chain.offline:
        llm = OfflineLLM.build(
            plan=[(step.tool, step.args) for step in spec.offline_plan],
            inputs=inputs,
            family=family,
            agent_name=agent.name or agent.id,
            mode=mode,
            mode_description=spec.description,
            ctx=ctx,
        )
    else:
        llm = ChainLLM.build(chain.links, ctx, temperature=_temperature(agent, mode, config))
    toolbox = StepToolbox(out_dir, ctx)
    tools = toolbox.crew_tools(agent.mode_tools(mode))
    crew = build_crew(agent, mode, inputs, llm=llm, tools=tools, config=config)
    result = crew.kickoff()
    if not isinstance(result, CrewOutput):  # streaming output: never requested here
        raise TypeError(f"unexpected CrewAI result {type(result).__name__}")
    return str(result.raw), toolbox.records


def _counted_run_crew(runtime: AgentRuntime, *args: Any) -> tuple[str, list[ToolCallRecord]]:
    runtime.crew_started()
    try:
        return _run_crew(*args)
    finally:
        runtime.crew_finished()


async def run_crew_step(
    inp: AgentStepInput, runtime: AgentRuntime | None = None, progress: dict[str, Any] | None = None
) -> AgentStepResult:
    """Run the step; ``progress`` is what the caller's heartbeats report (updated here)."""
    progress = progress if progress is not None else {}
    if runtime is None:
        from activities.agent_runtime import default_runtime

        runtime = default_runtime()
    started = time.perf_counter()
    attempt = activity.info().attempt
    where = f"agent {inp.agent}, mode {inp.mode}, step {step_key(inp)}"
    ctx = StepContext()
    try:
        try:
            agent = runtime.catalog.get(inp.agent)
        except KeyError as e:
            raise AgentInputInvalid(str(e).strip("'\"")) from None
        _check_inputs(agent, inp.mode, inp.inputs)
        store = await runtime.store()
        version = inp.config_version
        if version is None:
            version = await runtime.pinned_version(inp.workflow_id, inp.run_id, agent.id)
        config = None
        if version:
            stored = await store.config_version(agent.id, version)
            config = AgentConfig.model_validate(stored.body)
        chain = resolve_chain(agent, inp.mode, config)
        if not chain.offline:
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
        job = asyncio.get_running_loop().run_in_executor(
            runtime.pool,
            _counted_run_crew,
            runtime,
            agent,
            inp.mode,
            inp.inputs,
            config,
            chain,
            ctx,
            artifacts_dir(inp, runtime.home),
        )
        progress["phase"] = "agent loop"
        try:
            raw, tool_calls = await job
        except asyncio.CancelledError:
            ctx.cancel.set()  # the crew stops at its next model or tool call
            job.add_done_callback(_forget)  # its StepCancelled is expected, not news
            runtime.cancelled_steps += 1
            raise
        family = agent.modes[inp.mode].output or "report"
        output = parse_output(raw, family).model_dump(mode="json")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise to_application_error(exc, where) from break_cause_cycles(exc)

    result = AgentStepResult(
        summary=_summary(inp, output, chain),
        attempt=attempt,
        tool_calls=tool_calls,
        calls=ctx.usage.billed_calls + ctx.usage.reused_calls,
        reused_calls=ctx.usage.reused_calls,
        config_version=version or None,
        tool_ms=round(ctx.tool_ms, 3),
    )
    if chain.offline:
        result.provider, result.model = OFFLINE_PROVIDER, OFFLINE_MODEL
        result.tokens_in, result.tokens_out = ctx.usage.tokens_in, ctx.usage.tokens_out
    else:
        # What the step cost across all its attempts (a retry reuses paid calls, and the
        # workflow's budget only ever sees this result).
        totals = await store.ledger_totals(inp.workflow_id, inp.run_id, step_key(inp))
        result.provider, result.model = ctx.usage.provider, ctx.usage.model
        result.tokens_in, result.tokens_out = totals.tokens_in, totals.tokens_out
        result.cost_usd = totals.usd
    body = json.dumps(output, ensure_ascii=False, separators=(",", ":"))
    if len(body.encode()) > INLINE_OUTPUT_LIMIT_BYTES:
        result.output_ref = await store.put_output(
            ref_key=f"{inp.idempotency_key}/a{attempt}",
            workflow_id=inp.workflow_id,
            run_id=inp.run_id,
            step_key=step_key(inp),
            body=body,
        )
    else:
        result.output = output
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


def _forget(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _summary(inp: AgentStepInput, output: dict[str, Any], chain: ResolvedChain) -> str:
    via = "offline policy" if chain.offline else "providers"
    return f"{inp.agent}/{inp.mode} ({via}): {str(output.get('summary', ''))[:180]}"
