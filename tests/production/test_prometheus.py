"""Metrics checked for real: a running stack — a `bizos worker` process with its metrics
port, the HTTP API on uvicorn, `bizos exporter` — after some runs (one left waiting for a
person, one failing, offline runs of a template and of a single agent priced as a real
model, one on a provider chain that fails over and reuses a paid call from the journal, a
rate-limited burst, an execution refused for budget), scraped by Debian's `prometheus`. The platform's series are there with the numbers the store has; every
dashboard panel's query returns series; the alert rules pass `promtool`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleSpec
from temporalio.client import ScheduleState as TemporalScheduleState
from temporalio.testing import WorkflowEnvironment

from activities.contract import AgentStepResult
from api.app import create_app
from api.limits import RateLimiter, TenantLimits
from api.settings import ApiSettings
from starters.runs import start_run
from store import Store, StoreSettings
from tests.agents.openai_double import Fail, OpenAIDouble, Reply, default_react
from tests.conftest import namespace_client, server_address
from tests.production.dashboard_queries import (
    PROMETHEUS,
    REPO,
    panel_queries,
    variable_queries,
)
from tests.production.prometheus_support import (
    bizos,
    environ,
    free_port,
    instant,
    running_prometheus,
    stop,
    value,
)
from tests.support import eventually
from workflows.models import Progress, RunInput
from workflows.registry import default_registry, load_registry, set_registry

NAMESPACE = "isolated-metrics"
POOLS = "workflows,intelligence,system"
SPEC_DIRS = [
    REPO / "dag_specs",
    REPO / "tests" / "specs",
    REPO / "tests" / "templates" / "specs",
    Path(__file__).parent / "specs",
]
PRICE_IN, PRICE_OUT = 2.5, 10.0  # USD per million tokens on the test double's links
TENANT = "acme"
MONTHLY_BUDGET = 0.001  # spent by the first priced run: the API's budget alerts speak


def _link(double: OpenAIDouble, endpoint: str) -> dict[str, object]:
    return {
        "provider": "openai_compatible",
        "model": f"model-{endpoint}",
        "base_url": double.base_url(endpoint),
        "price_in_per_mtok": PRICE_IN,
        "price_out_per_mtok": PRICE_OUT,
        "timeout_s": 5,
    }


def _script_failover_then_journal(double: OpenAIDouble) -> None:
    """Attempt 1: call 1 fails over from a to b (paid); call 2 finds both down, the attempt
    fails. Attempt 2: call 1 comes from the journal; call 2 fails over again and b answers."""
    final = {
        "title": "Electric bikes in the EU",
        "summary": "A growing market sized top-down and bottom-up.",
        "findings": [{"title": "market size", "detail": "see tool", "source": "market_sizing"}],
    }
    replier = default_react("market_sizing", {"market": "electric bikes"}, final)
    for ep in ("a", "b"):
        double.configure(ep, replier=replier)
    double.configure("a", script=[Fail(500), Fail(500), Fail(500)])
    double.configure("b", script=[Reply(), Fail(500)])


@dataclass
class Stack:
    client: Client
    store: Store
    http: httpx.AsyncClient
    api: str
    keys: dict[str, str]
    prometheus: str


@asynccontextmanager
async def running_stack(env: WorkflowEnvironment, tmp: Path) -> AsyncIterator[Stack]:
    home = tmp / "home"
    double = OpenAIDouble().start()
    _script_failover_then_journal(double)
    store = await Store.open(StoreSettings(home=home))  # migrated before the workers start
    await store.create_tenant(TENANT, name="Acme", monthly_budget_usd=MONTHLY_BUDGET)
    keys = {}
    for role in ("operator", "viewer"):
        _, keys[role] = await store.create_key(TENANT, f"{role}@{TENANT}", role)
    ports = {"bizos-workers": free_port(), "bizos-api": free_port(), "bizos-exporter": free_port()}
    env_vars = environ(
        TEMPORAL_ADDRESS=server_address(env),
        TEMPORAL_NAMESPACE=NAMESPACE,
        BIZOS_HOME=str(home),
        BIZOS_SPEC_DIRS=":".join(str(d) for d in SPEC_DIRS),
        BIZOS_PROVIDERS_MARKET_RESEARCH=json.dumps([_link(double, "a"), _link(double, "b")]),
    )
    worker = bizos(
        # the pools these runs use (one process: a deployment runs one per pool)
        ["worker", "--pool", POOLS, "--metrics-port", str(ports["bizos-workers"])],
        env_vars,
        home / "worker.log",
    )
    exporter = bizos(
        ["exporter", "--port", str(ports["bizos-exporter"]), "--interval", "0.5"],
        env_vars,
        home / "exporter.log",
    )
    client = await namespace_client(env, NAMESPACE)
    app = create_app(
        ApiSettings(wait_timeout_s=15),
        store=store,
        temporal=client,
        # a small per-key limit, so a burst of reads is refused as a user would see it
        limiter=RateLimiter(
            None, defaults=TenantLimits(per_tenant_per_minute=1000, per_key_per_minute=4)
        ),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=ports["bizos-api"], lifespan="off", log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    previous = default_registry()
    set_registry(load_registry(SPEC_DIRS))
    try:
        # Prometheus scrapes from the start, as in production: the runs happen under it.
        with running_prometheus(tmp, ports) as prom:
            async with httpx.AsyncClient(timeout=10) as http:
                try:
                    await eventually(lambda: _up(http, ports, prom), timeout_s=60, what="/metrics")
                except AssertionError as e:
                    raise AssertionError(f"{e}\n{_logs(home)}") from None
                api = f"http://127.0.0.1:{ports['bizos-api']}"
                yield Stack(client, store, http, api, keys, prom)
    finally:
        set_registry(previous)
        server.should_exit = True
        await serving
        stop(exporter)
        stop(worker)
        await store.close()
        double.stop()


def _logs(home: Path) -> str:
    """The last lines of the worker's and the exporter's logs, for a failure message."""
    return "\n".join(
        f"--- {p.name}:\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
        for p in sorted(home.glob("*.log"))
    )


async def _up(http: httpx.AsyncClient, ports: dict[str, int], prometheus: str) -> bool:
    """Every process serves /metrics and Prometheus is ready."""
    urls = [f"http://127.0.0.1:{port}/metrics" for port in ports.values()]
    for url in [*urls, f"{prometheus}/-/ready"]:
        try:
            if (await http.get(url)).status_code != 200:
                return False
        except httpx.TransportError:
            return False
    return True


async def _start(stack: Stack, template: str, params: dict[str, Any], **run: Any) -> str:
    dag = default_registry().by_name(template)
    run_input = RunInput(params=params, tenant=TENANT, **run)
    handle = await start_run(stack.client, dag, run_input, key=uuid.uuid4().hex[:12])
    return handle.id


async def _progress(stack: Stack, workflow_id: str) -> Progress:
    handle = stack.client.get_workflow_handle(workflow_id)
    return await handle.query("progress", result_type=Progress)


async def _settled(stack: Stack, runs: dict[str, str]) -> bool:
    """Every run ended or waits for a person."""
    for wid in runs.values():
        p = await _progress(stack, wid)
        if p.status == "running" and not p.waiting:
            return False
    return True


async def _do_some_runs(stack: Stack) -> dict[str, str]:
    operator = {"Authorization": f"Bearer {stack.keys['operator']}"}
    viewer = {"Authorization": f"Bearer {stack.keys['viewer']}"}
    # Over HTTP: research priced as gpt-4o, then an approval nobody gives.
    resp = await stack.http.post(
        f"{stack.api}/v1/workflows/cost_probe/execute",
        json={"params": {"topic": "electric bikes"}, "price_as": "openai:gpt-4o"},
        headers=operator,
    )
    assert resp.status_code in (200, 201, 202), resp.text
    runs = {"waiting": resp.json()["execution_id"]}
    # One agent on its own (the single-agent workflow), priced the same way.
    resp = await stack.http.post(
        f"{stack.api}/v1/agents/market_research/execute",
        json={
            "mode": "marketing_research",
            "inputs": {"topic": "cargo bikes", "region": "EU"},
            "price_as": "openai:gpt-4o",
        },
        headers=operator,
    )
    assert resp.status_code == 202, resp.text
    agent_run = stack.client.get_workflow_handle(
        resp.json()["execution_id"], result_type=AgentStepResult
    )
    runs["failing"] = await _start(stack, "metrics_failing", {})
    runs["budgeted"] = await _start(stack, "budgeted", {})
    runs["completed"] = await _start(stack, "sched_echo", {"team": "growth"})
    runs["chain"] = await _start(stack, "metrics_probe", {"topic": "electric bikes"})
    await stack.client.create_schedule(
        f"sched_echo.yearly.{uuid.uuid4().hex[:8]}",
        Schedule(
            action=ScheduleActionStartWorkflow(
                "SchedEcho",
                {"params": {"team": "growth"}, "tenant": TENANT},
                id=f"{TENANT}.sched_echo.scheduled",
                task_queue="bizos-workflows",
            ),
            spec=ScheduleSpec(cron_expressions=["0 4 1 1 *"]),
            state=TemporalScheduleState(paused=True, note="test: never fires"),
        ),
    )
    await eventually(lambda: _settled(stack, runs), timeout_s=40, what="the runs to settle")
    assert (await asyncio.wait_for(agent_run.result(), timeout=40)).cost_usd > 0
    runs["agent"] = agent_run.id
    # A burst of reads on one key: the fifth is refused (limit 4 a minute).
    statuses = [
        (await stack.http.get(f"{stack.api}/v1/approvals", headers=viewer)).status_code
        for _ in range(5)
    ]
    assert statuses[:4] == [200] * 4 and statuses[4] == 429, statuses
    # The month's spend is past the tenant's budget: the next execution is refused.
    resp = await stack.http.post(
        f"{stack.api}/v1/workflows/sched_echo/execute",
        json={"params": {"team": "growth"}},
        headers=operator,
    )
    assert resp.status_code == 402, resp.text
    return runs


async def _ledger_nanos(stack: Stack, workflow_ids: list[str]) -> int:
    total = 0
    for wid in workflow_ids:
        total += (await stack.store.ledger_totals(wid)).usd_nanos
    return total


@pytest.mark.timeout(120)
async def test_prometheus_scrapes_the_stack_and_every_dashboard_query_returns_series(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(temporal_env, tmp_path) as stack:
        runs = await _do_some_runs(stack)
        assert (await _progress(stack, runs["failing"])).status == "failed"
        assert (await _progress(stack, runs["completed"])).status == "completed"
        assert (await _progress(stack, runs["chain"])).status == "completed"
        assert "review" in (await _progress(stack, runs["waiting"])).waiting

        http, prom = stack.http, stack.prometheus
        queries = panel_queries()

        async def every_panel_has_series() -> bool:
            for q in queries:
                if not await instant(http, prom, q.expr):
                    return False
            return True

        # Scraped enough for every rate() window: polled, never slept for.
        try:
            await eventually(every_panel_has_series, timeout_s=30, what="panel series")
        except AssertionError:
            empty = [
                f"{q.dashboard} / {q.panel}: {q.expr}"
                for q in queries
                if not await instant(http, prom, q.expr)
            ]
            raise AssertionError("panels without series:\n" + "\n".join(empty)) from None

        # and each dashboard variable offers values to pick from
        for metric, label in variable_queries():
            resp = await http.get(
                f"{prom}/api/v1/label/{label}/values", params={"match[]": metric}
            )
            assert resp.json()["data"], f"label_values({metric}, {label}) is empty"

        targets = (await http.get(f"{prom}/api/v1/targets")).json()["data"]
        assert {t["health"] for t in targets["activeTargets"]} == {"up"}

        # The numbers a person reads on the dashboards are the platform's own (polled until
        # the scrape after the last change is in).
        by = f'tenant="{TENANT}"'
        # USD: exactly what the ledger holds for the priced runs and the provider-chain run
        ledger = await _ledger_nanos(stack, [runs["waiting"], runs["agent"], runs["chain"]])
        assert ledger > 0
        expected = {
            f'sum(bizos_executions_total{{{by},template="metrics_failing",status="failed"}})': 1,
            f'sum(bizos_executions_total{{{by},template="sched_echo",status="completed"}})': 1,
            f'sum(bizos_executions_total{{{by},template="agent.market_research",'
            'status="completed"})': 1,
            f'sum(bizos_run_budget_alerts_total{{{by},template="budgeted",threshold="75"}})': 1,
            f'sum(bizos_llm_cost_usd_nanos_total{{{by},agent="market_research"}})': ledger,
            'sum(bizos_provider_failovers_total{provider="openai_compatible",model="model-a"})': 3,
            f"sum(bizos_journal_hits_total{{{by}}})": 1,
            f'sum(bizos_approvals_waiting{{{by},template="cost_probe",step="review"}})': 1,
            f'sum(bizos_approvals_waiting{{{by},template="budgeted",step="second"}})': 1,
            'sum(bizos_task_queue_pollers{task_queue="bizos-workflows",type="workflow"})': 1,
            f"sum(bizos_api_rate_limited_total{{{by}}})": 1,
            f'sum(bizos_api_budget_alerts_total{{{by},threshold="100"}})': 1,
            f"sum(bizos_api_budget_refused_total{{{by}}})": 1,
        }

        async def mismatches() -> dict[str, object]:
            return {
                expr: got
                for expr, want in expected.items()
                if (got := await value(http, prom, expr)) != want
            }

        async def all_match() -> bool:
            return not await mismatches()

        try:
            await eventually(all_match, timeout_s=15, what="the platform's numbers")
        except AssertionError:
            raise AssertionError(f"expected {expected}, differ: {await mismatches()}") from None
        # The rules load and evaluate on the live series: the spent budget pages.
        async def budget_alert_firing() -> bool:
            rules = (await http.get(f"{prom}/api/v1/rules")).json()["data"]["groups"]
            assert all(r["health"] != "err" for g in rules for r in g["rules"]), rules
            alerts = (await http.get(f"{prom}/api/v1/alerts")).json()["data"]["alerts"]
            return any(
                a["labels"]["alertname"] == "BizosTenantBudget100"
                and a["labels"].get("tenant") == TENANT
                and a["state"] == "firing"
                for a in alerts
            )

        await eventually(budget_alert_firing, timeout_s=15, what="BizosTenantBudget100 firing")
        ratio = await value(http, prom, f"max(bizos_tenant_budget_used_ratio{{{by}}})")
        spent = await value(http, prom, f"max(bizos_tenant_spend_usd{{{by}}})")
        assert ratio is not None and spent is not None
        assert ratio == pytest.approx(spent / MONTHLY_BUDGET) and ratio > 1


def test_alert_rules_pass_promtool_and_every_alert_fires_and_resolves() -> None:
    rules = sorted(str(p) for p in (PROMETHEUS / "rules").glob("*.yml"))
    check = subprocess.run(
        ["promtool", "check", "rules", *rules], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", str(PROMETHEUS / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert config.returncode == 0, config.stdout + config.stderr
    fixtures = sorted(str(p) for p in (PROMETHEUS / "tests").glob("*.yml"))
    tested = subprocess.run(
        ["promtool", "test", "rules", *fixtures], capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # every alert the rules define appears in a fixture that expects it to fire
    defined = {
        line.split("alert:")[1].strip()
        for path in rules
        for line in Path(path).read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    fired: set[str] = set()
    resolved: set[str] = set()
    for path in fixtures:
        for test in yaml.safe_load(Path(path).read_text())["tests"]:
            cases = sorted(test.get("alert_rule_test", []), key=lambda c: _minutes(c["eval_time"]))
            for case in cases:
                name = case["alertname"]
                if case.get("exp_alerts"):
                    fired.add(name)
                elif name in fired:
                    resolved.add(name)  # silent again after it fired
    assert defined == fired, f"alerts never made to fire: {sorted(defined - fired)}"
    assert defined == resolved, f"alerts never seen to resolve: {sorted(defined - resolved)}"


def _minutes(duration: str) -> float:
    """promtool's eval_time (`90m`, `2h30m`) in minutes."""
    total, number = 0.0, ""
    for ch in duration:
        if ch.isdigit():
            number += ch
        else:
            total += int(number) * {"s": 1 / 60, "m": 1, "h": 60}[ch]
            number = ""
    return total

