"""Work that could not be done does not pass: what a step's failed tool calls mean once the
crew has answered.

A tool is *unrecovered* when its last call failed (no later call of it succeeded). An answer
written while a tool is unrecovered stands only if a real model got past it — it used
other tools' results (at least one call succeeded) and the answer is its own reading of
them. The offline policy cannot get past a missing tool result (it fills the answer from the
results, so a failed tool leaves a hole), and an answer without a single successful call
rests on nothing: both fail the step, naming the tools and their errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from activities.agent_step.errors import ToolsFailed
from activities.contract import ToolCallRecord

MAX_LISTED_ERRORS = 5


@dataclass(frozen=True)
class ToolFailures:
    """The failed work of one attempt: the last failed call of each unrecovered tool (in
    the order they first failed) and how many calls failed since each last succeeded."""

    unrecovered: tuple[ToolCallRecord, ...] = ()
    failed_calls: int = 0
    any_succeeded: bool = False

    @property
    def tools(self) -> list[str]:
        return [r.tool for r in self.unrecovered]

    def note(self) -> str:
        """`` (2 tool calls failed: x, y)`` for the step summary; empty when none failed."""
        if not self.failed_calls:
            return ""
        calls = "call" if self.failed_calls == 1 else "calls"
        return f" ({self.failed_calls} tool {calls} failed: {', '.join(self.tools)})"


def tally(records: list[ToolCallRecord]) -> ToolFailures:
    since_success: dict[str, list[ToolCallRecord]] = {}
    for record in records:
        if record.ok:
            since_success.pop(record.tool, None)  # recovered: earlier failures are moot
        else:
            since_success.setdefault(record.tool, []).append(record)
    return ToolFailures(
        unrecovered=tuple(failed[-1] for failed in since_success.values()),
        failed_calls=sum(len(failed) for failed in since_success.values()),
        any_succeeded=any(r.ok for r in records),
    )


def check_tool_failures(records: list[ToolCallRecord], *, offline: bool) -> ToolFailures:
    """The tally when the answer may stand; `ToolsFailed` when it may not. Retryable unless
    every unrecovered failure is an input problem (then another attempt fails the same)."""
    failures = tally(records)
    if not failures.unrecovered or (failures.any_succeeded and not offline):
        return failures
    why = (
        "the offline policy cannot answer without their results"
        if offline
        else "no tool call succeeded, so the answer rests on nothing"
    )
    errors = "; ".join(f"{r.tool}: {r.summary}" for r in failures.unrecovered[:MAX_LISTED_ERRORS])
    raise ToolsFailed(
        f"tools failed ({why}): {errors}",
        retryable=any(r.retryable is not False for r in failures.unrecovered),
    )
