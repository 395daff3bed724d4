"""The ``offline`` provider: a deterministic policy, not a language model.

It lets an agent run with no provider keys and no network (demo, tests, air-gapped use)
through CrewAI's *real* agent loop: CrewAI builds the prompt, parses the ReAct text this
policy writes, runs the tools and feeds their results back, exactly as with a model. The
policy itself only follows the mode's ``offline_plan`` from the catalog:

* while plan steps remain, it answers ``Action: <tool>`` / ``Action Input: {json}`` with the
  step input merged under the plan step's arguments;
* then it reads every observation back from the conversation and answers
  ``Final Answer: {json}`` — the mode's output model built from those tool results
  (`offline_answer.build_answer`), so the output changes when the input does.

Token counts are estimates (4 characters a token). Each call writes one ledger row
(provider ``offline``, model ``offline-policy``, keyed like a real call by run, step, attempt
and request) priced at $0, or — when the step has ``price_as`` — at that model's listed
price, recorded as ``priced_as``: the cost of the run known before a cent is spent. An
attempt's rows are written in one transaction with its final answer (each at once when it
draws on the run's budget pool). The call journal is not written (nothing to reuse: the
policy replays identically on retry).
"""

from __future__ import annotations

import activities.crew.env  # noqa: F401  (must precede the first crewai import)

# isort: split

import json
import math
import re
from typing import Any

from crewai.llms.base_llm import BaseLLM
from pydantic import BaseModel, PrivateAttr

from activities.agent_step.errors import AgentInputInvalid
from activities.providers import call_spans
from activities.providers.chain import normalize_messages, request_hash
from activities.providers.offline_answer import ToolResult, build_answer
from activities.providers.prices import cost_nanos
from activities.providers.step_context import OfflineCall, StepContext

OFFLINE_PROVIDER = "offline"
OFFLINE_MODEL = "offline-policy"
CHARS_PER_TOKEN = 4
# `{topic}` reads the step input; `{content_draft.draft_path}` (or `.artifacts.0`) reads the
# result of an earlier tool of the same plan, as the agent saw it in the conversation.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
_MISSING = object()
_ACTION = re.compile(
    r"Action:\s*(?P<tool>[A-Za-z0-9_]+)\s*\n"
    r"Action Input:\s*(?P<args>.*?)\n"
    r"Observation:\s*(?P<obs>.*)",
    re.DOTALL,
)


_DECODER = json.JSONDecoder()


class NoToolsEnabled(AgentInputInvalid):
    """The offline policy has no tool it may call: the agent configuration switched off every
    tool of the mode's offline plan."""


class PlannedCall(BaseModel):
    tool: str
    args: dict[str, Any]


def _lookup(name: str, inputs: dict[str, Any], results: dict[str, Any]) -> Any:
    if "." not in name:
        return inputs.get(name, _MISSING)
    tool, *path = name.split(".")
    value: Any = results.get(tool, _MISSING)
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def render_args(
    template: Any, inputs: dict[str, Any], results: dict[str, Any] | None = None
) -> Any:
    """``"{topic}"`` takes the input's value with its type; placeholders inside a longer
    string interpolate (a missing input leaves the placeholder's name there).
    ``"{tool.field}"`` takes a field of an earlier tool's result. A whole placeholder whose
    value is missing — an input the step was not given, a tool that failed or lacks the
    field — leaves the argument (or list item) out (`_MISSING`), so the tool falls back to
    its own default rather than receiving the placeholder's name, a string, where it may
    expect a list or a number."""
    results = results or {}
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return _lookup(whole.group(1), inputs, results)

        def text(m: re.Match[str]) -> str:
            value = _lookup(m.group(1), inputs, results)
            return m.group(1) if value is _MISSING else str(value)

        return _PLACEHOLDER.sub(text, template)
    if isinstance(template, list):
        items = [render_args(v, inputs, results) for v in template]
        kept = [v for v in items if v is not _MISSING]
        return kept if kept or not items else _MISSING
    if isinstance(template, dict):
        rendered = {k: render_args(v, inputs, results) for k, v in template.items()}
        return {k: v for k, v in rendered.items() if v is not _MISSING}
    return template


def next_call(
    plan: list[tuple[str, dict[str, Any]]], inputs: dict[str, Any], done: list[ToolResult]
) -> PlannedCall:
    """The plan's next tool call, its arguments rendered from the step input and the results
    of the calls already made (read back from the conversation, as an agent would)."""
    tool, args = plan[len(done)]
    results = {r.tool: r.data for r in done if r.ok and r.data is not None}
    return PlannedCall(tool=tool, args={**inputs, **render_args(args, inputs, results)})


def read_observations(messages: list[dict[str, Any]]) -> list[ToolResult]:
    """Tool calls and their results, in order, from the assistant turns CrewAI recorded."""
    results = []
    for message in messages:
        if message.get("role") != "assistant":
            continue
        match = _ACTION.search(str(message.get("content", "")))
        if not match:
            continue
        tool, observation = match.group("tool"), match.group("obs").strip()
        try:
            # CrewAI may append its format reminder after a tool result: read the leading
            # JSON value and ignore what follows.
            data, _ = _DECODER.raw_decode(observation)
        except json.JSONDecodeError:
            results.append(ToolResult(tool=tool, ok=False, error=observation))
            continue
        if isinstance(data, dict) and "error" in data and len(data) <= 2:
            results.append(ToolResult(tool=tool, ok=False, error=str(data["error"])))
        elif isinstance(data, dict):
            results.append(ToolResult(tool=tool, ok=True, data=data))
        else:
            results.append(ToolResult(tool=tool, ok=True, data={"headline": str(data)}))
    return results


