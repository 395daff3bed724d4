"""`bizos specs cost`: a template's cost per step before a cent is spent — a real run on the
offline policy (agent pools in their own process), every wait decided, token estimates
priced as real models — as a table and as JSON, beside the catalog's static estimate."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.providers.prices import PRICES
from starters.runs import ESTIMATE_MEMO_KEY
from store import Store, StoreSettings
from tests.templates.conftest import REPO, SPEC_DIRS, cli_env
from workflows.registry import SpecRegistry

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def client(
    workflow_client: Client, agent_pools: Path, templates_registry: SpecRegistry
) -> Client:
    return workflow_client


def _bizos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=240,
    )


def _env(temporal_env: WorkflowEnvironment, home: Path) -> dict[str, str]:
    env = cli_env(
        temporal_env,
        BIZOS_HOME=str(home),  # the agent pools' store: the CLI reads their ledger
        BIZOS_SPEC_DIRS=os.pathsep.join(str(p) for p in SPEC_DIRS),
        COLUMNS="220",  # the text table at a wide terminal's width, unwrapped
    )
    env.pop("BIZOS_DATABASE_URL", None)
    return env


async def test_specs_cost_prices_a_real_offline_run_per_step(
    client: Client, temporal_env: WorkflowEnvironment, agent_pools: Path
) -> None:
    env = _env(temporal_env, agent_pools)
    label = "openai:gpt-4o-mini"
    out = await asyncio.to_thread(
        _bizos, env, "specs", "cost", "cost_probe", "--price-as", label, "-o", "json"
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    est = json.loads(out.stdout)
    assert est["estimate"] is True and est["status"] == "completed" and est["error"] is None
    wid = est["workflow_id"]
    assert wid.startswith("default.cost_probe.estimate-")
    steps = {s["step"]: s for s in est["steps"]}
    assert list(steps) == ["research", "review", "follow_up", "docs", "note"]

    # Every wait was decided; the choice took its default, not its first option.
    decided = {d["step"]: d for d in est["decisions"]}
    assert decided["review"]["decision"] == "approve"
    assert decided["follow_up"]["option"] == "document"
    assert steps["docs"]["status"] == "succeeded"

    price = PRICES[label]
    for sid, agent_mode in (
        ("research", "market_research/marketing_research"),
        ("docs", "technical_documentation/api_documentation"),
    ):
        s = steps[sid]
        assert s["what"] == agent_mode and s["priced_as"] == [label]
        assert s["calls"] >= 2 and s["tokens_in"] > 0 and s["tokens_out"] > 0
        expected = (
            Decimal(str(price.in_per_mtok)) * s["tokens_in"]
            + Decimal(str(price.out_per_mtok)) * s["tokens_out"]
        ) / 1_000_000
        assert s["usd"] == pytest.approx(float(expected), abs=1e-9) and s["usd"] > 0
        # what the workflow's budget counted is the same money
        assert s["run_cost_usd"] == pytest.approx(s["usd"], abs=1e-6)
        assert s["catalog_estimate_usd"] > 0
    for sid in ("review", "follow_up", "note"):
        assert steps[sid]["calls"] == 0 and steps[sid]["usd"] == 0
    total = est["total"]
    assert total["calls"] == steps["research"]["calls"] + steps["docs"]["calls"]
    assert total["usd"] == pytest.approx(steps["research"]["usd"] + steps["docs"]["usd"])
    assert total["catalog_estimate_usd"] == pytest.approx(
        sum(s["catalog_estimate_usd"] for s in est["steps"])
    )

    # The run is marked as an estimate, and the ledger says what it was priced as.
    desc = await client.get_workflow_handle(wid).describe()
    assert (await desc.memo())[ESTIMATE_MEMO_KEY] == {"price_as": label}
    store = await Store.open(StoreSettings(home=agent_pools))
    try:
        rows = await store.ledger_entries(wid)
        # ... and it spent nothing: the tenant's cost reports and monthly budget leave it out
        tenant = wid.split(".")[0]
        assert await store.costs_by(tenant, "template") == []
    finally:
        await store.close()
    assert rows and {(r.provider, r.priced_as) for r in rows} == {("offline", label)}
    assert sum(r.usd_nanos for r in rows) / 1e9 == pytest.approx(total["usd"])


async def test_specs_cost_text_table_defaults_to_each_agents_first_provider(
    client: Client, temporal_env: WorkflowEnvironment, agent_pools: Path
) -> None:
    env = _env(temporal_env, agent_pools)
    out = await asyncio.to_thread(_bizos, env, "specs", "cost", "cost_probe")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "estimated cost of cost_probe v1" in text
    for word in ("step", "agent/mode", "calls", "tokens in", "tokens out", "USD", "catalog est."):
        assert word in text
    # `chain`: research as market_research's first provider, docs as its own agent's
    assert "openai:gpt-4o-mini" in text and "anthropic:claude-sonnet-4-5" in text
    total = next(line for line in text.splitlines() if line.strip("│ ").startswith("total"))
    assert "$0.0" in total and "$0.000000" not in total
    assert "no model was called" in text

    bad = await asyncio.to_thread(
        _bizos, env, "specs", "cost", "cost_probe", "--price-as", "openai:gpt-9"
    )
    assert bad.returncode == 1 and "openai:gpt-9" in bad.stderr and "gpt-4o-mini" in bad.stderr


async def test_agents_run_price_as_reports_the_priced_estimate(
    client: Client, temporal_env: WorkflowEnvironment, agent_pools: Path
) -> None:
    env = _env(temporal_env, agent_pools)
    label = "openai:gpt-4o"
    out = await asyncio.to_thread(
        _bizos, env, "agents", "run", "market_research", "marketing_research",
        "-i", json.dumps({"topic": "electric bikes"}), "--price-as", label, "-o", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(out.stdout)["result"]
    assert result["provider"] == "offline" and f"priced as {label}" in result["summary"]
    price = PRICES[label]
    expected = (
        Decimal(str(price.in_per_mtok)) * result["tokens_in"]
        + Decimal(str(price.out_per_mtok)) * result["tokens_out"]
    ) / 1_000_000
    assert result["cost_usd"] == pytest.approx(float(expected), abs=1e-9) and expected > 0


async def test_start_price_as_sets_the_runs_price_as_and_marks_it(
    client: Client, temporal_env: WorkflowEnvironment, agent_pools: Path
) -> None:
    env = _env(temporal_env, agent_pools)
    label = "openai:gpt-4o-mini"
    args = ["start", "cost_probe", "-p", '{"topic": "tea"}', "--price-as", label, "-o", "json"]
    out = await asyncio.to_thread(_bizos, env, *args)
    assert out.returncode == 0, out.stderr
    handle = client.get_workflow_handle(json.loads(out.stdout)["workflow_id"])
    try:
        desc = await handle.describe()
        assert (await desc.memo())[ESTIMATE_MEMO_KEY] == {"price_as": label}
        first = (await handle.fetch_history()).events[0]
        payload = first.workflow_execution_started_event_attributes.input.payloads[0]
        assert json.loads(payload.data)["price_as"] == label
    finally:
        await handle.cancel()
    bad = await asyncio.to_thread(_bizos, env, *args[:-4], "--price-as", "gpt-4o-mini")
    assert bad.returncode == 1 and "gpt-4o-mini" in bad.stderr
