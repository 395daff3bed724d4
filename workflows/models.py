"""Inputs and outputs of the DAG workflow and its handlers: one pydantic model each."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

WORKFLOWS_TASK_QUEUE = "bizos-workflows"
SPEC_MEMO_KEY = "bizos_spec"

StepStatus = Literal["pending", "running", "waiting", "succeeded", "rejected", "failed", "skipped"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "rejected", "failed", "skipped"})


class RunInput(BaseModel):
    """How every client starts a template: CLI, `temporal workflow start`, schedules, HTTP."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    budget_usd: float | None = Field(default=None, gt=0, description="overrides the spec's cap")


class Decision(BaseModel):
    """Update `decide`: a person's decision on an approval, choice or budget wait."""

    model_config = ConfigDict(extra="forbid")

    step: str
    decision: Literal["approve", "reject", "choose"]
    option: str | None = None
    by: str = "unknown"
    comment: str = ""


class ApprovalSignal(BaseModel):
    """Signals `approve` / `reject` (for the CLI and batch signalling)."""

    model_config = ConfigDict(extra="forbid")

    step: str
    by: str = "unknown"
    comment: str = ""


class ChoiceSignal(BaseModel):
    """Signal `choose`."""

    model_config = ConfigDict(extra="forbid")

    step: str
    option: str
    by: str = "unknown"
    comment: str = ""


class DecisionReceipt(BaseModel):
    step: str
    decision: str
    option: str | None = None
    applied: bool = Field(description="False when kept for a step not reached yet")


class DecisionRecord(BaseModel):
    """What `approvals.<id>` / `choices.<id>` expose to expressions, and progress shows."""

    approved: bool | None = None
    option: str | None = None
    by: str
    comment: str = ""
    at: datetime | None = None
    timed_out: bool = False


class StepProgress(BaseModel):
    id: str
    kind: str
    status: StepStatus
    summary: str = ""
    waiting_for: str | None = Field(default=None, description="approval | choice | budget")
    prompt: str | None = None
    options: list[str] | None = None
    cost_usd: float = 0.0
    attempts: int = 0
    items: int | None = None
    items_done: int = 0
    decision: DecisionRecord | None = None
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class Progress(BaseModel):
    """Query `progress`."""

    template: str
    version: int
    spec_hash: str
    status: Literal["running", "completed", "failed"]
    steps: list[StepProgress]
    cost_usd: float
    budget_usd: float | None
    waiting: list[str] = Field(default_factory=list)
    ignored_signals: list[str] = Field(default_factory=list)


class RunResult(BaseModel):
    """The run's result: outputs of the spec's output steps, costs, decisions."""

    template: str
    version: int
    spec_hash: str
    outputs: dict[str, Any]
    statuses: dict[str, StepStatus]
    cost_usd: float
    approvals: dict[str, DecisionRecord] = Field(default_factory=dict)
    choices: dict[str, DecisionRecord] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)
