"""Strategy frameworks and financial maths against hand-computed answers."""

from __future__ import annotations

from datetime import date

import pytest

from activities.tools.errors import InvalidToolInput
from activities.tools.finance import irr, irr_bounds, mirr, npv, payback
from activities.tools.registry import TOOLS
from activities.tools.strategy import hhi, quarter_end


def test_npv_irr_textbook_cases(out: str) -> None:
    # -100, 60, 60 at 10%: NPV = -100 + 60/1.1 + 60/1.21 = 4.1322; IRR solves 60/(1+r) + 60/(1+r)^2 = 100
    r = TOOLS["npv_irr"].run(
        {"cash_flows": [-100, 60, 60], "discount_rate": 0.10, "output_dir": out}
    )
    assert r.npv == pytest.approx(4.132231, abs=1e-6)
    # with x = 1/(1+r): 60x^2 + 60x - 100 = 0 -> x = (-60 + sqrt(3600 + 24000)) / 120
    x = (-60 + (3600 + 24000) ** 0.5) / 120
    assert r.irr == pytest.approx(1 / x - 1, abs=1e-9)
    assert 60 / (1 + r.irr) + 60 / (1 + r.irr) ** 2 == pytest.approx(100)
    assert r.mirr == pytest.approx((126 / 100) ** 0.5 - 1)
    assert r.decision == "accept"
    # Brealey-Myers style: -1000, 500, 400, 300, 100 at 10% -> NPV 78.82, IRR 14.49%
    assert npv(0.10, [-1000, 500, 400, 300, 100]) == pytest.approx(78.82, abs=0.01)
    assert irr([-1000, 500, 400, 300, 100]) == pytest.approx(0.1449, abs=1e-4)
    assert irr([-100, 110]) == pytest.approx(0.10)
    assert irr([100, 50]) is None


def test_irr_above_1000_percent_is_found(out: str) -> None:
    # -100 now, 5,000 in a year: 5000 / (1 + r) = 100 -> r = 49, an IRR of 4,900%
    assert irr([-100, 5000]) == pytest.approx(49.0, rel=1e-12)
    r = TOOLS["npv_irr"].run({"cash_flows": [-100, 5000], "discount_rate": 0.1, "output_dir": out})
    assert r.irr == pytest.approx(49.0, rel=1e-12) and r.metrics["irr"] == pytest.approx(49.0)
    assert "IRR 4900.00%" in r.headline
    # 1,000,000 after two years: (1 + r)^2 = 10,000 -> r = 99; leading and trailing zeros
    # move no root
    assert irr([-100, 0, 1_000_000]) == pytest.approx(99.0, rel=1e-12)
    assert irr([0, 0, -100, 5000, 0]) == pytest.approx(49.0, rel=1e-12)
    # near -100%: 100 paid back as 0.000001 three years on -> (1 + r)^3 = 1e-8
    assert irr([-100, 0, 0, 1e-6]) == pytest.approx(1e-8 ** (1 / 3) - 1, rel=1e-12)
    # every root lies within irr_bounds, so the widened search ends
    low, high = irr_bounds([-100, 5000])
    assert low < 49 < high == 50


def test_irr_is_none_only_without_a_root() -> None:
    assert irr([100, 50]) is None and irr([-100, -50]) is None  # no sign change
    assert irr([0, 0]) is None and irr([-100]) is None
    # signs change twice but NPV = -100 + 250x - 200x^2 (x = 1/(1+r)) has no real root:
    # discriminant 250^2 - 4 * 100 * 200 < 0, and NPV < 0 at every rate
    assert 250**2 - 4 * 100 * 200 < 0
    assert irr([-100, 250, -200]) is None
    # two roots (10% and 20%): the one in the usual range, the lower, is reported
    assert irr([-100, 230, -132]) == pytest.approx(0.10)


def test_payback_periods() -> None:
    assert payback([-1000, 500, 400, 300, 100]) == pytest.approx(2 + 100 / 300)
    # discounted at 10%: PVs 454.55, 330.58, 225.39 -> 2 + 214.88 / 225.39
    assert payback([-1000, 500, 400, 300, 100], 0.10) == pytest.approx(
        2 + (1000 - 500 / 1.1 - 400 / 1.21) / (300 / 1.331)
    )
    assert payback([-100, 10, 10]) is None
    assert mirr([-100, 60, 60], 0.1, 0.1) == pytest.approx(0.122497, abs=1e-6)


