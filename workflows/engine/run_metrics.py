"""Runs started and ended, by template, tenant and outcome, and the run budget's 75/90/100 %
alerts: counters on the workflow's own meter.

`workflow.metric_meter()` is replay-safe (nothing is recorded while a worker replays a
history), so a run is counted once even when its workflow is evicted and rebuilt; it is the
worker runtime's meter, so the series come out of `bizos worker --metrics-port` beside the
SDK's own. Labels are bounded: template, tenant, outcome, threshold (the meter adds
namespace, task queue and workflow type). Never a workflow id.
"""

from __future__ import annotations

from collections.abc import Iterable

from temporalio import workflow

from workflows.models import BUDGET_ALERTS as BUDGET_THRESHOLDS

EXECUTIONS_STARTED = "bizos_executions_started"
EXECUTIONS = "bizos_executions"
EXECUTION_COST = "bizos_execution_cost_usd_nanos"
BUDGET_ALERTS = "bizos_run_budget_alerts"
BUDGET_ALERTS_HELP = "Runs whose spending crossed a share of their budget"
STATUSES = ("completed", "failed", "cancelled")


_zeroed: set[tuple[str, str]] = set()
"""(template, tenant) whose outcome and alert series this worker process has created at 0
(the module is passed through the sandbox: one set per process, not per run)."""


def started(template: str, tenant: str) -> None:
    meter = workflow.metric_meter()
    labels = {"template": template, "tenant": tenant}
    meter.create_counter(EXECUTIONS_STARTED, "Runs that began their steps").add(1, labels)
    # The outcome and alert series exist at 0 from a template's first run on this worker, so
    # `increase()` in the alert rules sees the first failure or alert (a series born at 1
    # has no increase). Once per template and tenant: a replay records nothing, so only a
    # live run marks them made.
    key = (template, tenant)
    if key in _zeroed:
        return
    if not workflow.unsafe.is_replaying():
        _zeroed.add(key)
    ended_counter = meter.create_counter(EXECUTIONS, "Runs ended, by outcome")
    for status in STATUSES:
        ended_counter.add(0, {**labels, "status": status})
    alerts = meter.create_counter(BUDGET_ALERTS, BUDGET_ALERTS_HELP)
    for threshold in BUDGET_THRESHOLDS:
        alerts.add(0, {**labels, "threshold": str(threshold)})


def ended(template: str, tenant: str, status: str, cost_usd: float) -> None:
    """`status`: completed, failed or cancelled; `cost_usd`: what the run spent (a parent's
    includes its child runs', which are counted under their own template too)."""
    meter = workflow.metric_meter()
    meter.create_counter(EXECUTIONS, "Runs ended, by outcome").add(
        1, {"template": template, "tenant": tenant, "status": status}
    )
    meter.create_counter(EXECUTION_COST, "What ended runs spent, in nano-dollars").add(
        max(round(cost_usd * 1e9), 0), {"template": template, "tenant": tenant}
    )


def budget_alerts(template: str, tenant: str, thresholds: Iterable[int]) -> None:
    counter = workflow.metric_meter().create_counter(BUDGET_ALERTS, BUDGET_ALERTS_HELP)
    for threshold in thresholds:
        counter.add(1, {"template": template, "tenant": tenant, "threshold": str(threshold)})
