"""The spec keys of people steps — `approvers` (escalation levels), `revise` /
`max_revisions` and `bind` — refused with a message naming the problem, sized for history,
and drawn in the Mermaid picture."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.core.test_specs import GOOD, problems, step
from workflows.compiler import compile_spec
from workflows.mermaid import to_mermaid


def review(raw: dict[str, Any]) -> dict[str, Any]:
    return step(raw, "review")["approval"]  # type: ignore[no-any-return]


def with_polish(raw: dict[str, Any]) -> None:
    """draft -> polish -> review: a loop of two agent steps."""
    raw["steps"].insert(1, {"id": "polish", "agent": "noop", "mode": "echo", "after": ["draft"]})
    step(raw, "review")["after"] = ["polish"]


def good(**approval: Any) -> dict[str, Any]:
    raw = copy.deepcopy(GOOD)
    with_polish(raw)
    review(raw).update(approval)
    return raw


def test_levels_loop_and_bind_compile() -> None:
    raw = good(
        approvers=[{"group": "editors", "timeout": "4h"}, {"group": "directors", "timeout": "1d"}],
        revise="draft",
        max_revisions=2,
        bind=["polish"],
    )
    dag = compile_spec(raw, "dag_specs/good.yaml")
    people = dag.steps["review"].people
    assert [lv.group for lv in people.levels] == ["editors", "directors"]
    assert [lv.timeout.total_seconds() for lv in people.levels] == [4 * 3600, 86400]
    assert people.revise_loop == ("draft", "polish") and people.max_revisions == 2
    assert people.bind == ("polish",)
    # the history estimate counts every round of the loop and every level
    plain = compile_spec(good(), "dag_specs/good.yaml")
    assert dag.size.events > plain.size.events + 2 * 2 * 6
    picture = to_mermaid(dag)
    assert "editors 4h → directors 1d" in picture and "bound to polish" in picture
    assert 'review -. "revise, at most 2 times" .-> draft' in picture


def test_revise_alone_allows_one_revision() -> None:
    dag = compile_spec(good(revise="polish"), "dag_specs/good.yaml")
    assert dag.steps["review"].people.max_revisions == 1
    assert dag.steps["review"].people.revise_loop == ("polish",)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda r: review(r).update(revise="post"),
            "step review: revise: `post` is not upstream of this approval",
        ),
        (lambda r: review(r).update(revise="ghost"), "step review: revise: unknown step `ghost`"),
        (
            lambda r: review(r).update(max_revisions=2),
            "approval: `max_revisions` needs `revise: <step>`",
        ),
        (lambda r: review(r).update(revise="draft", max_revisions=11), "max_revisions"),
        (
            lambda r: review(r).update(
                timeout="1h", approvers=[{"group": "editors", "timeout": "1h"}]
            ),
            "give `timeout` per level in `approvers`, not both",
        ),
        (
            lambda r: review(r).update(approvers=[{"group": "Editors!", "timeout": "1h"}]),
            "group",
        ),
        (lambda r: review(r).update(approvers=[]), "approvers"),
        (
            lambda r: review(r).update(bind=["post"]),
            "step review: bind: `post` is not upstream of this approval",
        ),
        (lambda r: review(r).update(bind=["nope"]), "step review: bind: unknown step `nope`"),
        (lambda r: review(r).update(bind=["draft", "draft"]), "`bind` names a step twice"),
        (
            lambda r: (
                r["steps"].insert(
                    1, {"id": "gate", "approval": {"prompt": "?"}, "after": ["draft"]}
                ),
                step(r, "review").update(after=["gate"]),
                review(r).update(revise="draft"),
            ),
            "revise: the loop from `draft` to `review` passes through `gate` (kind: approval)",
        ),
        (
            lambda r: (
                r["steps"].insert(
                    1, {"id": "gate", "approval": {"prompt": "?"}, "after": ["draft"]}
                ),
                step(r, "review").update(after=["gate"]),
                review(r).update(bind=["gate"]),
            ),
            "bind: `gate` is not an agent or workflow step (it is approval)",
        ),
    ],
)
def test_bad_people_keys_are_refused_by_name(mutate: Any, expected: str) -> None:
    assert expected in problems(mutate)