def test_five_year_projection_by_hand(out: str) -> None:
    r = TOOLS["financial_projection"].run(
        {
            "base_revenue": 1000,
            "growth_rate": 0.10,
            "gross_margin": 0.6,
            "opex_pct": 0.3,
            "depreciation_pct": 0.05,
            "capex_pct": 0.05,
            "working_capital_pct": 0.1,
            "tax_rate": 0.25,
            "output_dir": out,
        }
    )
    y1 = r.years[0]
    assert len(r.years) == 5
    assert (
        y1.revenue,
        y1.gross_profit,
        y1.ebitda,
        y1.ebit,
        y1.tax,
        y1.net_income,
    ) == pytest.approx((1100, 660, 330, 275, 68.75, 206.25))
    # FCF = NI + D&A - capex - dNWC = 206.25 + 55 - 55 - 10
    assert y1.free_cash_flow == pytest.approx(196.25)
    assert r.years[-1].revenue == pytest.approx(1000 * 1.1**5)
    assert r.revenue_cagr == pytest.approx(0.10)


def test_projection_has_no_tax_credit_in_loss_years(out: str) -> None:
    r = TOOLS["financial_projection"].run(
        {
            "base_revenue": 100,
            "growth_rate": 0,
            "gross_margin": 0.5,
            "opex_pct": 0.6,
            "output_dir": out,
        }
    )
    assert all(y.tax == 0 and y.net_income < 0 for y in r.years)
    with pytest.raises(InvalidToolInput):
        TOOLS["financial_projection"].run({"growth_rates": [0.1, -1.5]})


def test_variance_signs_and_price_volume_split(out: str) -> None:
    r = TOOLS["variance_analysis"].run(
        {
            "lines": [
                {
                    "name": "Sales",
                    "kind": "revenue",
                    "budget": 10000,
                    "actual": 11550,
                    "budget_units": 1000,
                    "actual_units": 1050,
                },
                {"name": "Rent", "kind": "cost", "budget": 2000, "actual": 2000},
                {"name": "Ads", "kind": "cost", "budget": 1000, "actual": 1300},
            ],
            "output_dir": out,
        }
    )
    sales, rent, ads = r.lines
    assert sales.variance == 1550 and sales.favourable and sales.material
    # volume: 50 extra units at budget price 10 = 500; price: (11 - 10) * 1050 = 1050
    assert (sales.volume_variance, sales.price_variance) == pytest.approx((500, 1050))
    assert not rent.material
    assert ads.variance == 300 and not ads.favourable and ads.variance_pct == pytest.approx(0.3)
    assert r.net_profit_variance == pytest.approx(1550 - 300)


def test_swot_classifies_indicators_against_benchmarks(out: str) -> None:
    r = TOOLS["swot_analysis"].run(
        {
            "company": "Acme",
            "indicators": {
                "revenue_growth": 0.35,
                "churn_rate": 0.08,
                "market_growth": 0.2,
                "competitor_count": 25,
                "gross_margin": 0.61,
            },
            "strengths": ["Loved brand"],
            "output_dir": out,
        }
    )
    assert [i.source for i in r.strengths] == ["revenue_growth", "given"]  # sorted by impact
    assert [i.source for i in r.weaknesses] == ["churn_rate"]
    assert [i.source for i in r.opportunities] == ["market_growth"]
    assert [i.source for i in r.threats] == ["competitor_count"]
    # gross margin 61% vs 60% is within 5% of benchmark: not placed anywhere
    assert all(i.source != "gross_margin" for q in (r.strengths, r.weaknesses) for i in q)
    assert r.internal_score == pytest.approx(5 + 3 - 5) and r.external_score == pytest.approx(0)
    assert r.posture.startswith("aggressive") and r.tows["SO"]
    with pytest.raises(InvalidToolInput, match="unknown indicator"):
        TOOLS["swot_analysis"].run({"indicators": {"vibes": 1}})


