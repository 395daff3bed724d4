"""Where one agent step's records and files go: its key (step, plus the `foreach` item), its
attempt number, and the root of its attempts' scratch directories. Light: the runtime, the
step and tests use it."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.contract import AgentStepInput
from store.settings import bizos_home


def step_attempt(inp: AgentStepInput) -> int:
    """The step's attempt number across schedulings: the workflow re-schedules a step whose
    worker was lost with ``attempt_base`` raised by the attempts already spent, so the
    journal, ledger and live-event keys of a new scheduling never collide with an old one's.
    Call inside the activity."""
    return int(getattr(inp, "attempt_base", 0) or 0) + activity.info().attempt


def step_key(inp: AgentStepInput) -> str:
    """Step (+ `#item`) (+ `@r<round>` once a revise re-runs it): the ledger's, journal's and
    stored outputs' key, so each round has its own calls and outputs."""
    key = inp.step_id if inp.item_index is None else f"{inp.step_id}#{inp.item_index}"
    return f"{key}@r{inp.round}" if inp.round else key


def scratch_root(home: Path | None = None) -> Path:
    """``$BIZOS_HOME/scratch/``: where step attempts make their private scratch directories
    (`activities.agent_step.files`); nothing there outlives its attempt."""
    return (home or bizos_home()) / "scratch"
