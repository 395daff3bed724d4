"""Inputs and outputs of the DAG workflow and its handlers: one pydantic model each."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from activities.contract import COMMENT_LIMIT

WORKFLOWS_TASK_QUEUE = "bizos-workflows"
SPEC_MEMO_KEY = "bizos_spec"

BY_LIMIT = 200
# `provider:model` of the price table, or `chain` (see activities.providers.estimates)
PRICE_AS_PATTERN = r"^(chain|[a-z_]+:[A-Za-z0-9._:/-]+)$"


def _cut(limit: int) -> Any:
    """Signals cannot be refused like updates: a value past its limit is cut, and says so."""

    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            return value[: limit - 14] + " …(truncated)"
        return value

    return BeforeValidator(cut)


Bounded200 = Annotated[str, _cut(BY_LIMIT)]
BoundedComment = Annotated[str, _cut(COMMENT_LIMIT)]

StepStatus = Literal[
    "pending", "running", "waiting", "succeeded", "rejected", "failed", "skipped", "cancelled"
]
TERMINAL: frozenset[str] = frozenset({"succeeded", "rejected", "failed", "skipped", "cancelled"})
BUDGET_ALERTS = (75, 90, 100)
"""Percentages of a run's budget whose crossing is shown in progress, the Web UI and the store."""
IGNORED_SIGNALS_KEPT = 50


class RunInput(BaseModel):
    """How every client starts a template: CLI, `temporal workflow start`, schedules, HTTP."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    budget_usd: float | None = Field(default=None, gt=0, description="overrides the spec's cap")
    price_as: str | None = Field(
        default=None,
        pattern=PRICE_AS_PATTERN,
        description="`provider:model`: every agent step runs on the offline policy and its "
        "token estimates are priced as that model (`chain`: each step as the first provider "
        "of its own chain): budgets, alerts and cost reports before spending",
    )
    budget_pool: str | None = Field(
        default=None,
        description="the pool of money this run draws on (set by a parent for its children: "
        "the root run's); None = its own",
    )
    plan: RunPlan | None = Field(
        default=None,
        description="the run's plan, recorded at start (bizos and parents set it; without it "
        "the run's first task resolves it from the worker's specs and catalog)",
    )
    config_versions: dict[str, int] | None = Field(
        default=None,
        description="agent configuration versions pinned for this run (0 = catalog defaults); "
        "None = pinned by the run's first task",
    )
    pool_cap_usd: float | None = Field(
        default=None,
        ge=0,
        description="the cap of the pool this run draws on (set by a parent with "
        "`budget_pool`: the root run's cap)",
    )
    admission: str | None = Field(
        default=None,
        description="the tenant's admission workflow: the run waits for a slot before its "
        "first step and frees it when it ends (set by the API for tenants with a cap)",
    )
    resume: ResumeSeed | None = Field(
        default=None, description="resume a failed or cancelled run (`bizos resume`)"
    )
    output_limit_bytes: int | None = Field(
        default=None,
        gt=0,
        description="largest outputs JSON the result carries inline; larger go by reference "
        "(parents set their step's share). None = AGGREGATE_INLINE_BYTES",
    )
    notify: bool = Field(
        default=False,
        description="emit execution events (started, waiting_for_person, completed, failed, "
        "budget_alert) to the tenant's webhooks: set by the API when the tenant has endpoints "
        "at start; children inherit it. False = no event, no extra command",
    )


class StepSeed(BaseModel):
    """What a resumed run reuses of one step of the run it resumes."""

    model_config = ConfigDict(extra="forbid")

    status: StepStatus
    output: Any = None
    cost_usd: float = 0.0
    attempts: int = 0
    items: dict[int, Any] = Field(
        default_factory=dict, description="a foreach step that did not finish: items done"
    )
    decision: DecisionRecord | None = None


class ResumeSeed(BaseModel):
    """Query `resume_seed` of a failed or cancelled run; `bizos resume` starts a new run
    with it: finished steps are reused (not re-run, not re-billed), the rest run."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str
    run_id: str
    template: str
    plan: RunPlan | None = Field(default=None, description="the plan the run carried")
    config_versions: dict[str, int] | None = None
    steps: dict[str, StepSeed] = Field(default_factory=dict)
    children: dict[str, ResumeSeed] = Field(
        default_factory=dict, description="child steps that did not finish: their runs' seeds"
    )


