"""The reject-branch check visits each step once per approval. A ladder of diamonds under an
approval, whose rungs all run either way (each has a `when`), has 2^rungs paths back to the
approval: before the check was memoised it walked every one (20 rungs took 4 s, each more
rung doubled it; 40 rungs never finish and the test's timeout fails it)."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.compiler import CompileError, compile_spec

RUNGS = 40


def _ladder() -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": "draft", "agent": "noop", "mode": "echo"},
        {"id": "review", "approval": {"prompt": "Go?"}, "after": ["draft"]},
    ]
    above = ["review"]
    for i in range(RUNGS):
        pair = [f"l{i}", f"r{i}"]
        rung = {"agent": "noop", "mode": "echo", "after": above, "when": "params.topic != ''"}
        steps += [{"id": s, **rung} for s in pair]
        above = pair
    final: dict[str, Any] = {
        "id": "final",
        "agent": "noop",
        "mode": "echo",
        "after": ["review", *above],
        "when": "!approvals.review.approved",
    }
    steps.append(final)
    return {
        "name": "ladder",
        "version": 1,
        "description": "a ladder of diamonds under a reject branch",
        "params": {"topic": {"type": "string", "default": "x"}},
        "steps": steps,
    }


@pytest.mark.timeout(60)
def test_a_ladder_of_diamonds_under_a_reject_branch_compiles_at_once() -> None:
    dag = compile_spec(_ladder(), "ladder.yaml")
    assert len(dag.steps) == 2 * RUNGS + 3


@pytest.mark.timeout(60)
def test_a_reject_branch_behind_skipped_rungs_is_still_refused() -> None:
    spec = _ladder()
    for step in spec["steps"]:
        if step["id"].startswith(("l", "r")) and step["id"] != "review":
            step.pop("when")  # rejected, every rung is skipped: `final` can never run
    with pytest.raises(CompileError, match="final"):
        compile_spec(spec, "ladder.yaml")
