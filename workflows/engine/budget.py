"""The run's money: the cap, the gate before a step that would pass it (a person may let it
continue), and the cap each agent step gets on its own model spending."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.compiler import CompiledStep
    from workflows.engine.decisions import Decisions
    from workflows.engine.failures import StepFailure
    from workflows.engine.state import RunState


class Budget:
    def __init__(self, state: RunState, decisions: Decisions) -> None:
        self.state = state
        self.decisions = decisions

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
        decision = await self.decisions.wait_for(step, "budget", timeout, prompt)
        if decision is None:
            raise StepFailure(
                f"budget ${budget:.2f} would be exceeded and nobody approved within {timeout}",
                fatal=True,
                error_type="BudgetExceeded",
            )
        self.decisions.budget[step.id] = self.decisions.record(
            decision, approved=decision.decision == "approve"
        )
        if decision.decision != "approve":
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

    def child_budget(self) -> float | None:
        """What a child run may spend: what is left (never zero, which would mean no cap)."""
        budget = self.state.budget
        if budget is None:
            return None
        return max(budget - self.state.total_cost, 0.01)