class RunStartRequest(BaseModel):
    """Local activity `resolve_run_start`: what a run needs resolved at its first task."""

    model_config = ConfigDict(extra="forbid")

    workflow_type: str
    workflow_id: str
    run_id: str
    tenant: str
    plan: RunPlan | None = Field(default=None, description="None = resolve it")
    pin_configs: bool = True


class StoreOutputsRequest(BaseModel):
    """Local activity `store_run_outputs`: outputs too big for the run's result."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str
    run_id: str
    outputs: dict[str, Any]


class RunEventRequest(BaseModel):
    """Local activity `emit_run_event`: one execution event of a run, for the tenant's
    webhooks (ids and summaries only: never outputs or params)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    type: Literal["started", "waiting_for_person", "completed", "failed", "budget_alert"]
    workflow_id: str
    run_id: str
    occurred_at: datetime
    step: str | None = None
    level: int | None = Field(default=None, description="with `round`: what the event id names")
    round: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class RunStart(BaseModel):
    plan: RunPlan | None = Field(default=None, description="None when the request carried it")
    config_versions: dict[str, int] = Field(default_factory=dict)


DecisionKind = Literal["approve", "reject", "choose", "revise"]
DecisionVia = Literal["update", "api", "link", "cli", "signal"]
"""How a decision came. `signal` and `cli` are the operators' paths (direct access to Temporal):
taken without the approver-group check and recorded as such; `api` and `link` are checked."""
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


class Decision(BaseModel):
    """Update `decide`: a person's decision on an approval, choice or budget wait."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(max_length=64)
    decision: DecisionKind
    option: str | None = Field(default=None, max_length=64)
    by: str = Field(default="unknown", max_length=BY_LIMIT)
    comment: str = Field(
        default="",
        max_length=COMMENT_LIMIT,
        description="refused past the limit (an update); a `revise` decision's feedback",
    )
    digest: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="the digest of the outputs the person saw (progress shows it); required "
        "by approvals with `bind`",
    )
    via: DecisionVia = "update"


class ApprovalSignal(BaseModel):
    """Signals `approve` / `reject` / `revise` (for the CLI, operators and batch signalling)."""

    model_config = ConfigDict(extra="forbid")

    step: str
    by: Bounded200 = "unknown"
    comment: BoundedComment = ""
    digest: str | None = Field(default=None, max_length=80)


class ChoiceSignal(BaseModel):
    """Signal `choose`."""

    model_config = ConfigDict(extra="forbid")

    step: str
    option: str
    by: Bounded200 = "unknown"
    comment: BoundedComment = ""
    digest: str | None = Field(default=None, max_length=80)


class DecisionReceipt(BaseModel):
    step: str
    decision: str
    option: str | None = None
    applied: bool = Field(description="False when kept for a step not reached yet")
    level: int | None = None
    round: int | None = None


class DecisionRecord(BaseModel):
    """What `approvals.<id>` / `choices.<id>` expose to expressions, and progress shows."""

    approved: bool | None = None
    option: str | None = None
    by: str
    comment: str = ""
    at: datetime | None = None
    timed_out: bool = False
    decision: str | None = Field(
        default=None, description="approve | reject | choose | revise | timeout"
    )
    level: int = Field(default=0, description="escalation level the decision was taken at")
    round: int = Field(default=0, description="revise round (0 = the first ask)")
    digest: str | None = None
    via: str | None = None
    group: str | None = None


class Escalation(BaseModel):
    """A wait that moved to its next approver level when a level's timeout passed."""

    from_level: int
    to_level: int
    from_group: str | None = None
    to_group: str | None = None
    round: int = 0
    at: datetime


