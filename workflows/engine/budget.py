"""The run's money: the cap, the gate before a step that would pass it (a person may let it
continue), the pool every model call of the run (its items and child runs too) reserves from,
and the alerts at 75 / 90 / 100 % of the cap."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.compiler import CompiledStep
    from workflows.engine.decisions import Decisions
    from workflows.engine.failures import StepFailure
    from workflows.engine.state import RunState
    from workflows.models import BUDGET_ALERTS


class Budget:
    def __init__(
        self,
        state: RunState,
        decisions: Decisions,
        on_alerts: Callable[[list[int]], None] | None = None,
    ) -> None:
        self.state = state
        self.decisions = decisions
        self._on_alerts = on_alerts  # told the thresholds each call newly crosses

    async def gate(self, step: CompiledStep, estimate: float) -> None:
        """Wait for a person's approval when `estimate` more would pass the cap."""
        state = self.state
        budget = state.budget
        if budget is None or estimate <= 0 or state.total_cost + estimate <= budget + 1e-9:
            return
        prompt = (
            f"Spent ${state.total_cost:.2f}; step {step.id} is estimated at ${estimate:.2f}, "
            f"which would pass the ${budget:.2f} budget. Continue?"
        )
        timeout = state.dag.spec.budget_approval_timeout
        decision, _ = await self.decisions.wait_for(step, "budget", timeout, prompt)
        if decision is None:
            raise StepFailure(
                f"budget ${budget:.2f} would be exceeded and nobody approved within {timeout}",
                fatal=True,
                error_type="BudgetExceeded",
            )
        self.decisions.budget[step.id] = self.decisions.record(
            decision, approved=decision.decision == "approve"
        )
        if decision.decision == "approve":
            # The person let the run spend this step's estimate past the cap: the pool's cap
            # grows by that much (and no more) for every call that follows.
            state.budget_extended += estimate
        else:
            raise StepFailure(
                f"budget ${budget:.2f} would be exceeded; continuing was rejected by {decision.by}",
                fatal=True,
                error_type="BudgetExceeded",
            )

    def agent_cap(self, step: CompiledStep) -> float | None:
        """The budget left caps the step's model spending (the gate only sees estimates); a
        person who approved passing the budget lifted the cap for this step."""
        budget = self.state.budget
        if budget is None or step.id in self.decisions.budget:
            return None
        return max(round(budget - self.state.total_cost, 6), 0.0)

    def pool(self) -> tuple[str | None, float | None]:
        """(pool key, cap) the run's model calls reserve from: the root run's pool, shared by
        parallel branches, foreach items and child runs. No cap, no pool."""
        cap = self.state.pool_cap
        if cap is None:
            return None, None
        info = workflow.info()
        key = self.state.input.budget_pool or f"{info.workflow_id}/{info.run_id}"
        return key, round(cap, 9)

    def note_spending(self, reported: list[int] | None = None) -> None:
        """Thresholds of the cap crossed: by this run's own total, or as the pool (children
        and concurrent branches included) reported them."""
        state = self.state
        cap = state.pool_cap
        before = set(state.budget_alerts)
        if reported:
            state.budget_alerts.update(reported)
        if cap:
            state.budget_alerts.update(
                t for t in BUDGET_ALERTS if state.total_cost >= cap * t / 100 - 1e-9
            )
        if self._on_alerts is not None and state.budget_alerts != before:
            self._on_alerts(sorted(state.budget_alerts - before))

    def child_budget(self) -> float | None:
        """What a child run may spend: what is left (never zero, which would mean no cap)."""
        budget = self.state.budget
        if budget is None:
            return None
        return max(budget - self.state.total_cost, 0.01)
