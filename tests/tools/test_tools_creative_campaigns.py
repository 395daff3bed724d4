"""Creatives in the brand palette; budget allocation, email sequences, A/B maths, templates."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from activities.tools.campaigns import (
    TEMPLATES,
    ChannelCurve,
    allocate,
    sample_size_per_group,
    two_proportion_test,
)
from activities.tools.colors import contrast_ratio
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import TOOLS

PALETTE = ["#0b3d91", "#ffffff", "#fc3d21", "#1a1a2e"]


@pytest.fixture(scope="module")
def creatives(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("creatives")
    return TOOLS["ad_creatives"].run(
        {
            "brand": "Orbit",
            "headline": "Launch reports in minutes",
            "body": "Dashboards for every team.",
            "cta": "Try it free",
            "palette": PALETTE,
            "output_dir": str(out),
        }
    )


def test_three_sizes_in_three_formats(creatives) -> None:
    assert [(c.width, c.height) for c in creatives.creatives] == [
        (1200, 628),
        (1080, 1080),
        (300, 250),
    ]
    for c in creatives.creatives:
        assert set(c.files) == {"svg", "png", "pdf"}
        with Image.open(c.files["png"]) as img:
            assert img.size == (c.width, c.height)
        root = ET.parse(c.files["svg"]).getroot()
        assert (root.get("width"), root.get("height")) == (str(c.width), str(c.height))
        assert Path(c.files["pdf"]).read_bytes()[:5] == b"%PDF-"
        assert "Launch" in Path(c.files["svg"]).read_text()


def test_creatives_stay_on_palette(creatives) -> None:
    for c in creatives.creatives:
        for fmt in ("svg", "png"):
            r = TOOLS["palette_check"].run({"creative_path": c.files[fmt], "palette": PALETTE})
            assert r.compliant and r.compliance >= 0.99, (c.size, fmt, r.off_palette)


def test_text_colour_is_the_best_contrast_in_the_palette(creatives) -> None:
    # on #0b3d91 the white in the palette reads best
    assert creatives.creatives[0].headline_contrast == pytest.approx(
        round(contrast_ratio((11, 61, 145), (255, 255, 255)), 2)
    )
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)


def test_off_brand_colours_are_caught(tmp_path: Path, creatives) -> None:
    svg = tmp_path / "bad.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><rect fill="#0b3d91"/><rect fill="#00ff00"/><text style="fill: #fc3d21">x</text></svg>'
    )
    r = TOOLS["palette_check"].run({"creative_path": str(svg), "palette": PALETTE})
    assert not r.compliant and r.off_palette == {"#00ff00": pytest.approx(1 / 3)}
    # the same PNG judged against half the palette: the missing colours show up
    png = creatives.creatives[1].files["png"]
    r = TOOLS["palette_check"].run({"creative_path": png, "palette": PALETTE[:2]})
    assert not r.compliant and "#fc3d21" in r.off_palette
    with pytest.raises(InvalidToolInput):
        TOOLS["palette_check"].run({"creative_path": png, "palette": ["teal-ish"]})


def test_budget_allocation_matches_the_closed_form() -> None:
    # a_i * sqrt(x): optimum x_i proportional to a_i^2 -> 1:4:9 of 14,000
    channels = [ChannelCurve(name=n, a=a, b=0.5) for n, a in (("a", 1), ("b", 2), ("c", 3))]
    assert allocate(channels, 14_000) == pytest.approx([1000, 4000, 9000], rel=1e-6)
    # saturating curves: marginal returns equalise
    sat = [
        ChannelCurve(name="s1", curve="saturation", a=50_000, b=20_000),
        ChannelCurve(name="s2", curve="saturation", a=30_000, b=5_000),
    ]
    x = allocate(sat, 30_000)
    assert sum(x) == pytest.approx(30_000)
    assert sat[0].marginal(x[0]) == pytest.approx(sat[1].marginal(x[1]), rel=1e-6)


def test_budget_allocation_respects_caps_and_beats_equal_split(out: str) -> None:
    r = TOOLS["budget_allocation"].run(
        {
            "budget": 14_000,
            "channels": [
                {"name": "search", "a": 1, "b": 0.5},
                {"name": "social", "a": 2, "b": 0.5},
                {"name": "email", "a": 3, "b": 0.5, "max_spend": 5000},
            ],
            "output_dir": out,
        }
    )
    spend = {a.channel: a.spend for a in r.allocations}
    assert spend["email"] == pytest.approx(5000) and sum(spend.values()) == pytest.approx(14_000)
    # the rest splits 1:4 between search and social
    assert spend["search"] == pytest.approx(1800) and spend["social"] == pytest.approx(7200)
    assert r.uplift_vs_equal_pct > 0
    with pytest.raises(InvalidToolInput, match="exceed the budget"):
        TOOLS["budget_allocation"].run(
            {"budget": 100, "channels": [{"name": "a", "a": 1, "b": 0.5, "min_spend": 200}]}
        )


def test_email_sequence_has_five_timed_touchpoints(out: str) -> None:
    r = TOOLS["email_sequence"].run(
        {"product": "Orbit", "offer": "a free month", "output_dir": out}
    )
    days = [t.send_day for t in r.touchpoints]
    assert len(r.touchpoints) == 5 and days == sorted(days) and len(set(days)) == 5
    assert len({t.subject for t in r.touchpoints}) == 5
    assert r.touchpoints[0].stage == "welcome" and any(
        "free month" in t.subject for t in r.touchpoints
    )
    assert all("Orbit" in " ".join(t.body_outline) for t in r.touchpoints)


def test_ab_sample_size_matches_the_reference() -> None:
    # R: power.prop.test(p1 = 0.10, p2 = 0.12, power = 0.8) -> n = 3840.6 per group
    assert sample_size_per_group(0.10, 0.12) == pytest.approx(3840.6, abs=0.5)
    # by hand, 5% -> 6% at power 0.9: z = 1.959964, 1.281552; pbar = 0.055
    # (1.959964 * sqrt(2 * .055 * .945) + 1.281552 * sqrt(.05 * .95 + .06 * .94))^2 / .01^2
    by_hand = (1.959964 * math.sqrt(0.10395) + 1.281552 * math.sqrt(0.1039)) ** 2 / 0.0001
    assert sample_size_per_group(0.05, 0.06, power=0.9) == pytest.approx(by_hand, rel=1e-5)
    # one-sided tests need fewer visitors
    assert sample_size_per_group(0.10, 0.12, two_sided=False) < sample_size_per_group(0.10, 0.12)


def test_ab_significance_by_hand(out: str) -> None:
    z, p, (lo, hi) = two_proportion_test(400, 4000, 480, 4000)
    pool = 880 / 8000
    z_hand = (0.12 - 0.10) / math.sqrt(pool * (1 - pool) * 2 / 4000)
    assert z == pytest.approx(z_hand) and p == pytest.approx(math.erfc(z_hand / math.sqrt(2)))
    assert lo < 0.02 < hi
    r = TOOLS["ab_test_calculator"].run(
        {
            "baseline_rate": 0.10,
            "minimum_detectable_effect": 0.2,
            "control_visitors": 4000,
            "control_conversions": 400,
            "variant_visitors": 4000,
            "variant_conversions": 480,
            "daily_traffic": 1000,
            "output_dir": out,
        }
    )
    assert (
        r.significant and r.observed_lift == pytest.approx(0.2) and r.sample_size_per_group == 3841
    )
    assert r.days_needed == pytest.approx(7.682)
    flat = TOOLS["ab_test_calculator"].run(
        {
            "control_visitors": 1000,
            "control_conversions": 100,
            "variant_visitors": 1000,
            "variant_conversions": 104,
        }
    )
    assert not flat.significant and "provisional" in flat.recommendations[-1]


def test_ten_campaign_templates_and_exact_budgets(out: str) -> None:
    assert len(TEMPLATES) >= 10
    for name in TEMPLATES:
        r = TOOLS["campaign_template"].run(
            {"template": name, "budget": 12_345.67, "duration_days": 45, "output_dir": out}
        )
        assert round(sum(r.channel_budgets.values()), 2) == 12_345.67
        assert r.phases[0].start_day == 0 and r.phases[-1].end_day == 44
        assert all(
            a.end_day + 1 == b.start_day for a, b in zip(r.phases, r.phases[1:], strict=False)
        )
    assert TOOLS["campaign_template"].run({"goal": "Black Friday sale"}).template == "seasonal_sale"
    with pytest.raises(InvalidToolInput, match="templates:"):
        TOOLS["campaign_template"].run({"template": "guerrilla"})
