"""SEO audit against pages with known, planted problems; schema.org JSON-LD validation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from activities.tools.registry import TOOLS
from activities.tools.schema_org import TOP_LEVEL, SchemaValidationError, validate_jsonld
from activities.tools.seo_checks import CHECKS, gather
from activities.tools.seo_pages import DEFECTS, sample_page

FIXTURE = Path(__file__).parent / "fixtures" / "planted_page.html"
PLANTED = {
    "meta_description_length",
    "og_image",
    "canonical_present",
    "render_blocking_scripts",
    "heading_hierarchy",
    "img_alt_present",
    "no_mixed_content",
    "external_links_noopener",
    "anchor_text_descriptive",
}


def test_checklist_has_fifty_plus_named_checks() -> None:
    ids = [c.id for c in CHECKS]
    assert len(ids) >= 50 and len(set(ids)) == len(ids)
    assert {c.severity for c in CHECKS} <= {"high", "medium", "low"}


def test_audit_finds_exactly_the_planted_problems(out: str) -> None:
    r = TOOLS["seo_audit"].run(
        {
            "html_path": str(FIXTURE),
            "url": "https://www.example.com/guides/standing-desks",
            "keyword": "standing desks",
            "output_dir": out,
        }
    )
    assert set(r.failed) == PLANTED
    assert r.failed_by_severity == {"high": 2, "medium": 5, "low": 2}
    # high-severity fixes come first
    assert r.recommendations[0].startswith("[high]")
    report = json.loads(Path(r.report_path).read_text())
    assert len(report["checks"]) == len(CHECKS)


def test_a_clean_page_passes_everything() -> None:
    html, url = sample_page("running shoes")
    facts = gather(html, url, "running shoes")
    assert [c.id for c in CHECKS if c.run(facts)[0] == "fail"] == []


@pytest.mark.parametrize("seed", range(12))
def test_planted_defect_combinations_are_found_exactly(seed: int) -> None:
    rnd = random.Random(seed)
    defects = tuple(rnd.sample(sorted(DEFECTS), k=rnd.randint(1, 8)))
    html, url = sample_page("trail shoes", defects, random.Random(seed))
    facts = gather(html, url, "trail shoes")
    assert sorted(c.id for c in CHECKS if c.run(facts)[0] == "fail") == sorted(
        DEFECTS[d] for d in defects
    )


def test_url_checks_only_apply_with_a_url(out: str) -> None:
    html, _url = sample_page("running shoes")
    without = TOOLS["seo_audit"].run({"html": html, "keyword": "running shoes", "output_dir": out})
    assert {c.id: c.status for c in without.checks}["url_https"] == "n/a"
    bad = TOOLS["seo_audit"].run(
        {
            "html": html,
            "keyword": "running shoes",
            "url": "http://example.com/Guides/Running_Shoes",
            "output_dir": out,
        }
    )
    assert {"url_https", "url_lowercase", "url_no_underscores", "url_has_keyword"} <= set(
        bad.failed
    )


@pytest.mark.parametrize("schema_type", TOP_LEVEL)
def test_generated_jsonld_validates(schema_type: str, out: str) -> None:
    r = TOOLS["schema_jsonld"].run(
        {"schema_type": schema_type, "name": "Kite Shoes", "output_dir": out}
    )
    assert r.valid and validate_jsonld(r.jsonld) == []
    assert r.script_tag.startswith('<script type="application/ld+json">')
    assert json.loads(Path(r.jsonld_path).read_text())["@type"] == schema_type


@pytest.mark.parametrize(
    ("schema_type", "props", "missing"),
    [
        (
            "Article",
            {"headline": "x", "author": "Ann", "image": "https://e.com/a.jpg"},
            "datePublished",
        ),
        ("Product", {"name": "Shoe"}, "offers or review or aggregateRating"),
        ("Organization", {"name": "Acme"}, "url"),
        (
            "LocalBusiness",
            {
                "name": "Cafe",
                "address": {"streetAddress": "1 Main St", "addressLocality": "Austin"},
            },
            "addressCountry",
        ),
        ("FAQPage", {"mainEntity": [{"@type": "Question", "name": "Why?"}]}, "acceptedAnswer"),
        ("Event", {"name": "Cup", "startDate": "2025-05-01"}, "location"),
    ],
)
def test_missing_required_property_is_refused(schema_type: str, props: dict, missing: str) -> None:
    with pytest.raises(SchemaValidationError) as err:
        TOOLS["schema_jsonld"].run({"schema_type": schema_type, "properties": props})
    assert f"missing required property {missing}" in str(err.value)


def test_value_formats_are_checked() -> None:
    problems = validate_jsonld(
        {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": "Shoe",
            "image": "shoe.jpg",
            "offers": {"@type": "Offer", "price": "$49", "priceCurrency": "dollars"},
        }
    )
    assert any("image" in p and "absolute" in p for p in problems)
    assert any("price" in p and "number" in p for p in problems)
    assert any("ISO 4217" in p for p in problems)
    assert validate_jsonld("{not json") and validate_jsonld(
        {"@type": "Organization", "name": "A", "url": "https://a.com"}
    ) == ["$: missing @context (use https://schema.org)"]
    with pytest.raises(SchemaValidationError):
        TOOLS["schema_jsonld"].run(
            {
                "jsonld": {
                    "@context": "https://schema.org",
                    "@type": "Event",
                    "name": "x",
                    "startDate": "soon",
                    "location": {"@type": "VirtualLocation", "url": "https://e.com"},
                }
            }
        )


def test_audit_validates_jsonld_found_on_the_page(out: str) -> None:
    html, url = sample_page("running shoes", ("invalid_jsonld",))
    r = TOOLS["seo_audit"].run(
        {"html": html, "url": url, "keyword": "running shoes", "output_dir": out}
    )
    detail = {c.id: c.detail for c in r.checks}["structured_data_valid"]
    assert r.failed == ["structured_data_valid"] and "datePublished" in detail


def test_keyword_coverage_on_the_fixture(out: str) -> None:
    r = TOOLS["keyword_coverage"].run(
        {
            "html_path": str(FIXTURE),
            "keywords": ["standing desks", "warranty", "treadmill"],
            "output_dir": out,
        }
    )
    by = {k.keyword: k for k in r.keywords}
    assert (
        by["standing desks"].in_title
        and by["standing desks"].in_h1
        and by["standing desks"].in_first_paragraph
    )
    assert by["standing desks"].count == 3
    assert by["warranty"].count == 2 and by["warranty"].in_headings  # "Price and warranty"
    assert r.missing == ["treadmill"] and r.coverage_pct == pytest.approx(66.7)
