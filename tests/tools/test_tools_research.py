"""Market research and competitive intelligence tools against pages whose content is known."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from activities.tools.errors import InvalidToolInput
from activities.tools.pricing import PricingTableInput, extract_pricing, parse_price, pricing_table
from activities.tools.registry import TOOLS
from activities.tools.sample_pages import LAYOUTS, pricing_pages

ARTICLE = """# Acme Corp annual review

Acme Corp grew revenue 25% in 2024 to $12 million. The Bank of England kept rates steady.
We are the best analytics vendor in London and Paris.

## Outlook

Revenue should reach $15 million in 2025 as churn falls.
"""

# Five hand-written pricing pages in five different layouts.
PAGES = [
    # plan cards, price split from its period, per-seat pricing
    """<html><head><title>Pricing | Alpha CRM</title></head><body><h1>Pricing</h1>
    <div class="plan"><h3>Starter</h3><p class="price">$12<span>/user/mo</span></p><ul><li>Contacts</li><li>Email</li></ul></div>
    <div class="plan"><h3>Pro</h3><p class="price">$49<span>/user/mo</span></p><ul><li>Contacts</li><li>Email</li><li>API</li></ul></div>
    <div class="plan"><h3>Enterprise</h3><p class="price">Contact sales</p><ul><li>SSO</li></ul></div></body></html>""",
    # comparison table, tiers as columns, euros, yearly price
    """<html><head><meta property="og:site_name" content="Beta Analytics"></head><body>
    <table><tr><th>Plan</th><th>Free</th><th>Team</th><th>Scale</th></tr>
    <tr><td>Price</td><td>Free</td><td>€1,200 per year</td><td>€399 per month</td></tr>
    <tr><td>Dashboards</td><td>3</td><td>Unlimited</td><td>Unlimited</td></tr>
    <tr><td>SSO</td><td>—</td><td>—</td><td>✓</td></tr></table></body></html>""",
    # tiers as table rows
    # an en dash separates the name in the title
    """<html><head><title>Gamma Cloud \u2013 plans</title></head><body>
    <table><tr><th>Plan</th><th>Price</th><th>Includes</th></tr>
    <tr><td>Hobby</td><td>$0</td><td>1 project</td></tr>
    <tr><td>Business</td><td>$99.50/month</td><td>10 projects, support</td></tr></table></body></html>""",
    # markdown
    """# Delta Docs pricing

## Basic
**$8/mo**
- 5 editors

