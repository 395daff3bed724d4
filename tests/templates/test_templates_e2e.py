"""Every shipped template end to end on the real dev server: the workflow worker in this
process, the agent pools in a `bizos worker --pool agents` process running CrewAI on the
deterministic offline provider with the real tools. Decisions go in as a person sends them —
signals and `decide` updates — and each test checks what the run produced: statuses, the
decisions taken, and the numbers the tools computed from the run's own inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from starters.runs import decide
from tests.support import start, wait_until_waiting
from workflows.models import (
    ApprovalSignal,
    ChoiceSignal,
    Decision,
    Progress,
    RunResult,
    StepProgress,
)
from workflows.registry import SpecRegistry

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
async def client(
    workflow_client: Client, agent_pools: Path, templates_registry: SpecRegistry
) -> Client:
    return workflow_client


def example(registry: SpecRegistry, name: str, **changes: Any) -> dict[str, Any]:
    params = dict(registry.by_name(name).spec.example or {})
    params.update(changes)
    return params


async def finish(handle: WorkflowHandle[Any, Any]) -> RunResult:
    result = await handle.result()
    assert isinstance(result, RunResult)
    return result


def step_of(progress: Progress | None, sid: str) -> StepProgress:
    assert progress is not None
    return next(s for s in progress.steps if s.id == sid)


def metric(output: dict[str, Any], name: str) -> float:
    """One tool figure of an agent output (`<tool>.<metric>`), with a clear failure."""
    metrics = output["metrics"]
    assert name in metrics, f"{name} not in {sorted(metrics)}"
    return float(metrics[name])


def tools_of(output: dict[str, Any]) -> list[str]:
    """The tools whose results an output was built from (findings / variants / rows)."""
    for key, field in (("findings", "source"), ("variants", "name")):
        if key in output:
            return [entry[field] for entry in output[key]]
    return sorted({name.split(".")[0] for name in output["metrics"]})


async def test_content_creation_within_a_budget(
    client: Client, templates_registry: SpecRegistry
) -> None:
    params = example(templates_registry, "content_creation")
    # a $1.50 cap: the two promotion plans are estimated at $0.90 each, so they wait
    h = await start(client, "content_creation", params, budget_usd=1.5)
    review = step_of(await wait_until_waiting(h, "review"), "review")
    # the approval is bound to the draft and SEO report shown: the signal carries their digest
    assert review.bind == ["draft", "seo"] and review.digest is not None
    await h.signal(
        "approve",
        ApprovalSignal(step="review", by="editor", comment="ship it", digest=review.digest),
    )
    waiting = await wait_until_waiting(h, "promote")
    promote_wait = next(s for s in waiting.steps if s.id == "promote")
    assert promote_wait.waiting_for == "budget" and "$1.50 budget" in (promote_wait.prompt or "")
    await decide(client, h.id, Decision(step="promote", decision="approve", by="cfo"))
    r = await finish(h)
    assert set(r.statuses.values()) == {"succeeded"}
    assert r.approvals["review"].by == "editor" and r.approvals["review"].comment == "ship it"
    draft, seo = r.outputs["draft"], r.outputs["seo"]
    assert tools_of(draft) == ["content_draft", "readability_score", "content_quality_score"]
    assert any(p.endswith(".md") for p in draft["artifacts"])
    # SEO read the post the draft step wrote, and found both keywords in it
    assert metric(seo, "keyword_coverage.coverage_pct") == 100.0
    assert metric(seo, "keyword_coverage.words") == metric(draft, "content_draft.words")
    # creatives ran because `social` is a channel; one promotion plan per channel
    assert len(r.outputs["creatives"]["variants"]) == 2
    promote = r.outputs["promote"]
    assert len(promote) == len(params["channels"]) == 2
    assert all(metric(p, "campaign_template.budget") == 1500.0 for p in promote)


async def test_marketing_campaign(client: Client, templates_registry: SpecRegistry) -> None:
    params = example(templates_registry, "marketing_campaign")
    h = await start(client, "marketing_campaign", params)
    await wait_until_waiting(h, "launch_plan")
    receipt = await decide(client, h.id, Decision(step="launch_plan", decision="approve", by="cmo"))
    assert receipt.applied
    r = await finish(h)
    assert set(r.statuses.values()) == {"succeeded"}
    assert r.approvals["launch_plan"].by == "cmo"
    strategy, paid, email = r.outputs["strategy"], r.outputs["paid"], r.outputs["email"]
    assert metric(strategy, "feature_matrix.companies") == len(params["competitors"])
    assert metric(strategy, "okr_generator.objectives") == 1  # the launch goal became an OKR
    # the whole media budget is split over the paid channels only (email has its own step)
    assert metric(paid, "budget_allocation.budget") == params["budget"]
    spend = {k: v for k, v in paid["metrics"].items() if k.startswith("budget_allocation.spend_")}
    assert set(spend) == {
        "budget_allocation.spend_paid_search",
        "budget_allocation.spend_paid_social",
    }
    assert sum(spend.values()) == pytest.approx(params["budget"], rel=1e-6)
    assert metric(email, "email_sequence.touchpoints") == 5
    assert r.cost_usd == 0.0  # the offline provider is priced at $0, within the $8 cap


async def test_competitive_analysis(client: Client, templates_registry: SpecRegistry) -> None:
    params = example(templates_registry, "competitive_analysis")
    r = await finish(await start(client, "competitive_analysis", params))
    assert set(r.statuses.values()) == {"succeeded"}
    monitor = r.outputs["monitor"]
    assert [m["title"].split(": ", 1)[1] for m in monitor] == [
        f"{c} in {params['market']}" for c in params["competitors"]
    ]
    assert metric(r.outputs["pricing"], "pricing_table.our_price_percentile") >= 0
    assert metric(r.outputs["landscape"], "feature_matrix.companies") == len(params["competitors"])
    assert metric(r.outputs["response"], "okr_generator.objectives") == 1
    quarterly = templates_registry.by_name("competitive_analysis").spec.schedules[0]
    assert quarterly.cron == ["0 6 1 1,4,7,10 *"]


async def test_development_sprint_rejected_release(
    client: Client, templates_registry: SpecRegistry
) -> None:
    h = await start(client, "development_sprint", example(templates_registry, "development_sprint"))
    await wait_until_waiting(h, "release")
    await h.signal("reject", ApprovalSignal(step="release", by="lead", comment="needs load tests"))
    r = await finish(h)
    assert r.statuses == {
        "implement": "succeeded",
        "api_docs": "succeeded",
        "infra": "succeeded",
        "release": "rejected",
        "release_notes": "skipped",
    }
    assert r.approvals["release"].approved is False
    assert "release_notes" not in r.outputs
    implement, api_docs, infra = r.outputs["implement"], r.outputs["api_docs"], r.outputs["infra"]
    assert any(p.endswith(".py") and "/test_" in p for p in implement["artifacts"])
    # the docs are of the module the implementation step wrote, read from its file
    assert metric(api_docs, "api_docs.total") == metric(implement, "test_scaffold.covered")
    assert "from python" in api_docs["summary"]
    assert metric(infra, "terraform_generator.resources") > 0
    assert any(p.endswith(".tf") for p in infra["artifacts"])


async def test_trading_strategy_paper_only_with_risk_review(
    client: Client, templates_registry: SpecRegistry
) -> None:
    params = example(templates_registry, "trading_strategy", max_drawdown=0.05)
    h = await start(client, "trading_strategy", params)
    await wait_until_waiting(h, "go_live")
    await decide(client, h.id, Decision(step="go_live", decision="approve", by="risk-desk"))
    r = await finish(h)
    assert set(r.statuses.values()) == {"succeeded"}
    backtest = r.outputs["backtest"]
    assert metric(backtest, "backtest.strategies_tested") == 1 + len(params["alternatives"])
    # the drawdown passed the 5% limit, so the risk review ran before the approval
    assert -metric(backtest, "backtest.max_drawdown") > params["max_drawdown"]
    assert r.outputs["risk_review"]["decision"]
    # the appraisal priced the backtest's growth; analytics read its daily returns
    assert metric(r.outputs["appraisal"], "npv_irr.irr") == pytest.approx(
        metric(backtest, "backtest.cagr"), abs=1e-3
    )
    assert metric(r.outputs["analytics"], "table_analytics.rows") == 252 * params["years"]
    assert r.approvals["go_live"].by == "risk-desk"
    assert r.outputs["recommendation"]["steps"]


async def test_gaming_event_decided_before_the_approval_is_reached(
    client: Client, templates_registry: SpecRegistry
) -> None:
    params = example(templates_registry, "gaming_event")
    h = await start(client, "gaming_event", params)
    # a signal for an approval not reached yet is kept and applied when it is
    await h.signal("approve", ApprovalSignal(step="go_live", by="organiser"))
    r = await finish(h)
    assert set(r.statuses.values()) == {"succeeded"}
    assert r.approvals["go_live"].by == "organiser"
    bracket = r.outputs["bracket"]
    assert metric(bracket, "tournament_bracket.players") == len(params["players"]) == 8
    assert metric(bracket, "tournament_bracket.matches") == 14  # double elimination of 8
    assert metric(r.outputs["announcement"], "content_draft.keywords_covered") == 2
    assert metric(r.outputs["player_analytics"], "retention_cohorts.d30") > 0


async def test_customer_onboarding_routes_by_plan_tier(
    client: Client, templates_registry: SpecRegistry
) -> None:
    params = example(templates_registry, "customer_onboarding")
    enterprise = await start(client, "customer_onboarding", params)
    starter = await start(
        client, "customer_onboarding", {**params, "plan_tier": "starter", "seats": 5}
    )
    big, small = await finish(enterprise), await finish(starter)
    assert big.choices["route"].option == "white_glove" and big.choices["route"].by == "expression"
    assert big.statuses["kickoff"] == "succeeded" and big.statuses["welcome"] == "skipped"
    assert small.choices["route"].option == "self_serve"
    assert small.statuses["welcome"] == "succeeded" and small.statuses["kickoff"] == "skipped"
    for r in (big, small):
        assert r.statuses["retention"] == "succeeded"  # all_done: runs after either route
    journey = big.outputs["journey"]
    assert metric(journey, "lead_scoring.leads") == len(params["contacts"]) == 2
    assert metric(journey, "lead_scoring.grade_A") == 1  # the VP who asked for a demo
    assert metric(small.outputs["welcome"], "content_draft.keywords_covered") == 2


async def test_ecommerce_sourcing(client: Client, templates_registry: SpecRegistry) -> None:
    params = example(templates_registry, "ecommerce_sourcing")
    h = await start(client, "ecommerce_sourcing", params)
    await wait_until_waiting(h, "purchase_order")
    await decide(client, h.id, Decision(step="purchase_order", decision="approve", by="buyer"))
    r = await finish(h)
    assert set(r.statuses.values()) == {"succeeded"}
    suppliers, landed = r.outputs["suppliers"], r.outputs["landed_cost"]
    assert metric(suppliers, "supplier_scoring.suppliers") == 3
    assert "#1 Porto Protect" in suppliers["summary"]
    per_unit = metric(landed, "landed_cost.landed_cost_per_unit")
    cheapest = min(s["unit_price"] for s in params["suppliers"])
    assert per_unit > cheapest  # freight, duty and fees on top of the cheapest FOB price
    assert metric(landed, "landed_cost.total_landed_cost") == pytest.approx(
        per_unit * params["quantity"], rel=1e-3
    )
    # the negotiation costs the same order the cost analysis did
    assert metric(r.outputs["negotiation"], "landed_cost.landed_cost_per_unit") == per_unit
    assert metric(r.outputs["entry_plan"], "okr_generator.objectives") == 1


async def test_ecommerce_operations_runs_inventory_logistics_as_a_child(
    client: Client, templates_registry: SpecRegistry
) -> None:
    params = example(templates_registry, "ecommerce_operations")
    h = await start(client, "ecommerce_operations", params)
    await wait_until_waiting(h, "apply_changes")
    await h.signal("approve", ApprovalSignal(step="apply_changes", by="ops"))
    r = await finish(h)
    assert set(r.statuses.values()) == {"succeeded"}
    names = [p["name"] for p in params["products"]]
    assert [p["title"].split(": ", 1)[1] for p in r.outputs["pricing"]] == names
    assert len(r.outputs["listings"]) == 2
    child = await client.get_workflow_handle(f"{h.id}.replenishment").describe()
    assert child.workflow_type == "InventoryLogistics" and child.status is not None
    assert child.status.name == "COMPLETED"
    replenishment = r.outputs["replenishment"]
    assert metric(replenishment["reorder"], "inventory_planning.skus") == 2
    # only the battery's 35-day lead time passes the 30-day air-freight threshold
    assert [o["title"].split(": ", 1)[1] for o in replenishment["air_option"]] == [
        "VR-BATT-500 by air"
    ]


async def test_inventory_logistics(client: Client, templates_registry: SpecRegistry) -> None:
    params = example(templates_registry, "inventory_logistics")
    r = await finish(await start(client, "inventory_logistics", params))
    assert set(r.statuses.values()) == {"succeeded"}
    assert metric(r.outputs["reorder"], "inventory_planning.skus") == 3
    landed = r.outputs["landed_cost"]
    assert [o["title"].split(": ", 1)[1] for o in landed] == [s["sku"] for s in params["skus"]]
    for sku, out in zip(params["skus"], landed, strict=True):
        units = int((sku["lead_time_days"] + 30) * sku["daily_demand_mean"]) + 1
        assert f"for {units:,} units" in out["summary"]
        assert metric(out, "landed_cost.landed_cost_per_unit") > sku["unit_cost"]
    air = r.outputs["air_option"]
    assert len(air) == 1 and air[0]["title"].endswith("VR-BATT-500 by air")
    assert metric(air[0], "landed_cost.landed_cost_per_unit") > metric(
        landed[0], "landed_cost.landed_cost_per_unit"
    )


async def test_crisis_management_escalation(
    client: Client, templates_registry: SpecRegistry
) -> None:
    params = example(templates_registry, "crisis_management")
    h = await start(client, "crisis_management", params)
    await wait_until_waiting(h, "response")
    await decide(
        client,
        h.id,
        Decision(step="response", decision="choose", option="escalate", by="comms-lead"),
    )
    waiting = step_of(await wait_until_waiting(h, "statement_approval"), "statement_approval")
    # level 1 of the escalation chain; an operator's signal carries the digest of the statement
    assert (waiting.level, waiting.levels, waiting.group) == (0, 2, "comms_oncall")
    await h.signal(
        "approve", ApprovalSignal(step="statement_approval", by="ceo", digest=waiting.digest)
    )
    r = await finish(h)
    assert r.choices["response"].option == "escalate" and r.choices["response"].by == "comms-lead"
    assert r.statuses["holding_statement"] == "skipped"
    for sid in ("exec_plan", "statement_approval", "public_statement", "review"):
        assert r.statuses[sid] == "succeeded", sid
    assert metric(r.outputs["sentiment"], "sentiment_analysis.posts") == len(params["mentions"])
    assert metric(r.outputs["triage"], "moderation.messages") == len(params["mentions"])
    assert metric(r.outputs["review"], "output_review.steps") == 3
    assert metric(r.outputs["public_statement"], "content_draft.keywords_covered") >= 1


async def test_crisis_management_contained_by_signal(
    client: Client, templates_registry: SpecRegistry
) -> None:
    h = await start(client, "crisis_management", example(templates_registry, "crisis_management"))
    await wait_until_waiting(h, "response")
    await h.signal("choose", ChoiceSignal(step="response", option="contain", by="support-lead"))
    r = await finish(h)
    assert r.statuses["holding_statement"] == "succeeded"
    assert {r.statuses[s] for s in ("exec_plan", "statement_approval", "public_statement")} == {
        "skipped"
    }
    assert r.statuses["review"] == "succeeded"
    assert metric(r.outputs["holding_statement"], "content_draft.words") < 300


async def test_performance_review_reads_the_ledger_it_is_given(
    client: Client, templates_registry: SpecRegistry, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "name,budget,actual,kind\n"
        "Subscriptions,100000,112000,revenue\n"
        "Paid ads,20000,26000,cost\n"
        "Salaries,50000,50000,cost\n"
    )
    params = example(templates_registry, "performance_review", ledger_data=str(ledger))
    h = await start(client, "performance_review", params)
    await wait_until_waiting(h, "sign_off")
    await decide(client, h.id, Decision(step="sign_off", decision="approve", by="head-of-growth"))
    r = await finish(h)
    assert set(r.statuses.values()) == {"succeeded"}
    finance = r.outputs["finance"]
    assert metric(finance, "variance_analysis.lines") == 3
    assert metric(finance, "variance_analysis.revenue_variance") == 12000
    assert metric(finance, "variance_analysis.cost_variance") == 6000
    assert metric(finance, "variance_analysis.net_profit_variance") == 6000
    review = r.outputs["review"]
    assert metric(review, "output_review.steps") == 3  # marketing, finance and pipeline
    assert review["decision"]
    assert metric(r.outputs["okrs"], "okr_generator.objectives") == 1
    weekly = templates_registry.by_name("performance_review").spec.schedules[0]
    assert weekly.cron == ["0 8 * * MON"] and weekly.params["company"] == "BizOS"
