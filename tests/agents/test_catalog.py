"""The agent catalog: the twenty agents of DESIGN §5 in their pools, complete entries, and
errors that name file, agent and mode."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.catalog import CONNECTORS, CatalogError, default_catalog, load_catalog
from activities.catalog.output_models import OUTPUT_MODELS

# DESIGN §5: category = pool, and the modes it names (others are ours, four per agent).
DESIGN = {
    "market_research": (
        "intelligence",
        ["marketing_research", "competitive_analysis", "industry_trends", "customer_insights"],
    ),
    "data_analytics": (
        "intelligence",
        ["marketing_analytics", "financial_analytics", "trading_analytics", "gaming_analytics"],
    ),
    "strategic_planning": (
        "intelligence",
        ["business_strategy", "product_strategy", "technology_strategy", "trading_strategy"],
    ),
    "competitive_intelligence": (
        "intelligence",
        ["competitor_monitoring", "pricing_intelligence", "product_teardown", "win_loss_analysis"],
    ),
    "content_generation": (
        "content",
        ["marketing_content", "technical_content", "product_content", "gaming_content"],
    ),
    "creative_design": (
        "content",
        ["marketing_creatives", "brand_assets", "ui_ux_design", "game_assets"],
    ),
    "campaign_orchestration": (
        "marketing",
        ["paid_advertising", "email_marketing", "social_media_marketing", "affiliate_marketing"],
    ),
    "seo_optimization": ("marketing", ["on_page_seo", "technical_seo", "content_seo", "local_seo"]),
    "code_generation": ("technical", []),
    "devops_automation": ("technical", []),
    "technical_documentation": ("technical", []),
    "customer_engagement": ("customer", []),
    "sales_intelligence": ("customer", []),
    "financial_analytics": ("finance", []),
    "trading_strategy": (
        "finance",
        ["strategy_design", "backtesting", "risk_management", "signal_generation"],
    ),
    "gaming_experience": (
        "gaming",
        ["player_analytics", "game_balancing", "event_design", "tournament_management"],
    ),
    "community_management": ("gaming", []),
    "ecommerce_sourcing": ("commerce", []),
    "ecommerce_operations": ("commerce", []),
    "master_orchestrator": (
        "orchestration",
        ["planning", "delegation", "review", "crisis_coordination"],
    ),
}
# Seed "Testing Criteria": cost per execution caps.
SEED_COST_CAPS = {
    "market_research": 0.75,
    "data_analytics": 0.50,
    "strategic_planning": 1.00,
    "creative_design": 1.50,
    "campaign_orchestration": 2.00,
    "seo_optimization": 0.75,
    "trading_strategy": 1.00,
    "gaming_experience": 0.50,
}

GOOD_AGENT = """
id: sample
name: Sample
category: intelligence
role: r
goal: g
backstory: b
tools: [page_analysis]
providers: [openai:gpt-4o-mini]
modes:
  one: {output: report, task: "t {topic}", offline_plan: [{tool: page_analysis}]}
  two: {output: plan, task: t, offline_plan: [{tool: page_analysis}]}
  three: {output: table, task: t, offline_plan: [{tool: page_analysis}]}
  four: {output: decision, task: t, offline_plan: [{tool: page_analysis}]}