## Premium
**$20 per month**
- Unlimited editors
- Audit log
""",
    # prose sections
    """<html><head><title>Epsilon Ops pricing</title></head><body>
    <section><h2>Growth</h2><div>Starting at <strong>$300</strong>/month for small teams.</div><ul><li>On-call</li></ul></section>
    <section><h2>Enterprise</h2><div>Volume pricing: <strong>Custom quote</strong></div></section></body></html>""",
]
EXPECTED = {
    "Alpha CRM": [
        ("Starter", 12.0, "USD", "month", True),
        ("Pro", 49.0, "USD", "month", True),
        ("Enterprise", None, "USD", "custom", False),
    ],
    "Beta Analytics": [
        ("Free", 0.0, "EUR", "free", False),
        ("Team", 1200.0, "EUR", "year", False),
        ("Scale", 399.0, "EUR", "month", False),
    ],
    "Gamma Cloud": [
        ("Hobby", 0.0, "USD", "free", False),
        ("Business", 99.5, "USD", "month", False),
    ],
    "Delta Docs": [("Basic", 8.0, "USD", "month", False), ("Premium", 20.0, "USD", "month", False)],
    "Epsilon Ops": [
        ("Growth", 300.0, "USD", "month", False),
        ("Enterprise", None, "USD", "custom", False),
    ],
}


def test_parse_price_reads_amount_currency_and_period() -> None:
    assert parse_price("$1,299.99/yr") == (1299.99, "USD", "year", False)
    assert parse_price("€15", " per user per month") == (15.0, "EUR", "month", True)
    assert parse_price("Free") == (0.0, "USD", "free", False)
    assert parse_price("Contact sales") == (None, "", "custom", False)
    assert parse_price("Unlimited projects") is None


@pytest.mark.parametrize("index", range(len(PAGES)))
def test_extracts_hand_written_pricing_pages(index: int) -> None:
    company, tiers = extract_pricing(PAGES[index])
    assert company in EXPECTED
    assert [(t.tier, t.amount, t.currency, t.period, t.per_user) for t in tiers] == EXPECTED[
        company
    ]


def test_column_table_features_come_from_the_rows() -> None:
    _company, tiers = extract_pricing(PAGES[1])
    scale = next(t for t in tiers if t.tier == "Scale")
    assert scale.features == ["Dashboards: Unlimited", "SSO"]
    assert next(t for t in tiers if t.tier == "Team").monthly == 100.0


def test_pricing_table_over_five_companies(out: str) -> None:
    result = pricing_table(PricingTableInput(pages=PAGES, output_dir=out))
    assert result.companies == list(EXPECTED)
    assert len(result.rows) == sum(len(v) for v in EXPECTED.values())
    # USD paid entry tiers: Alpha 12, Gamma 99.5, Delta 8, Epsilon 300 -> median 55.75
    assert result.metrics["median_entry_price_usd"] == pytest.approx(55.75)
    assert result.metrics["companies"] == 5
    assert Path(result.table_path).read_text().startswith("company,tier,amount")


@pytest.mark.parametrize("seed", range(8))
def test_sample_pages_are_parsed_back_to_their_planted_tiers(seed: int) -> None:
    for page in pricing_pages(random.Random(seed), 6):
        company, tiers = extract_pricing(page.markup)
        assert company == page.company, page.layout
        got = [(t.tier, t.amount, t.currency, t.period, t.features) for t in tiers]
        want = [(t.tier, t.amount, t.currency, t.period, t.features) for t in page.tiers]
        assert got == want, page.layout


def test_sample_run_covers_five_plus_companies_and_every_layout(out: str) -> None:
    result = TOOLS["pricing_table"].run({"output_dir": out, "n_companies": 6})
    assert result.source == "sample pages"
    assert len(result.companies) >= 5
    assert len(LAYOUTS) == 5
    assert all(any(r.company == c for r in result.rows) for c in result.companies)


def test_page_analysis_finds_headings_entities_claims_and_keywords(out: str) -> None:
    result = TOOLS["page_analysis"].run(
        {"documents": [ARTICLE], "keywords": ["revenue", "churn", "pricing"], "output_dir": out}
    )
    doc = result.documents[0]
    assert doc.headings == ["H1: Acme Corp annual review", "H2: Outlook"]
    entities = {(e.text, e.kind): e.count for e in doc.entities}
    assert entities[("Acme Corp", "organization")] == 2
    assert ("Bank of England", "proper_noun") in entities
    assert ("$12 million", "money") in entities and ("25%", "percent") in entities
    assert ("2024", "date") in entities and ("2025", "date") in entities
    claims = {c.text: c.kind for c in doc.claims}
    assert claims["We are the best analytics vendor in London and Paris."] == "qualitative"
    assert claims["Acme Corp grew revenue 25% in 2024 to $12 million."] == "quantified"
    assert doc.keyword_hits == {"revenue": 2, "churn": 1, "pricing": 0}
    assert "pricing" in result.recommendations[-2]


def test_feature_matrix_detects_features_and_synonyms(out: str) -> None:
    pages = [
        "<html><body><h1>A</h1><p>Single sign-on, audit log and webhooks.</p></body></html>",
        "<html><body><h1>B</h1><p>SSO and an API.</p></body></html>",
        "<html><body><h1>C</h1><p>Webhooks only.</p></body></html>",
    ]
    result = TOOLS["feature_matrix"].run(
        {
            "companies": ["Us", "B", "C"],
            "pages": pages,
            "our_company": "Us",
            "features": ["SSO|single sign-on", "Audit log", "Webhooks", "API", "Sandbox"],
            "output_dir": out,
        }
    )
    assert result.matrix["Us"] == {
        "SSO": True,
        "Audit log": True,
        "Webhooks": True,
        "API": False,
        "Sandbox": False,
    }
    assert result.matrix["B"]["SSO"] and result.matrix["B"]["API"]
    assert result.gaps == ["API"]
    assert result.unique["Us"] == ["Audit log"]
    assert result.coverage["Us"] == 60.0


def test_feature_matrix_needs_one_page_per_company(out: str) -> None:
    with pytest.raises(InvalidToolInput):
        TOOLS["feature_matrix"].run(
            {
                "companies": ["A", "B", "C"],
                "pages": ["<p>x</p>", "<p>y</p>"],
                "output_dir": out,
                "features": ["x"],
            }
        )


def test_win_loss_rates_from_a_csv(tmp_path) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(
        "outcome,competitor,reason,amount,segment,cycle_days\n"
        "won,Acme,price,100,SMB,10\nlost,Acme,price,200,SMB,30\nlost,Acme,missing feature,300,SMB,50\n"
        "won,Globex,support,400,Enterprise,20\nwon,Globex,fit,500,Enterprise,40\nlost,none,price,600,Enterprise,60\n"
    )
    result = TOOLS["win_loss_analysis"].run({"deals_path": str(path), "output_dir": str(tmp_path)})
    assert result.win_rate == 0.5
    assert result.by_competitor["Acme"]["win_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert result.by_competitor["Globex"]["win_rate"] == 1.0
    assert result.top_loss_reasons == {"price": 2, "missing feature": 1}
    assert result.metrics["avg_cycle_days_won"] == pytest.approx(70 / 3, abs=0.05)
