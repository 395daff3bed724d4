"""The `run_agent` activity contract: what a workflow sends to an agent step and gets back.

These models cross the Temporal boundary, so they stay small, plain pydantic and free of
heavy imports: the workflow sandbox imports this module (passed through).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

RUN_AGENT = "run_agent"
"""Activity name every agent pool registers; the task queue picks the pool."""

INLINE_OUTPUT_LIMIT_BYTES = 64 * 1024
"""An output whose JSON is larger than this travels by reference (`output_ref`) instead of
inline, so a run's history stays far below Temporal's 2 MB payload / 50 MB history limits."""

AGGREGATE_INLINE_BYTES = 512 * 1024
"""What all items of one `foreach` may carry inline together (each gets its share), and what
a run's result may carry inline before its outputs go by reference: aggregates stay far below
Temporal's 2 MB payload limit however many items they have."""

OUTPUT_VIEW_LIMIT_BYTES = 2 * 1024
"""The bounded summary of an output stored by reference that travels instead of it (what
`when:`/`with:` expressions can read without the activity resolving the reference)."""

MIN_VIEW_BYTES = 160
"""Room for the reference and a short summary, the least a view keeps."""

MAX_TOOL_CALL_RECORDS = 40
"""Tool calls a step result lists (the first and last halves; the rest are counted)."""

COMMENT_LIMIT = 4000
"""Characters of a person's comment a decision keeps (it travels in history and results)."""

REF_KEY = "$ref"


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def bounded_view(output: Any, ref: str, limit: int = OUTPUT_VIEW_LIMIT_BYTES) -> dict[str, Any]:
    """`{"$ref": ref, ...}` with as many of the output's fields as fit in `limit` bytes: the
    summary-like ones first, then the others in order, whole or not at all; the names of the
    fields left out under `$omitted`. Pure and deterministic: the workflow uses it too."""
    view: dict[str, Any] = {REF_KEY: ref}
    if not isinstance(output, dict):
        text = json.dumps(output, ensure_ascii=False, default=str)
        view["summary"] = text[: max(limit // 4, 40)]
        return view
    omitted: list[str] = []
    first = [k for k in ("summary", "headline", "title") if k in output]
    for key in first + [k for k in output if k not in first]:
        candidate = {**view, key: output[key]}
        if _json_size(candidate) <= limit - 64:
            view = candidate
        else:
            omitted.append(key)
    if omitted:
        view["$omitted"] = omitted
    return view


def is_output_ref(value: Any) -> bool:
    """A bounded view standing for an output stored by reference."""
    return isinstance(value, dict) and isinstance(value.get(REF_KEY), str)


class AgentStepInput(BaseModel):
    """One attempt of one agent step (one item of a `foreach`)."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str
    run_id: str
    template: str
    step_id: str
    item_index: int | None = None
    agent: str
    mode: str
    inputs: dict[str, Any] = Field(default_factory=dict, description="the step's rendered `with:`")
    tenant: str = "default"
    config_version: int | None = Field(
        default=None, description="agent configuration version the run pinned; None = active"
    )
    budget_usd: float | None = Field(
        default=None,
        ge=0,
        description="most this step may spend on model calls (all attempts); the agent stops "
        "with a non-retryable StepBudgetExceeded error once it has spent it. None = no cap",
    )

    budget_pool: str | None = Field(
        default=None,
        description="the run's pool of money (its root run: `<workflow_id>/<run_id>`); every "
        "model call of every step, item and child run reserves from it. None = no pool",
    )
    budget_cap_usd: float | None = Field(
        default=None,
        ge=0,
        description="the pool's cap as this step may use it (the run's budget plus what people "
        "approved past it); reservations never take the pool past it",
    )
    price_as: str | None = Field(
        default=None,
        description="`provider:model` whose prices the offline provider's token estimates are "
        "billed at (cost known before spending); None = $0",
    )
    inline_limit_bytes: int | None = Field(
        default=None,
        description="largest output JSON returned inline (a foreach item gets its share of "
        "the step's aggregate); larger goes by reference. None = INLINE_OUTPUT_LIMIT_BYTES",
    )
    view_limit_bytes: int | None = Field(
        default=None, description="size of the bounded view of an output sent by reference"
    )
    round: int = Field(
        default=0,
        ge=0,
        description="revise round of the step (0 = its first run); part of every key of its "
        "calls, so a re-run never gets an earlier round's answers back",
    )
    attempt_base: int = Field(
        default=0,
        ge=0,
        # left out when 0: inputs stay readable by workers from before the field
        exclude_if=lambda v: v == 0,
        description="attempts spent by earlier schedulings of this step (the workflow "
        "schedules it again when its worker was lost): its attempt is this + Temporal's",
    )

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of this step: run + step (+ item) (+ revise round)."""
        suffix = "" if self.item_index is None else f"#{self.item_index}"
        if self.round:
            suffix += f"@r{self.round}"
        return f"{self.workflow_id}/{self.run_id}/{self.step_id}{suffix}"


class ToolCallRecord(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool = True
    duration_ms: float = 0.0
    summary: str = ""
    error_type: str | None = Field(default=None, description="exception type of a failed call")
    retryable: bool | None = Field(
        default=None,
        description="failed call: could another attempt succeed (I/O, unexpected) or not "
        "(bad arguments, connector not configured); None when the call succeeded",
    )


class AgentStepResult(BaseModel):
    """What an agent step produced. Exactly one of `output` / `output_ref` carries the result."""

    output: Any = None
    output_ref: str | None = Field(
        default=None, description="store key of an output too big to travel inline"
    )
    output_view: dict[str, Any] | None = Field(
        default=None,
        description="with output_ref: the output's bounded view (`bounded_view`) that "
        "expressions read",
    )
    output_sha256: str | None = Field(
        default=None, description="with output_ref: the stored output's content hash"
    )
    summary: str = Field(default="", description="one line for progress views and the Web UI")
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    provider: str = ""
    model: str = ""
    duration_ms: float = 0.0
    attempt: int = 1
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    calls: int = Field(default=0, description="model calls answered in this attempt")
    reused_calls: int = Field(
        default=0, description="of those, answers reused from the call journal (already paid)"
    )
    config_version: int | None = Field(
        default=None, description="agent configuration version used; None = catalog defaults"
    )
    tool_ms: float = Field(default=0.0, description="time spent inside tools")
    tool_failures: int = Field(
        default=0,
        description="failed calls of tools that never succeeded afterwards: work the answer "
        "was written without (a step that could not get past them fails instead)",
    )
    failed_tools: list[str] = Field(default_factory=list, description="those tools, by name")
    tool_calls_omitted: int = Field(
        default=0,
        description="tool calls left out of `tool_calls` (only the first and last "
        "MAX_TOOL_CALL_RECORDS/2 are listed: the result travels in history)",
    )
    budget_alerts: list[int] = Field(
        default_factory=list,
        description="with budget_pool: the thresholds (75, 90, 100 % of the cap) the pool's "
        "spending has crossed so far, by any step, item or child run of the run",
    )
    pool_spent_usd: float | None = Field(
        default=None,
        description="with budget_pool: what the pool has spent when this step ended (settled "
        "bills + reservations of dead attempts, charged in full); None = no pool",
    )

    @model_validator(mode="after")
    def _bounded_tool_log(self) -> AgentStepResult:
        extra = len(self.tool_calls) - MAX_TOOL_CALL_RECORDS
        if extra > 0:
            half = MAX_TOOL_CALL_RECORDS // 2
            self.tool_calls = self.tool_calls[:half] + self.tool_calls[-half:]
            self.tool_calls_omitted += extra
        return self
