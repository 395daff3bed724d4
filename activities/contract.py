"""The `run_agent` activity contract: what a workflow sends to an agent step and gets back.

These models cross the Temporal boundary, so they stay small, plain pydantic and free of
heavy imports: the workflow sandbox imports this module (passed through).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RUN_AGENT = "run_agent"
"""Activity name every agent pool registers; the task queue picks the pool."""

INLINE_OUTPUT_LIMIT_BYTES = 64 * 1024
"""An output whose JSON is larger than this travels by reference (`output_ref`) instead of
inline, so a run's history stays far below Temporal's 2 MB payload / 50 MB history limits."""


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

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of this step: run + step (+ item)."""
        suffix = "" if self.item_index is None else f"#{self.item_index}"
        return f"{self.workflow_id}/{self.run_id}/{self.step_id}{suffix}"


class ToolCallRecord(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool = True
    duration_ms: float = 0.0
    summary: str = ""


class AgentStepResult(BaseModel):
    """What an agent step produced. Exactly one of `output` / `output_ref` carries the result."""

    output: Any = None
    output_ref: str | None = Field(
        default=None, description="store key of an output too big to travel inline"
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