class ApproverGroupRequest(BaseModel):
    """Local activity `approver_group`: a level's group, snapshotted when the level opens."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    group: str


class ApproverGroupSnapshot(BaseModel):
    group: str
    members: list[str] = Field(default_factory=list, description="principal (key) names")
    found: bool = True


class DecisionLogEntry(BaseModel):
    """Local activity `record_decision`: one decision, timeout or escalation of a run, for
    the store's decision log (queryable per run and per approver)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    workflow_id: str
    run_id: str
    template: str
    step: str
    kind: Literal["approve", "reject", "choose", "revise", "timeout", "escalated"]
    option: str | None = None
    by: str
    via: str | None = None
    comment: str = ""
    digest: str | None = None
    level: int = 0
    round: int = 0
    group: str | None = None
    at: datetime


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
    tool_failures: int = Field(
        default=0, description="tool calls that failed and the agent answered without"
    )
    failed_tools: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # people: escalation levels, revise rounds, what the decision is bound to
    level: int | None = Field(default=None, description="approver level waiting (0-based)")
    levels: int | None = None
    group: str | None = Field(default=None, description="the waiting level's approver group")
    approvers: list[str] | None = Field(
        default=None, description="who may decide at this level (the group's snapshot)"
    )
    deadline: datetime | None = Field(default=None, description="when this level times out")
    digest: str | None = Field(
        default=None, description="digest of the bound outputs; decisions must carry it"
    )
    bind: list[str] | None = None
    round: int = Field(default=0, description="revise round (0 = the first ask)")
    max_revisions: int | None = None
    escalations: list[Escalation] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(
        default_factory=list, description="every decision of the step, revise rounds included"
    )
    rounds: list[dict[str, Any]] = Field(
        default_factory=list,
        description="earlier rounds of a step re-run by a revise: output summary and cost",
    )


class Progress(BaseModel):
    """Query `progress`."""

    template: str
    version: int
    spec_hash: str
    status: Literal["running", "completed", "failed", "cancelled"]
    steps: list[StepProgress]
    cost_usd: float
    budget_usd: float | None
    budget_extended_usd: float = Field(
        default=0.0, description="what people approved spending past the budget"
    )
    budget_alerts: list[int] = Field(
        default_factory=list, description="percentages of the budget crossed (75, 90, 100)"
    )
    waiting: list[str] = Field(default_factory=list)
    ignored_signals: list[str] = Field(
        default_factory=list, description=f"the last {IGNORED_SIGNALS_KEPT} signals ignored"
    )
    ignored_count: int = 0
    resumed_from: str | None = Field(default=None, description="the run this one resumes")
    waiting_for_slot: bool = Field(
        default=False, description="queued behind the tenant's running cap"
    )


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
    outputs_ref: str | None = Field(
        default=None,
        description="outputs too big for this payload are stored; `outputs` is then their "
        "bounded view (`$ref` names them)",
    )


# ---------------------------------------------------------------- what a run carries


class ModeSlice(BaseModel):
    """What a run uses of one agent mode from the catalog."""

    model_config = ConfigDict(extra="forbid")

    cost_estimate_usd: float = 0.0
    timeout_s: float | None = Field(
        default=None, description="the catalog's default attempt timeout; None = platform's"
    )


class AgentSlice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="worker pool: task queue bizos-agents-<category>")
    modes: dict[str, ModeSlice]


class CatalogSlice(BaseModel):
    """The part of the agent catalog a template decides on (pool, price estimate, default
    timeout per agent and mode). Recorded in the run so catalog edits never reach it."""

    model_config = ConfigDict(extra="forbid")

    agents: dict[str, AgentSlice] = Field(default_factory=dict)


class RunPlan(BaseModel):
    """Everything a run decides on, recorded in its history when it starts: the spec text
    as written, the catalog slice it uses, and the plans of the templates it runs as
    children. Workers compile each distinct plan once (by `hash`); replay never reads spec
    or catalog files."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    spec_hash: str
    source: str = Field(description="the file the spec came from (for messages)")
    spec: str = Field(description="the spec's YAML text")
    catalog: CatalogSlice
    children: dict[str, RunPlan] = Field(default_factory=dict)
    hash: str = Field(default="", description="sha256 of everything above")

    def agents(self) -> set[str]:
        """Agents this run and its children may call."""
        found = set(self.catalog.agents)
        for child in self.children.values():
            found |= child.agents()
        return found


RunInput.model_rebuild()

StepSeed.model_rebuild()
ResumeSeed.model_rebuild()
RunStartRequest.model_rebuild()
RunStart.model_rebuild()
