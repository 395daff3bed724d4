"""Compile-time check of reject branches: a `when` that needs an approval rejected can only
hold if the step is reached when it is — a rejected approval skips its dependants that have
no `when`, so a step that waits on one of those never runs (docs/spec.md, "Reject branches").

Recognised: a `when` that is a conjunction (`&&`, no `||`) with a term
`!approvals.<id>.approved` or `approvals.<id>.approved == false`: it needs `<id>` rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from workflows.spec import StepSpec

_NEEDS_REJECTED = re.compile(
    r"(?:!\s*approvals\.(\w+)\.approved\b)|(?:approvals\.(\w+)\.approved\s*==\s*false\b)"
)


def needs_rejected(when: str) -> set[str]:
    """Approvals a `when` can only be true without (empty when it is not a plain conjunction)."""
    if "||" in when or "?" in when:
        return set()
    found: set[str] = set()
    for term in when.split("&&"):
        for a, b in _NEEDS_REJECTED.findall(term.strip()):
            found.add(a or b)
    return found


def reject_branch_problems(
    by_id: Mapping[str, StepSpec], upstream: Mapping[str, set[str]]
) -> list[tuple[str, str]]:
    """(where, problem) for every step whose `when` can never hold given its trigger."""
    problems: list[tuple[str, str]] = []
    for sid, step in by_id.items():
        if not step.when or step.trigger != "all_success":
            continue
        for approval in sorted(needs_rejected(step.when)):
            memo: dict[str, bool] = {}
            if approval not in by_id or by_id[approval].approval is None:
                continue  # reported by the reference checks
            for dep in step.after:
                if dep != approval and _skipped_on_reject(dep, approval, by_id, upstream, memo):
                    problems.append(
                        (
                            f"step {sid}",
                            f"when `{step.when}` needs approval `{approval}` rejected, but "
                            f"`{dep}` (in after) is skipped whenever `{approval}` is rejected, "
                            f"so this step never runs: put `{approval}` in `after` directly, "
                            f"or give `{dep}` a `when` or `trigger: all_done`",
                        )
                    )
    return problems


def _skipped_on_reject(
    sid: str,
    approval: str,
    by_id: Mapping[str, StepSpec],
    upstream: Mapping[str, set[str]],
    memo: dict[str, bool] | None = None,
) -> bool:
    """Is `sid` skipped whenever `approval` is rejected? Yes when it waits on it directly
    without a `when`, or waits on a step that is (all_success: a skipped dependency skips).
    Memoised per step: without it, a ladder of diamonds took time exponential in its depth
    (20 diamonds: 4 s, each one more doubling it)."""
    memo = {} if memo is None else memo
    if sid not in memo:
        step = by_id[sid]
        memo[sid] = (
            approval in upstream.get(sid, set())
            and step.trigger == "all_success"
            and (
                (approval in step.after and step.when is None)
                or any(
                    _skipped_on_reject(d, approval, by_id, upstream, memo)
                    for d in step.after
                    if d != approval
                )
            )
        )
    return memo[sid]
