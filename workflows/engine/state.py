"""What a run knows about its steps: one record per step instead of a dict per field, and the
scope expressions read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # Pure modules compiled once per worker (see worker/plugin.py).
    from workflows.compiler import CompiledDag
    from workflows.expressions import Scope
    from workflows.models import TERMINAL, RunInput

_UNSET: Any = object()


@dataclass(slots=True)  # one per step of every cached run: no per-instance __dict__
class StepState:
    status: str = "pending"
    output: Any = _UNSET
    cost: float = 0.0
    attempts: int = 0
    items: int | None = None
    items_done: int = 0
    started: datetime | None = None
    ended: datetime | None = None
    tool_failures: int = 0  # failed tool calls the agent got past (partial work)
    failed_tools: list[str] = field(default_factory=list)
    # foreach items finished so far, by index: what a resumed run reuses if the step fails
    item_outputs: dict[int, Any] = field(default_factory=dict)
    reused: bool = False  # taken from the run this one resumes
    round: int = 0  # revise round this step's output is from (part of every key of its calls)
    # earlier rounds of a step re-run by a revise: {"round", "output", "cost_usd"}
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_output(self) -> bool:
        return self.output is not _UNSET


class RunState:
    """The run's steps, its params, its spending and its end, shared by the engine's parts."""

    # one per cached run: no per-instance __dict__
    __slots__ = (
        "approvals_scope",
        "budget_alerts",
        "budget_extended",
        "cancelled",
        "choices_scope",
        "dag",
        "done",
        "errors",
        "failed",
        "feedback",
        "input",
        "params",
        "scope",
        "steps",
        "steps_scope",
        "total_cost",
    )

    def __init__(self, dag: CompiledDag, run_input: RunInput, params: dict[str, Any]) -> None:
        self.dag = dag
        self.input = run_input
        self.params = params
        self.steps: dict[str, StepState] = {sid: StepState() for sid in dag.steps}
        self.errors: dict[str, str] = {}  # in the order steps failed
        self.total_cost = 0.0
        self.done = False
        self.failed = False
        self.cancelled = False
        self.budget_extended = 0.0  # approved by people past the budget
        self.budget_alerts: set[int] = set()
        self.steps_scope: dict[str, Any] = {}
        self.approvals_scope: dict[str, Any] = {}
        self.choices_scope: dict[str, Any] = {}
        # a revise target's feedback for its next call: {"round", "feedback", "by"}
        self.feedback: dict[str, dict[str, Any]] = {}
        self.scope = Scope(params, self.steps_scope, self.approvals_scope, self.choices_scope)

    def status(self, sid: str) -> str:
        return self.steps[sid].status

    def terminal(self, sid: str) -> bool:
        return self.steps[sid].status in TERMINAL

    def set_status(self, sid: str, status: str) -> None:
        step = self.steps[sid]
        step.status = status
        entry = self.steps_scope.setdefault(sid, {"output": None})
        entry["status"] = status
        if step.has_output:
            entry["output"] = step.output

    def add_cost(self, sid: str, cost: float) -> None:
        self.steps[sid].cost += cost
        self.total_cost += cost

    @property
    def budget(self) -> float | None:
        """The run's cap: the starter's, else the spec's (None = no cap)."""
        if self.input.budget_usd is not None:
            return self.input.budget_usd
        return self.dag.spec.budget_usd

    @property
    def pool_cap(self) -> float | None:
        """The cap of the pool of money this run draws on: the root run's (given by a
        parent), else its own budget, plus what people approved past it."""
        cap = self.input.pool_cap_usd if self.input.budget_pool else self.budget
        return None if cap is None else cap + self.budget_extended

    def finished_count(self) -> int:
        return sum(1 for s in self.steps.values() if s.status in TERMINAL)