"""


def test_the_twenty_agents_of_the_design_are_in_their_pools_with_four_modes() -> None:
    catalog = default_catalog()
    agents = {a.id: a for a in catalog if a.category != "system"}
    assert set(agents) == set(DESIGN)
    for agent_id, (category, named_modes) in DESIGN.items():
        agent = agents[agent_id]
        assert agent.category == category, agent_id
        assert len(agent.modes) == 4, agent_id
        assert set(named_modes) <= set(agent.modes), agent_id
        for mode_name, mode in agent.modes.items():
            assert mode.output in OUTPUT_MODELS, (agent_id, mode_name)
            assert all(step.tool not in CONNECTORS for step in mode.offline_plan)
            assert catalog.cost_estimate(agent_id, mode_name) > 0


def test_cost_estimates_stay_within_the_seed_budgets() -> None:
    catalog = default_catalog()
    over = [
        f"{a}/{m}: {catalog.cost_estimate(a, m)}"
        for a, cap in SEED_COST_CAPS.items()
        for m in catalog.get(a).modes
        if catalog.cost_estimate(a, m) > cap
    ]
    assert not over


def test_content_generation_offers_seven_tones() -> None:
    assert len(default_catalog().get("content_generation").tones) == 7


def test_every_catalog_tool_is_in_the_tool_registry(registry_snapshot: frozenset[str]) -> None:
    """Checked against what `activities.tools` registers by itself (no test stand-ins)."""
    problems = default_catalog().unknown_tools(registry_snapshot)
    assert not problems, "\n".join(problems[:20]) + f"\n… {len(problems)} in all"


def test_the_built_in_noop_agent_needs_no_persona() -> None:
    noop = default_catalog().get("noop")
    assert noop.category == "system" and noop.role is None
    assert default_catalog().cost_estimate("noop", "priced") == 0.5


def test_default_timeout_comes_from_the_mode_else_the_agent(tmp_path: Path) -> None:
    text = GOOD_AGENT.replace("modes:\n", "timeout: 10m\nmodes:\n").replace(
        "two: {", "two: {timeout: 1h30m, "
    )
    (tmp_path / "sample.yaml").write_text(text)
    catalog = load_catalog(tmp_path)
    assert catalog.default_timeout("sample", "one") == timedelta(minutes=10)
    assert catalog.default_timeout("sample", "two") == timedelta(hours=1, minutes=30)
    (tmp_path / "sample.yaml").write_text(GOOD_AGENT)
    assert load_catalog(tmp_path).default_timeout("sample", "one") is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("one: {", "one: {colour: red, "),
            ["mode one", "colour", "Extra inputs are not permitted"],
        ),
        (("four: {output: decision, task: t, ", "four: {output: decision, "), ["four: no task"]),
        (("tools: [page_analysis]", "tools: [page_analysis, semrush]"), None),
        (
            (
                'one: {output: report, task: "t {topic}", offline_plan: [{tool: page_analysis}]}',
                "one: {output: report, task: t, offline_plan: [{tool: semrush}]}",
            ),
            ["mode one", "semrush", "connectors"],
        ),
        (
            ("  four: {output: decision, task: t, offline_plan: [{tool: page_analysis}]}\n", ""),
            ["has 3 modes"],
        ),
        (("output: plan", "output: essay"), ["mode two", "output"]),
        (("[openai:gpt-4o-mini]", "[openai]"), ["providers"]),
        (("two: {", "two: {timeout: soon, "), ["mode two", "timeout", "not a duration"]),
    ],
)
def test_invalid_agent_files_are_refused_naming_file_agent_and_mode(
    tmp_path: Path, change: tuple[str, str], expected: list[str] | None
) -> None:
    old, new = change
    assert old in GOOD_AGENT
    (tmp_path / "sample.yaml").write_text(GOOD_AGENT.replace(old, new))
    if expected is None:  # connectors are fine in the toolbox (real models may call them)
        assert "semrush" in load_catalog(tmp_path).get("sample").tools
        return
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "sample.yaml") in message and "agent sample" in message
    for part in expected:
        assert part in message


def test_catalog_and_cli_stay_light() -> None:
    code = (
        "import sys, activities.catalog, starters.agents_cmd, activities.catalog.output_models;"
        "heavy = [m for m in ('crewai', 'sqlalchemy', 'openai', 'pandas') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_agents_cli_lists_and_shows_agents_in_every_output_format() -> None:
    from starters.agents_cmd import agents_app

    runner = CliRunner()
    listed = runner.invoke(agents_app, ["list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert {r["id"] for r in rows} == set(DESIGN) | {"noop"}
    assert next(r for r in rows if r["id"] == "trading_strategy")["task_queue"] == (
        "bizos-agents-finance"
    )

    lines = runner.invoke(agents_app, ["list", "-o", "jsonl"]).output.strip().splitlines()
    assert len(lines) == 21 and json.loads(lines[0])["id"]

    shown = runner.invoke(agents_app, ["show", "market_research", "-o", "json"])
    detail = json.loads(shown.output)
    assert [m["mode"] for m in detail["mode_details"]] == DESIGN["market_research"][1]
    assert detail["mode_details"][0]["offline_plan"][0]["tool"] == "market_sizing"

    text = runner.invoke(agents_app, ["show", "content_generation"])
    assert (
        text.exit_code == 0
        and "inspirational" in text.output
        and "marketing_content" in text.output
    )

    missing = runner.invoke(agents_app, ["show", "nope"])
    assert missing.exit_code == 1 and "unknown agent 'nope'" in missing.output
