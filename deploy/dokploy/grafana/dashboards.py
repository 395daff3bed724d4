"""The platform's Grafana dashboards, generated from code with grafana-foundation-sdk (the
build for Grafana 11.6, the version the compose file runs).

    .venv/bin/python deploy/dokploy/grafana/dashboards.py     # rewrites dashboards/*.json

The JSON files are committed so Grafana provisions them without running Python
(provisioning/dashboards.yml points at them); tests/production/test_dashboards.py fails when
they differ from what this file produces, and tests/production/test_prometheus.py runs
every panel's query against a real Prometheus scraping a running stack.

Every query reads the Prometheus datasource of uid `prometheus`
(provisioning/datasources/prometheus.yml). Metric names and labels: docs/observability.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus as gprom
from grafana_foundation_sdk.builders import stat as gstat
from grafana_foundation_sdk.builders import table as gtable
from grafana_foundation_sdk.builders import timeseries as gts
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"
RANGE = "$__range"


# ----------------------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Var:
    name: str
    label: str
    query: str  # label_values(...)


TENANT = Var("tenant", "Tenant", "label_values(bizos_executions_started_total, tenant)")
TEMPLATE = Var("template", "Template", "label_values(bizos_executions_started_total, template)")
AGENT = Var("agent", "Agent", "label_values(bizos_step_duration_seconds_count, agent)")
PROVIDER = Var("provider", "Provider", "label_values(bizos_llm_calls_total, provider)")
TASK_QUEUE = Var("task_queue", "Task queue", "label_values(bizos_task_queue_pollers, task_queue)")


def _variable(var: Var) -> gdash.QueryVariable:
    # "All" is the regex .* so every query filters with =~ and a multi-selection works too
    return (
        gdash.QueryVariable(var.name)
        .label(var.label)
        .datasource(DATASOURCE)
        .query({"query": var.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def _target(expr: str, legend: str = "__auto", ref: str = "A") -> gprom.Dataquery:
    return gprom.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


PanelBuilder = gts.Panel | gstat.Panel | gtable.Panel


def timeseries(
    title: str,
    exprs: list[tuple[str, str]],
    *,
    unit: str = "short",
    description: str = "",
    width: int = 12,
) -> gts.Panel:
    panel = (
        gts.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(width)
    )
    for i, (expr, legend) in enumerate(exprs):
        panel = panel.with_target(_target(expr, legend, chr(ord("A") + i)))
    return panel


def stat(title: str, expr: str, *, unit: str = "short", description: str = "") -> gstat.Panel:
    return (
        gstat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(6)
        .with_target(_target(expr, "__auto").instant())
    )


def table(title: str, expr: str, *, unit: str = "short", description: str = "") -> gtable.Panel:
    return (
        gtable.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(12)
        .with_target(
            _target(expr, "__auto").instant().format(PromQueryFormat.TABLE)  # a row a series
        )
    )


def dashboard(
    uid: str, title: str, description: str, variables: list[Var], panels: list[PanelBuilder]
) -> gdash.Dashboard:
    board = (
        gdash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["bizos"])
        .timezone("utc")
        .time("now-6h", "now")
        .refresh("1m")
        .readonly()
    )
    for var in variables:
        board = board.with_variable(_variable(var))
    for panel in panels:
        board = board.with_panel(panel)
    return board


def _sel(**matchers: str) -> str:
    """A label selector body: `tenant=~"$tenant",…` from keyword arguments."""
    return ",".join(f'{k}=~"{v}"' for k, v in matchers.items())


# ----------------------------------------------------------------------------- the dashboards


def agents() -> gdash.Dashboard:
    s = _sel(agent="$agent")
    step = f"bizos_step_duration_seconds_bucket{{{s}}}"
    count = f"bizos_step_duration_seconds_count{{{s}}}"
    return dashboard(
        "bizos-agents",
        "BizOS · Agent health and performance",
        "Agent steps by agent and mode: throughput, outcome, duration, provider failovers "
        "and call-journal reuse.",
        [AGENT, TENANT],
        [
            stat(
                "Step attempts (range)",
                f"sum(increase({count}[{RANGE}]))",
                description="Agent step attempts that ended in the time range",
            ),
            stat(
                "Failed attempts (range)",
                f'sum(increase(bizos_step_duration_seconds_count{{{s},outcome="failed"}}'
                f"[{RANGE}])) or vector(0)",
            ),
            stat(
                "Failovers (range)",
                f"sum(increase(bizos_provider_failovers_total[{RANGE}])) or vector(0)",
            ),
            stat(
                "Journal hits (range)",
                f'sum(increase(bizos_journal_hits_total{{{_sel(agent="$agent", tenant="$tenant")}}}'
                f"[{RANGE}])) or vector(0)",
                description="Model calls a retried attempt took from the call journal "
                "instead of paying again",
            ),
            timeseries(
                "Step attempts by agent and outcome",
                [(f"sum by (agent, outcome) (rate({count}[{RATE}]))", "{{agent}} {{outcome}}")],
                unit="ops",
            ),
            timeseries(
                "Step duration p50 / p95 by agent",
                [
                    (
                        f"histogram_quantile(0.95, sum by (le, agent) (rate({step}[{RATE}])))",
                        "p95 {{agent}}",
                    ),
                    (
                        f"histogram_quantile(0.5, sum by (le, agent) (rate({step}[{RATE}])))",
                        "p50 {{agent}}",
                    ),
                ],
                unit="s",
            ),
            timeseries(
                "Failed share of step attempts by agent",
                [
                    (
                        f'(sum by (agent) (rate(bizos_step_duration_seconds_count{{{s},'
                        f'outcome="failed"}}[{RATE}])) or sum by (agent) (rate({count}[{RATE}]))'
                        f" * 0) / sum by (agent) (rate({count}[{RATE}]))",
                        "{{agent}}",
                    )
                ],
                unit="percentunit",
            ),
            timeseries(
                "Mean step duration by agent and mode",
                [
                    (
                        f"sum by (agent, mode) (rate(bizos_step_duration_seconds_sum{{{s}}}"
                        f"[{RATE}])) / sum by (agent, mode) (rate({count}[{RATE}]))",
                        "{{agent}}/{{mode}}",
                    )
                ],
                unit="s",
            ),
            timeseries(
                "Provider failovers by provider and reason",
                [
                    (
                        f"sum by (provider, reason) (increase(bizos_provider_failovers_total"
                        f"[{RATE}]))",
                        "{{provider}} {{reason}}",
                    )
                ],
            ),
            timeseries(
                "Journal hits by agent",
                [
                    (
                        f"sum by (agent) (increase(bizos_journal_hits_total"
                        f'{{{_sel(agent="$agent", tenant="$tenant")}}}[{RATE}]))',
                        "{{agent}}",
                    )
                ],
            ),
        ],
    )


def executions() -> gdash.Dashboard:
    s = _sel(tenant="$tenant", template="$template")
    ended = f"bizos_executions_total{{{s}}}"
    return dashboard(
        "bizos-executions",
        "BizOS · Workflow executions",
        "Runs started and ended by template, tenant and outcome; the HTTP API; schedules.",
        [TENANT, TEMPLATE],
        [
            stat(
                "Runs started (range)",
                f"sum(increase(bizos_executions_started_total{{{s}}}[{RANGE}]))",
            ),
            stat("Runs ended (range)", f"sum(increase({ended}[{RANGE}]))"),
            stat(
                "Failed share (range)",
                f'(sum(increase(bizos_executions_total{{{s},status="failed"}}[{RANGE}])) '
                f"or vector(0)) / sum(increase({ended}[{RANGE}]))",
                unit="percentunit",
            ),
            stat(
                "Missed schedule actions (range)",
                f"sum(increase(bizos_schedule_missed_actions_total[{RANGE}]))",
            ),
            timeseries(
                "Runs ended by status",
                [(f"sum by (status) (increase({ended}[{RATE}]))", "{{status}}")],
            ),
            timeseries(
                "Runs started by template",
                [
                    (
                        f"sum by (template) (increase(bizos_executions_started_total{{{s}}}"
                        f"[{RATE}]))",
                        "{{template}}",
                    )
                ],
            ),
            table(
                "Runs ended by template, tenant and status (range)",
                f"sum by (template, tenant, status) (increase({ended}[{RANGE}]))",
            ),
            timeseries(
                "Workflow task schedule-to-start p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, task_queue) (rate("
                        f"temporal_workflow_task_schedule_to_start_latency_bucket[{RATE}])))",
                        "{{task_queue}}",
                    )
                ],
                unit="s",
                description="How long a run's next workflow task waits for a worker",
            ),
            timeseries(
                "API requests by status",
                [(f"sum by (status) (rate(bizos_api_requests_total[{RATE}]))", "{{status}}")],
                unit="reqps",
            ),
            timeseries(
                "API latency p95 by route",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, route) (rate("
                        f"bizos_api_request_seconds_bucket[{RATE}])))",
                        "{{route}}",
                    )
                ],
                unit="s",
            ),
            timeseries(
                "API requests refused by rate limits",
                [
                    (
                        f"sum by (tenant) (increase(bizos_api_rate_limited_total"
                        f'{{{_sel(tenant="$tenant")}}}[{RATE}]))',
                        "{{tenant}}",
                    )
                ],
            ),
            table(
                "Schedules: actions and missed actions",
                "sum by (schedule, reason) (bizos_schedule_missed_actions_total) "
                "or sum by (schedule) (bizos_schedule_actions_total)",
            ),
        ],
    )


def cost() -> gdash.Dashboard:
    t = _sel(tenant="$tenant")
    usd = f"bizos_llm_cost_usd_nanos_total{{{_sel(tenant='$tenant', agent='$agent')}}}"
    return dashboard(
        "bizos-cost",
        "BizOS · Cost per agent, template and tenant",
        "Money spent on models (USD, from the ledger's nano-dollars), per agent, template "
        "and tenant; tenants' monthly budgets; run budget alerts.",
        [TENANT, AGENT, TEMPLATE],
        [
            stat("Spend (range)", f"sum(increase({usd}[{RANGE}])) / 1e9", unit="currencyUSD"),
            stat(
                "Highest tenant budget use",
                f"max(bizos_tenant_budget_used_ratio{{{t}}})",
                unit="percentunit",
                description="This calendar month's spend over the monthly budget (exporter)",
            ),
            stat(
                "Run budget alerts (range)",
                f"sum(increase(bizos_run_budget_alerts_total{{{t}}}[{RANGE}]))",
            ),
            stat(
                "Executions refused for budget (range)",
                f"sum(increase(bizos_api_budget_refused_total{{{t}}}[{RANGE}])) or vector(0)",
            ),
            timeseries(
                "Spend by tenant",
                [(f"sum by (tenant) (increase({usd}[{RATE}])) / 1e9", "{{tenant}}")],
                unit="currencyUSD",
            ),
            timeseries(
                "Spend by agent",
                [(f"sum by (agent) (increase({usd}[{RATE}])) / 1e9", "{{agent}}")],
                unit="currencyUSD",
            ),
            table(
                "Spend by template (runs ended in range)",
                "sum by (template, tenant) (increase(bizos_execution_cost_usd_nanos_total"
                f"{{{_sel(tenant='$tenant', template='$template')}}}[{RANGE}])) / 1e9",
                unit="currencyUSD",
                description="Counted when a run ends; a parent run includes its child runs",
            ),
            table(
                "Spend by tenant and agent (range)",
                f"sum by (tenant, agent) (increase({usd}[{RANGE}])) / 1e9",
                unit="currencyUSD",
            ),
            timeseries(
                "Tenants' monthly budget use",
                [(f"bizos_tenant_budget_used_ratio{{{t}}}", "{{tenant}}")],
                unit="percentunit",
            ),
            timeseries(
                "Tenants' spend this month",
                [(f"bizos_tenant_spend_usd{{{t}}}", "{{tenant}}")],
                unit="currencyUSD",
            ),
            table(
                "Run budget alerts by template and threshold (range)",
                "sum by (template, threshold) (increase(bizos_run_budget_alerts_total"
                f"{{{t}}}[{RANGE}]))",
            ),
            table(
                "Tenant budget alerts (API, range)",
                "sum by (tenant, threshold) (increase(bizos_api_budget_alerts_total"
                f"{{{t}}}[{RANGE}]))",
            ),
        ],
    )


def llm() -> gdash.Dashboard:
    s = _sel(tenant="$tenant", provider="$provider")
    return dashboard(
        "bizos-llm",
        "BizOS · LLM usage and cost",
        "Model calls, tokens and money by provider and model; offline-policy estimates "
        "show as provider `offline`.",
        [TENANT, PROVIDER],
        [
            stat("Calls (range)", f"sum(increase(bizos_llm_calls_total{{{s}}}[{RANGE}]))"),
            stat("Tokens (range)", f"sum(increase(bizos_llm_tokens_total{{{s}}}[{RANGE}]))"),
            stat(
                "Spend (range)",
                f"sum(increase(bizos_llm_cost_usd_nanos_total{{{s}}}[{RANGE}])) / 1e9",
                unit="currencyUSD",
            ),
            stat(
                "Calls saved by the journal (range)",
                f"sum(increase(bizos_journal_hits_total{{{_sel(tenant='$tenant')}}}[{RANGE}]))"
                " or vector(0)",
            ),
            timeseries(
                "Calls by provider, model and kind",
                [
                    (
                        f"sum by (provider, model, kind) (rate(bizos_llm_calls_total{{{s}}}"
                        f"[{RATE}]))",
                        "{{provider}} {{model}} {{kind}}",
                    )
                ],
                unit="ops",
            ),
            timeseries(
                "Tokens by model and direction",
                [
                    (
                        f"sum by (model, direction) (rate(bizos_llm_tokens_total{{{s}}}"
                        f"[{RATE}]))",
                        "{{model}} {{direction}}",
                    )
                ],
            ),
            timeseries(
                "Spend by provider and model",
                [
                    (
                        f"sum by (provider, model) (increase(bizos_llm_cost_usd_nanos_total"
                        f"{{{s}}}[{RATE}])) / 1e9",
                        "{{provider}} {{model}}",
                    )
                ],
                unit="currencyUSD",
            ),
            timeseries(
                "Tokens per call by model",
                [
                    (
                        f"sum by (model) (rate(bizos_llm_tokens_total{{{s}}}[{RATE}])) / "
                        f"sum by (model) (rate(bizos_llm_calls_total{{{s}}}[{RATE}]))",
                        "{{model}}",
                    )
                ],
            ),
            table(
                "Usage by provider and model (range)",
                f"sum by (provider, model, direction) (increase(bizos_llm_tokens_total{{{s}}}"
                f"[{RANGE}]))",
            ),
            timeseries(
                "Failovers by provider and reason",
                [
                    (
                        "sum by (provider, reason) (increase(bizos_provider_failovers_total"
                        f'{{{_sel(provider="$provider")}}}[{RATE}]))',
                        "{{provider}} {{reason}}",
                    )
                ],
            ),
        ],
    )


def approvals() -> gdash.Dashboard:
    s = _sel(tenant="$tenant", template="$template")
    return dashboard(
        "bizos-approvals",
        "BizOS · Approvals",
        "Runs waiting for a person (approvals, choices, budget decisions) and how long "
        "they have waited, from the exporter.",
        [TENANT, TEMPLATE],
        [
            stat("Waiting now", f"sum(bizos_approvals_waiting{{{s}}})"),
            stat(
                "Longest wait",
                f"max(bizos_approval_oldest_wait_seconds{{{s}}})",
                unit="s",
            ),
            timeseries(
                "Waiting by template and step",
                [
                    (
                        f"sum by (template, step) (bizos_approvals_waiting{{{s}}})",
                        "{{template}} {{step}}",
                    )
                ],
                width=24,
            ),
            timeseries(
                "Longest wait by template and step",
                [
                    (
                        f"max by (template, step) (bizos_approval_oldest_wait_seconds{{{s}}})",
                        "{{template}} {{step}}",
                    )
                ],
                unit="s",
                width=24,
            ),
            table(
                "Waiting by tenant, template and step",
                f"sum by (tenant, template, step) (bizos_approvals_waiting{{{s}}})",
            ),
            table(
                "Longest wait by tenant, template and step",
                f"max by (tenant, template, step) (bizos_approval_oldest_wait_seconds{{{s}}})",
                unit="s",
            ),
        ],
    )


def workers() -> gdash.Dashboard:
    q = _sel(task_queue="$task_queue")
    return dashboard(
        "bizos-workers",
        "BizOS · Worker pools and task queues",
        "Pollers and backlog per task queue (exporter), worker slots and latencies (SDK), "
        "and whether every scrape target is up.",
        [TASK_QUEUE],
        [
            stat(
                "Task queues without pollers",
                f"count(bizos_task_queue_pollers{{{q}}} == 0) or vector(0)",
            ),
            stat("Backlog", f"sum(bizos_task_queue_backlog{{{q}}})"),
            stat("Targets up", 'sum(up{job=~"bizos.*"})'),
            stat(
                "Exporter poll age",
                "time() - max(bizos_exporter_last_poll_timestamp_seconds)",
                unit="s",
            ),
            timeseries(
                "Pollers by task queue",
                [(f"bizos_task_queue_pollers{{{q}}}", "{{task_queue}} {{type}}")],
            ),
            timeseries(
                "Backlog by task queue",
                [(f"bizos_task_queue_backlog{{{q}}}", "{{task_queue}} {{type}}")],
            ),
            timeseries(
                "Oldest waiting task by task queue",
                [(f"bizos_task_queue_backlog_age_seconds{{{q}}}", "{{task_queue}} {{type}}")],
                unit="s",
            ),
            timeseries(
                "Free task slots by worker",
                [
                    (
                        "sum by (task_queue, worker_type) "
                        f"(temporal_worker_task_slots_available{{{q}}})",
                        "{{task_queue}} {{worker_type}}",
                    )
                ],
            ),
            timeseries(
                "Activity schedule-to-start p95 by task queue",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, task_queue) (rate("
                        f"temporal_activity_schedule_to_start_latency_bucket{{{q}}}[{RATE}])))",
                        "{{task_queue}}",
                    )
                ],
                unit="s",
            ),
            timeseries(
                "Activity execution p95 by activity type",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, activity_type) (rate("
                        f"temporal_activity_execution_latency_bucket{{{q}}}[{RATE}])))",
                        "{{activity_type}}",
                    )
                ],
                unit="s",
            ),
            timeseries(
                "Scrape targets up by job",
                [('sum by (job) (up{job=~"bizos.*"})', "{{job}}")],
            ),
            timeseries(
                "Exporter errors by source",
                [
                    (
                        f"sum by (source) (increase(bizos_exporter_errors_total[{RATE}]))",
                        "{{source}}",
                    )
                ],
            ),
        ],
    )


DASHBOARDS: dict[str, Callable[[], gdash.Dashboard]] = {
    "agents.json": agents,
    "executions.json": executions,
    "cost.json": cost,
    "llm.json": llm,
    "approvals.json": approvals,
    "workers.json": workers,
}


def render(board: gdash.Dashboard) -> str:
    """Stable JSON text: the test compares it with the committed file byte for byte."""
    data = json.loads(JSONEncoder().encode(board.build()))
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(make()) for name, make in DASHBOARDS.items()}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