def test_porter_concentration_and_overrides(out: str) -> None:
    assert hhi([0.4, 0.3, 0.2, 0.1]) == pytest.approx(3000)
    assert hhi([40, 30, 20, 10]) == pytest.approx(3000)
    r = TOOLS["porter_five_forces"].run(
        {
            "market_shares": [0.4, 0.3, 0.2, 0.1],
            "industry_growth": 0.1,
            "differentiation": 0.5,
            "entry_barriers": 1,
            "switching_costs": 1,
            "brand_loyalty": 1,
            "buyer_concentration": 0,
            "price_sensitivity": 0,
            "supplier_concentration": 1,
            "input_uniqueness": 1,
            "substitute_availability": 0.5,
            "substitute_price_performance": 0.5,
            "output_dir": out,
        }
    )
    forces = {f.force: f.intensity for f in r.forces}
    # rivalry drivers: 1 - 3000/5000 = 0.4, 1 - 0.1/0.2 = 0.5, 1 - 0.5 = 0.5 -> 1 + 4 * 1.4/3
    assert forces["rivalry"] == pytest.approx(round(1 + 4 * 1.4 / 3, 2))
    assert (
        forces["new_entrants"] == 1.0
        and forces["buyer_power"] == 1.0
        and forces["supplier_power"] == 5.0
    )
    assert forces["substitutes"] == 3.0
    assert r.attractiveness == pytest.approx(6 - sum(forces.values()) / 5, abs=0.01)
    over = TOOLS["porter_five_forces"].run({"scores": {"rivalry": 5}, "output_dir": out})
    assert {f.force: f.intensity for f in over.forces}["rivalry"] == 5
    with pytest.raises(InvalidToolInput):
        TOOLS["porter_five_forces"].run({"scores": {"rivalry": 9}})


def test_okrs_follow_the_goals(out: str) -> None:
    r = TOOLS["okr_generator"].run(
        {
            "goals": [
                "Grow revenue 20%",
                "Reduce churn from 5% to 3%",
                "Reach 500 customers",
                "Double traffic (2x)",
                "Improve team morale",
            ],
            "baselines": {"revenue": 500000, "customers": 320, "traffic": 12000},
            "quarter": "Q3 2025",
            "output_dir": out,
        }
    )
    targets = {o.metric: (o.key_results[0].baseline, o.key_results[0].target) for o in r.objectives}
    assert targets == {
        "revenue": (500000, 600000),
        "churn": (5, 3),
        "customers": (320, 500),
        "traffic": (12000, 24000),
    }
    assert r.unmatched_goals == ["Improve team morale"]
    assert all(kr.due == "2025-09-30" for o in r.objectives for kr in o.key_results)
    assert all(len(o.key_results) == 3 for o in r.objectives)
    assert (
        quarter_end("Q4 2024").isoformat() == "2024-12-31"
        and quarter_end("Q1 2024").isoformat() == "2024-03-31"
    )
    # competitive_analysis's default period resolves against the day it runs
    nov = date(2026, 11, 30)
    assert quarter_end("the last quarter", nov).isoformat() == "2026-09-30"
    assert quarter_end("next quarter", date(2026, 12, 1)).isoformat() == "2027-03-31"
    assert quarter_end("this quarter", nov).isoformat() == "2026-12-31"
    with pytest.raises(InvalidToolInput):
        TOOLS["okr_generator"].run({"quarter": "third quarter"})


def test_scenarios_compound_and_weight(out: str) -> None:
    r = TOOLS["scenario_planning"].run(
        {
            "base_value": 100,
            "horizon_years": 3,
            "scenarios": [
                {"name": "bear", "probability": 0.25, "growth": -0.1},
                {"name": "base", "probability": 0.5, "growth": 0.1},
                {"name": "bull", "probability": 0.25, "growth": 0.3},
            ],
            "volatility": 0.0,
            "output_dir": out,
        }
    )
    finals = {s.name: s.final_value for s in r.scenarios}
    assert finals == pytest.approx({"bear": 72.9, "base": 133.1, "bull": 219.7})
    assert r.expected_final_value == pytest.approx(0.25 * 72.9 + 0.5 * 133.1 + 0.25 * 219.7)
    # without volatility the Monte Carlo can only land on the three scenario values
    assert r.monte_carlo["p50"] == pytest.approx(133.1)
    with pytest.raises(InvalidToolInput, match="sum to"):
        TOOLS["scenario_planning"].run(
            {"scenarios": [{"name": "a", "probability": 0.5, "growth": 0.1}]}
        )
