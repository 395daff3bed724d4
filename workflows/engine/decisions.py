"""People's decisions: the inbox of decisions (kept when they arrive early), which steps wait
for a person and at which escalation level, why a decision is refused, and the record of
what was decided (every round and level of it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.compiler import CompiledDag, CompiledStep
    from workflows.engine.state import RunState
    from workflows.models import (
        IGNORED_SIGNALS_KEPT,
        TERMINAL,
        Decision,
        DecisionReceipt,
        DecisionRecord,
        Escalation,
    )
    from workflows.people_checks import Level

LATE_DECISION_PATCH = "bizos-late-decision-1"
OPERATOR_PATHS = frozenset({"signal", "cli"})
"""Decisions from people with direct access to Temporal (plain `temporal workflow signal`,
`bizos` on an operator's machine): taken without the approver-group check and recorded with
how they came. The group check guards the HTTP API and signed links, where principals are."""


@dataclass
class Asking:
    """A step waiting for a person right now: the level asked, who may answer, until when,
    the revise round and the digest of what is to be judged."""

    kind: str
    level: int
    levels: int
    group: str | None
    approvers: list[str] | None  # None: any approver of the tenant
    deadline: datetime
    round: int = 0
    digest: str | None = None


Snapshot = Callable[[str], Awaitable[list[str] | None]]
"""A level's group members, through a recorded local activity (None: no such group)."""


class Decisions:
    # one per cached run: no per-instance __dict__
    __slots__ = (
        "_on_change",
        "_upserted_waiting",
        "approvals",
        "asking",
        "budget",
        "choices",
        "escalations",
        "history",
        "ignored",
        "ignored_count",
        "inbox",
        "on_record",
        "on_wait",
        "prompts",
        "snapshot",
        "waiting",
    )

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.inbox: dict[str, Decision] = {}
        self.waiting: dict[str, str] = {}  # step -> approval | choice | budget
        self.prompts: dict[str, str] = {}
        self.asking: dict[str, Asking] = {}
        self.approvals: dict[str, DecisionRecord] = {}
        self.choices: dict[str, DecisionRecord] = {}
        self.budget: dict[str, DecisionRecord] = {}
        self.history: dict[str, list[DecisionRecord]] = {}  # every decision, rounds included
        self.escalations: dict[str, list[Escalation]] = {}
        self.ignored: list[str] = []
        self.ignored_count = 0
        self._upserted_waiting: list[str] = []
        self._on_change = on_change
        # told each time a step starts waiting for a person, or moves to its next level
        self.on_wait: Callable[[CompiledStep, str, str, Asking | None], None] | None = None
        # told each decision, timeout and escalation (the store's decision log)
        self.on_record: Callable[[CompiledStep, DecisionRecord, str], None] | None = None
        self.snapshot: Snapshot | None = None

    def unhook(self) -> None:
        """Forget the run's hooks once it has ended (nothing waits or records after)."""
        self.on_wait = None
        self.on_record = None
        self.snapshot = None

    def decided(self, sid: str) -> DecisionRecord | None:
        return self.approvals.get(sid) or self.choices.get(sid) or self.budget.get(sid)

    async def wait_for(
        self,
        step: CompiledStep,
        kind: str,
        timeout: timedelta,  # noqa: ASYNC109
        prompt: str,
        *,
        round: int = 0,
        digest: str | None = None,
        first_level: int = 0,
    ) -> tuple[Decision | None, int]:
        """The step's decision and the level it was taken at; (None, last level) when nobody
        decided before the last level's timeout. Each level but the last escalates to the
        next when its own timeout passes. A revise round asks again from `first_level`: the
        level whose approver asked for the revision."""
        sid = step.id
        levels = step.people.levels or (Level(None, timeout),)
        if sid in self.inbox and levels[0].group is None:
            return self.inbox.pop(sid), 0  # decided before the step was reached
        self.waiting[sid] = kind
        self.prompts[sid] = prompt
        self.sync_waiting()
        evicted = False
        try:
            for i, level in enumerate(levels):
                if i < first_level:
                    continue
                # between levels nobody is asked: a decision checked against the old level's
                # group while the new one is snapshotted is checked again below
                self.asking.pop(sid, None)
                members = await self._members(level)
                asking = Asking(
                    kind=kind,
                    level=i,
                    levels=len(levels),
                    group=level.group,
                    approvers=members,
                    deadline=workflow.now() + level.timeout,
                    round=round,
                    digest=digest,
                )
                self.asking[sid] = asking
                self._refuse_early(sid, asking)
                if sid in self.inbox:
                    return self.inbox.pop(sid), i
                self._on_change()
                if self.on_wait is not None:
                    self.on_wait(step, kind, prompt, asking)
                try:
                    await workflow.wait_condition(
                        lambda: sid in self.inbox,
                        timeout=level.timeout,
                        timeout_summary=self._timeout_summary(sid, kind, levels, i),
                    )
                except TimeoutError:
                    if sid in self.inbox and workflow.patched(LATE_DECISION_PATCH):
                        # The decision came in the same activation as the timeout: it was
                        # answered `applied`, so it is the one taken.
                        return self.inbox.pop(sid), i
                    if i + 1 < len(levels):
                        self._escalate(step, levels, i, round)
                        continue
                    return None, i
                return self.inbox.pop(sid), i
            raise AssertionError("unreachable: the last level returns")
        except GeneratorExit:
            # The worker dropped the run from its cache: no workflow context to record in.
            evicted = True
            raise
        finally:
            if not evicted:
                self.waiting.pop(sid, None)
                self.asking.pop(sid, None)
                self.sync_waiting()

    @staticmethod
    def _timeout_summary(sid: str, kind: str, levels: tuple[Level, ...], i: int) -> str:
        if len(levels) == 1 and levels[0].group is None:
            return f"{sid}: {kind} times out"  # as runs from before escalation levels had it
        nxt = "escalates" if i + 1 < len(levels) else "times out"
        return f"{sid}: level {i + 1}/{len(levels)} ({levels[i].group or 'approvers'}) {nxt}"

    async def _members(self, level: Level) -> list[str] | None:
        if level.group is None or self.snapshot is None:
            return None
        members = await self.snapshot(level.group)
        if members is None:
            workflow.logger.warning(
                "approver group `%s` does not exist for this tenant: nobody can decide at "
                "this level until it times out (operators can still signal)",
                level.group,
            )
            return []
        return members

    def _refuse_early(self, sid: str, asking: Asking) -> None:
        """An early decision by someone outside the level's group is not taken."""
        d = self.inbox.get(sid)
        if d is None:
            return
        problem = self._approver_problem(d, asking, sid)
        if problem is not None:
            del self.inbox[sid]
            self.ignore(d, problem)

    def _escalate(self, step: CompiledStep, levels: tuple[Level, ...], i: int, round: int) -> None:
        move = Escalation(
            from_level=i,
            to_level=i + 1,
            from_group=levels[i].group,
            to_group=levels[i + 1].group,
            round=round,
            at=workflow.now(),
        )
        self.escalations.setdefault(step.id, []).append(move)
        workflow.logger.info(
            "step %s: no decision at level %d (%s); asking level %d (%s)",
            step.id,
            i + 1,
            levels[i].group,
            i + 2,
            levels[i + 1].group,
        )
        if self.on_record is not None:
            record = DecisionRecord(
                by="timeout",
                decision="escalated",
                timed_out=True,
                at=move.at,
                level=i,
                round=round,
                group=levels[i].group,
            )
            self.on_record(step, record, "escalated")

    def record(
        self,
        d: Decision,
        *,
        approved: bool | None = None,
        option: str | None = None,
        level: int = 0,
        round: int = 0,
        group: str | None = None,
    ) -> DecisionRecord:
        return DecisionRecord(
            approved=approved,
            option=option,
            by=d.by,
            comment=d.comment,
            at=workflow.now(),
            decision=d.decision,
            level=level,
            round=round,
            digest=d.digest,
            via=d.via,
            group=group,
        )

    def keep(self, step: CompiledStep, record: DecisionRecord) -> None:
        """Every decision of the step, in order; and into the store's decision log — people's
        decisions always, a timeout only where people were asked by name (an escalation
        chain): a plain approval nobody answered costs its run no store write."""
        self.history.setdefault(step.id, []).append(record)
        if self.on_record is None:
            return
        if record.timed_out and not any(lv.group for lv in step.people.levels):
            return
        self.on_record(step, record, record.decision or "timeout")

    def sync_waiting(self) -> None:
        """Keep the `BizosPendingApprovals` search attribute equal to the waiting steps."""
        waiting = sorted(self.waiting)
        if waiting != self._upserted_waiting:
            workflow.upsert_search_attributes([sa.PENDING_APPROVALS.value_set(waiting)])
            self._upserted_waiting = waiting
        self._on_change()

    # ------------------------------------------------------------------ refusals

    def problem(self, d: Decision, dag: CompiledDag | None, state: RunState | None) -> str | None:
        """Why a decision cannot be taken (None = it can)."""
        if dag is None or state is None:
            return "this run failed to start"
        step = dag.steps.get(d.step)
        if step is None:
            decidable = [s.id for s in dag.steps.values() if s.kind in ("approval", "choice")]
            return f"unknown step `{d.step}`; decidable steps: {', '.join(decidable) or 'none'}"
        if d.step in self.inbox:
            return f"step `{d.step}` already has a decision ({self.inbox[d.step].decision})"
        if state.status(d.step) in TERMINAL:
            return f"step `{d.step}` is already {state.status(d.step)}"
        if step.kind == "agent":
            if self.waiting.get(d.step) != "budget":
                return f"step `{d.step}` is an agent step, not waiting for a budget decision"
            if d.decision in ("choose", "revise"):
                return f"step `{d.step}` waits for approve or reject, not {d.decision}"
            return None
        if step.kind == "workflow":
            return f"step `{d.step}` is a child workflow; nothing to decide"
        if step.kind == "approval" and d.decision == "choose":
            verbs = "approve, reject or revise" if step.people.revise_loop else "approve or reject"
            return f"step `{d.step}` is an approval: {verbs} it"
        if step.kind == "choice":
            assert step.spec.choice is not None
            if step.choice_by is not None:
                return f"step `{d.step}` is chosen by its expression, not by a person"
            if d.decision != "choose":
                options = ", ".join(step.spec.choice.options)
                return f"step `{d.step}` is a choice: choose one of {options}"
            if d.option not in step.spec.choice.options:
                return (
                    f"`{d.option}` is not an option of step `{d.step}` "
                    f"({', '.join(step.spec.choice.options)})"
                )
        asking = self.asking.get(d.step)
        if d.decision == "revise":
            found = self._revise_problem(d, step, asking)
            if found is not None:
                return found
        if step.people.bind:
            if asking is None:
                return (
                    f"step `{d.step}` binds decisions to the outputs of "
                    f"{', '.join(step.people.bind)}: decide once it waits, with the digest "
                    "its progress shows"
                )
            if d.digest is None:
                return (
                    f"step `{d.step}` needs the digest of what you judged (progress shows it: "
                    f"{asking.digest})"
                )
            if d.digest != asking.digest:
                return (
                    f"stale digest for step `{d.step}`: the outputs of "
                    f"{', '.join(step.people.bind)} are now {asking.digest}, not {d.digest}; "
                    "look again before deciding"
                )
        if asking is not None:
            return self._approver_problem(d, asking, d.step)
        return None

    @staticmethod
    def _revise_problem(d: Decision, step: CompiledStep, asking: Asking | None) -> str | None:
        people = step.people
        if not people.revise_loop:
            return f"step `{d.step}` has no revise loop (`revise:` in its spec)"
        if asking is None:
            return f"step `{d.step}` is not waiting: revise it once it asks"
        if asking.round >= people.max_revisions:
            return (
                f"step `{d.step}` has used its {people.max_revisions} revision"
                f"{'s' if people.max_revisions != 1 else ''}: approve or reject it"
            )
        if not d.comment.strip():
            return f"a revise decision needs feedback (the comment) for `{people.revise_loop[0]}`"
        return None

    @staticmethod
    def _approver_problem(d: Decision, asking: Asking, sid: str) -> str | None:
        if asking.approvers is None or d.via in OPERATOR_PATHS:
            return None  # any approver; operators' decisions are taken and recorded as such
        if d.by in asking.approvers:
            return None
        who = ", ".join(asking.approvers) or "nobody (the group is empty or missing)"
        return (
            f"`{d.by}` is not in approver group `{asking.group}` asked at level "
            f"{asking.level + 1} of {asking.levels} for step `{sid}` (members: {who})"
        )

    def accept(self, d: Decision) -> DecisionReceipt:
        self.inbox[d.step] = d
        asking = self.asking.get(d.step)
        return DecisionReceipt(
            step=d.step,
            decision=d.decision,
            option=d.option,
            applied=d.step in self.waiting,
            level=asking.level if asking else None,
            round=asking.round if asking else None,
        )

    def ignore(self, d: Decision, problem: str) -> None:
        """A signal cannot be refused like an update: it is kept as ignored, with why (the
        last IGNORED_SIGNALS_KEPT of them; a flood of bad signals cannot grow the state)."""
        self.ignored.append(f"{d.decision} {d.step}: {problem}")
        self.ignored_count += 1
        del self.ignored[:-IGNORED_SIGNALS_KEPT]
        workflow.logger.warning("ignored %s signal for %s: %s", d.decision, d.step, problem)

    def restore(self, sid: str, kind: str, record: DecisionRecord, state: RunState) -> None:
        """A decision taken in the run this one resumes."""
        if kind == "approval":
            self.approvals[sid] = record
            state.approvals_scope[sid] = {
                "approved": bool(record.approved),
                "by": record.by,
                "comment": record.comment,
            }
        elif kind == "choice":
            self.choices[sid] = record
            state.choices_scope[sid] = {
                "option": record.option,
                "by": record.by,
                "comment": record.comment,
            }
        else:
            self.budget[sid] = record