class OfflineLLM(BaseLLM):
    """Build with `OfflineLLM.build(...)`; one instance per step attempt."""

    llm_type: str = "bizos_offline"
    model: str = OFFLINE_MODEL
    provider: str = OFFLINE_PROVIDER

    _plan: list[tuple[str, dict[str, Any]]] = PrivateAttr(default_factory=list)
    _inputs: dict[str, Any] = PrivateAttr(default_factory=dict)
    _answer_args: dict[str, Any] = PrivateAttr(default_factory=dict)
    _ctx: StepContext = PrivateAttr(default_factory=StepContext)
    _pending: list[OfflineCall] = PrivateAttr(default_factory=list)  # ledger rows to write

    @classmethod
    def build(
        cls,
        *,
        plan: list[tuple[str, dict[str, Any]]],
        inputs: dict[str, Any],
        family: str,
        agent_name: str,
        mode: str,
        mode_description: str,
        ctx: StepContext,
    ) -> OfflineLLM:
        if not plan:
            raise NoToolsEnabled(
                f"agent {agent_name} (mode {mode}) has no tools enabled: its configuration "
                "switches off every tool of the mode's offline plan, and the offline policy "
                "answers only from tool results; switch at least one of them back on"
            )
        llm = cls(model=OFFLINE_MODEL)
        llm._plan = list(plan)
        llm._inputs = dict(inputs)
        llm._answer_args = {
            "family": family,
            "agent_name": agent_name,
            "mode": mode,
            "mode_description": mode_description,
            "inputs": inputs,
        }
        llm._ctx = ctx
        return llm

    def supports_function_calling(self) -> bool:
        return False  # the ReAct text protocol: the loop CrewAI runs for text models

    def supports_stop_words(self) -> bool:
        return True

    def get_context_window_size(self) -> int:
        # Tool results are read back from the conversation; a small window would make
        # CrewAI summarise or defer them.
        return 1_000_000

    def get_input_tokens_count(
        self, messages: Any, tools: Any = None, response_model: Any = None
    ) -> int:
        return _tokens(_texts(messages))

    @call_spans.traced(in_process=True)  # one span per policy call, like a model call's
    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        ctx = self._ctx
        try:
            ctx.check_cancelled()
            if ctx.pricing.priced_as is not None:
                ctx.check_budget()  # priced estimates count against the step's cap like bills
        except Exception:
            self._flush()  # the calls already made stay on record
            raise
        conversation = (
            [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
        )
        results = read_observations(conversation)
        final = len(results) >= len(self._plan)
        if not final:
            step = next_call(self._plan, self._inputs, results)
            reply = (
                f"Thought: Step {len(results) + 1} of the plan runs {step.tool}.\n"
                f"Action: {step.tool}\n"
                f"Action Input: {json.dumps(step.args, sort_keys=True, default=str)}"
            )
        else:
            answer = build_answer(results=results, **self._answer_args)
            reply = (
                "Thought: I now know the final answer\n"
                f"Final Answer: {json.dumps(answer, ensure_ascii=False, default=str)}"
            )
        tokens_in, tokens_out = _tokens(_texts(conversation)), _tokens(reply)
        nanos = cost_nanos(ctx.pricing.price, tokens_in, tokens_out)
        digest = request_hash(normalize_messages(messages), list(self.stop_sequences))
        index = ctx.next_call_index(digest)
        call_spans.request(
            call_index=index,
            request_hash=digest,
            messages=conversation,
            provider=OFFLINE_PROVIDER,
            model=OFFLINE_MODEL,
        )
        # A priced estimate draws on the run's pool like a bill (its exact cost is its worst
        # case: known before the answer is given), so an estimate stops where a run would.
        pool = ctx.run_budget if nanos else None
        if pool is not None:
            call_spans.reserved(nanos)
            pool.reserve(digest, index, nanos)  # or RunBudgetExhausted
        self._pending.append(
            OfflineCall(
                request_hash=digest,
                call_index=index,
                provider=OFFLINE_PROVIDER,
                model=OFFLINE_MODEL,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                usd_nanos=nanos,
                priced_as=ctx.pricing.priced_as,
            )
        )
        if final or pool is not None:
            # One transaction per attempt (the final answer is its last call) rather than
            # one per call: the rows are a record nothing reads before the step ends. A
            # call held in the run's pool is written before its reservation settles.
            self._flush()
        if pool is not None:
            pool.settle(digest, index, nanos)
        ctx.usage.billed_calls += 1
        ctx.usage.add(OFFLINE_PROVIDER, OFFLINE_MODEL, tokens_in, tokens_out, nanos)
        call_spans.answered(
            OFFLINE_PROVIDER,
            OFFLINE_MODEL,
            tokens_in,
            tokens_out,
            nanos,
            priced_as=ctx.pricing.priced_as,
        )
        return reply

    call._crewai_rate_limit_wrapped = True  # type: ignore[attr-defined]

    def _flush(self) -> None:
        if self._pending and self._ctx.journal is not None:
            self._ctx.journal.record_estimates(self._pending)
        self._pending = []


def _texts(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    return "".join(str(m.get("content", "")) for m in messages)


def _tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)
