"""Every tool keeps the registry contract: runs on an empty step input, returns its declared
output model with a headline and finite metrics, writes files only under output_dir, and is
deterministic in its input."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from activities.tools.connectors import ConnectorNotConfigured
from activities.tools.registry import TOOLS, ToolInput, ToolOutput

REQUIRED = [
    "page_analysis",
    "pricing_table",
    "feature_matrix",
    "win_loss_analysis",
    "table_analytics",
    "cohort_analysis",
    "chart_render",
    "swot_analysis",
    "porter_five_forces",
    "okr_generator",
    "scenario_planning",
    "financial_projection",
    "npv_irr",
    "variance_analysis",
    "backtest",
    "risk_check",
    "signal_generator",
    "content_draft",
    "readability_score",
    "content_quality_score",
    "seo_audit",
    "schema_jsonld",
    "keyword_coverage",
    "ad_creatives",
    "palette_check",
    "budget_allocation",
    "email_sequence",
    "ab_test_calculator",
    "campaign_template",
    "lead_scoring",
    "revenue_forecast",
    "lead_routing",
    "tournament_bracket",
    "retention_cohorts",
    "skill_ratings",
    "game_balance",
    "sentiment_analysis",
    "moderation",
    "supplier_scoring",
    "landed_cost",
    "market_sizing",
    "inventory_planning",
    "code_analysis",
    "test_scaffold",
    "compose_generator",
    "terraform_generator",
    "api_docs",
    "goal_planner",
    "output_review",
    "google_ads",
    "meta_ads",
    "linkedin_ads",
    "mailchimp",
    "semrush",
    "ahrefs",
    "ga4",
    "mixpanel",
    "crm",
]
CONNECTORS = {
    "google_ads",
    "meta_ads",
    "linkedin_ads",
    "mailchimp",
    "semrush",
    "ahrefs",
    "ga4",
    "mixpanel",
    "crm",
}
LOCAL = sorted(set(TOOLS) - CONNECTORS)


def test_every_required_tool_is_registered() -> None:
    missing = [n for n in REQUIRED if n not in TOOLS]
    assert missing == []


def test_specs_are_well_formed() -> None:
    for name, spec in TOOLS.items():
        assert spec.name == name
        assert spec.description, name
        assert issubclass(spec.input_model, ToolInput), name
        assert issubclass(spec.output_model, ToolOutput), name
        # every field defaulted: an empty step input validates
        spec.input_model.model_validate({})


@pytest.mark.parametrize("name", LOCAL)
def test_runs_on_empty_input_and_keeps_contract(name: str, out: str) -> None:
    result = TOOLS[name].run({"output_dir": out, "some_unknown_key": 1})
    assert isinstance(result, TOOLS[name].output_model)
    assert result.headline and len(result.headline) < 400
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.metrics.values()), (
        result.metrics
    )
    for path in result.artifacts:
        p = Path(path)
        assert p.exists(), path
        assert p.resolve().is_relative_to(Path(out).resolve()), path


@pytest.mark.parametrize("name", LOCAL)
def test_same_input_same_output(name: str, out: str) -> None:
    first = TOOLS[name].run({"output_dir": out}).model_dump()
    second = TOOLS[name].run({"output_dir": out}).model_dump()
    assert first == second


@pytest.mark.parametrize(
    ("name", "a", "b"),
    [
        ("pricing_table", {"industry": "crm"}, {"industry": "analytics"}),
        ("page_analysis", {"topic": "payments"}, {"topic": "security"}),
        ("win_loss_analysis", {"company": "A"}, {"company": "B"}),
        ("table_analytics", {"rows": 2000}, {"rows": 3000}),
        ("backtest", {"symbol": "AAA"}, {"symbol": "BBB"}),
        ("financial_projection", {"first_year": 2026}, {"first_year": 2027}),
        ("swot_analysis", {"company": "A"}, {"company": "B"}),
        ("content_draft", {"topic": "churn"}, {"topic": "pricing"}),
        ("seo_audit", {"url": ""}, {"keyword": "trail shoes"}),
        ("tournament_bracket", {"name": "Spring Cup"}, {"name": "Autumn Cup"}),
        ("lead_scoring", {"sample_size": 50}, {"sample_size": 60}),
        ("budget_allocation", {"channel_names": ["a", "b"]}, {"channel_names": ["a", "c"]}),
        ("sentiment_analysis", {"top_n": 5}, {"top_n": 6}),
        ("inventory_planning", {"service_level": 0.9}, {"service_level": 0.99}),
        ("goal_planner", {"goal": "Backtest a momentum strategy"}, {"goal": "Write a blog post"}),
    ],
)
def test_different_input_different_output(name: str, a: dict, b: dict, out: str) -> None:
    def content(result: ToolOutput) -> dict:
        # file names differ by input anyway; compare what the tool found, not where it wrote
        return {
            k: v
            for k, v in result.model_dump().items()
            if k != "artifacts" and not k.endswith("_path")
        }

    ra = TOOLS[name].run({"output_dir": out, **a})
    rb = TOOLS[name].run({"output_dir": out, **b})
    assert content(ra) != content(rb)


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_connectors_refuse_without_credentials(name: str, out: str) -> None:
    with pytest.raises(ConnectorNotConfigured) as err:
        TOOLS[name].run({"output_dir": out})
    assert err.value.missing
    assert all(m in str(err.value) for m in err.value.missing)


def test_import_is_light() -> None:
    """Importing the package must not drag in pandas, matplotlib, bs4 or hcl2 (CLI fast paths)."""
    code = (
        "import sys, activities.tools as t; "
        "heavy = [m for m in ('pandas', 'matplotlib', 'bs4', 'hcl2', 'pyarrow') if m in sys.modules]; "
        "print(len(t.TOOLS), heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, heavy = proc.stdout.strip().split(" ", 1)
    assert int(count) >= len(REQUIRED)
    assert heavy == "[]"
