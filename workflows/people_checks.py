"""What a spec's people steps ask for, checked and compiled: escalation levels, the revise
loop (which steps a `revise` decision re-runs) and the outputs a decision is bound to."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from workflows.spec import ApproverLevel, StepSpec


@dataclass(frozen=True)
class Level:
    """One escalation level: who may decide (None = any approver of the tenant) and for how
    long before the request moves on."""

    group: str | None
    timeout: timedelta


@dataclass(frozen=True)
class People:
    levels: tuple[Level, ...] = ()
    revise_loop: tuple[str, ...] = ()  # the revise target first, then in dependency order
    bind: tuple[str, ...] = ()
    max_revisions: int = 0


def compile_people(
    s: StepSpec,
    by_id: Mapping[str, StepSpec],
    upstream: Mapping[str, set[str]],
    order: Sequence[str],
    bad: Callable[[str, str], None],
) -> People:
    where = f"step {s.id}"
    if s.approval is not None:
        spec = s.approval
        levels, timeout = spec.approvers, spec.timeout
    elif s.choice is not None and s.choice.by is None:
        spec_c = s.choice
        levels, timeout = spec_c.approvers, spec_c.timeout
        return People(levels=_levels(levels, timeout))
    else:
        return People()

    loop: tuple[str, ...] = ()
    if spec.revise is not None:
        loop = _revise_loop(s.id, spec.revise, by_id, upstream, order, where, bad)
    for b in spec.bind:
        if b not in by_id:
            bad(where, f"bind: unknown step `{b}`")
        elif b not in upstream[s.id]:
            bad(where, f"bind: `{b}` is not upstream of this approval (add it to `after`)")
        elif by_id[b].kind not in ("agent", "workflow"):
            bad(
                where,
                f"bind: `{b}` is not an agent or workflow step (it is {by_id[b].kind}); only "
                "those have outputs to see",
            )
    return People(
        levels=_levels(levels, timeout),
        revise_loop=loop,
        bind=tuple(spec.bind),
        max_revisions=spec.revisions_allowed,
    )


def _levels(levels: Sequence[ApproverLevel] | None, timeout: timedelta) -> tuple[Level, ...]:
    if not levels:
        return (Level(None, timeout),)
    return tuple(Level(lv.group, lv.timeout) for lv in levels)


def _revise_loop(
    sid: str,
    target: str,
    by_id: Mapping[str, StepSpec],
    upstream: Mapping[str, set[str]],
    order: Sequence[str],
    where: str,
    bad: Callable[[str, str], None],
) -> tuple[str, ...]:
    if target not in by_id:
        bad(where, f"revise: unknown step `{target}`")
        return ()
    if target not in upstream[sid]:
        bad(
            where,
            f"revise: `{target}` is not upstream of this approval: a revise loop re-runs the "
            f"steps from its target to the approval, so `{sid}` must come after `{target}`",
        )
        return ()
    loop = [target] + [
        x for x in order if x != target and target in upstream[x] and x in upstream[sid]
    ]
    ok = True
    for x in loop:
        kind = by_id[x].kind
        if kind != "agent":
            bad(
                where,
                f"revise: the loop from `{target}` to `{sid}` passes through `{x}` (kind: "
                f"{kind}); a revise loop re-runs agent steps only",
            )
            ok = False
    return tuple(loop) if ok else ()
