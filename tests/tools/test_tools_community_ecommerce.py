"""Community (sentiment, moderation) and e-commerce (suppliers, landed cost, sizing, inventory)."""

from __future__ import annotations

import math

import pytest

from activities.tools.community import moderate, sentiment
from activities.tools.ecommerce import eoq, safety_stock
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import TOOLS


def test_sentiment_handles_negation_intensifiers_and_emoji() -> None:
    assert sentiment("I love this game")[0] > 0.5
    assert sentiment("The servers are terrible")[0] < -0.5
    assert sentiment("not good")[0] < 0 < sentiment("good")[0]
    assert sentiment("really good")[0] > sentiment("good")[0]
    assert sentiment("Best patch 🔥")[0] > sentiment("Best patch")[0]
    assert sentiment("The patch notes are online")[0] == 0.0
    # VADER-style normalisation of a single +3 word: 3 / sqrt(9 + 15)
    assert sentiment("love")[0] == pytest.approx(3 / math.sqrt(24))


def test_sentiment_tool_summarises(out: str) -> None:
    r = TOOLS["sentiment_analysis"].run(
        {
            "texts": [
                "I love it",
                "Amazing update!",
                "It keeps crashing, so frustrating",
                "Patch is out",
            ],
            "output_dir": out,
        }
    )
    assert r.distribution == {"positive": 2, "neutral": 1, "negative": 1}
    assert r.net_sentiment == pytest.approx(25.0)
    assert set(r.top_negative_terms) == {"crashing", "frustrating"}


@pytest.mark.parametrize(
    ("text", "action", "category"),
    [
        ("gg wp everyone", "allow", None),
        ("kys noob", "remove_and_escalate", "threat"),
        ("you are an idiot", "remove", "harassment"),
        ("FREE V-BUCKS at vbux.xyz/claim", "remove", "scam"),
        ("mail me at sam@example.com", "flag", "personal_data"),
        ("call +1 555 123 4567 now", "flag", "personal_data"),
        ("this is sh1t", "allow_with_filter", "profanity"),
        ("f.u.c.k this", "allow_with_filter", "profanity"),
        ("WHY IS NOBODY ANSWERING MY QUESTION", "allow_with_filter", "spam"),
        ("Scunthorpe is a town", "allow", None),
    ],
)
def test_moderation_rules(text: str, action: str, category: str | None) -> None:
    from collections import Counter

    got_action, cats, reasons = moderate(text, Counter())
    assert got_action == action
    if category:
        assert category in cats and reasons
    else:
        assert cats == []


def test_repeated_messages_are_spam(out: str) -> None:
    r = TOOLS["moderation"].run({"texts": ["join my server"] * 3, "output_dir": out})
    assert [i.action for i in r.items] == ["allow", "allow", "allow_with_filter"]
    assert r.category_counts == {"spam": 1}


def test_eoq_and_safety_stock_textbook() -> None:
    # D = 10,000/yr, S = $50/order, H = $2/unit/yr -> sqrt(2*10000*50/2) = 707.1
    assert eoq(10_000, 50, 2) == pytest.approx(707.107, abs=1e-3)
    # z(95%) = 1.645, sd 20/day, L = 9 days -> 1.645 * 20 * 3 = 98.7
    assert safety_stock(1.645, 20, 9) == pytest.approx(98.7)
    # lead-time variability: 1.645 * sqrt(9 * 20^2 + 100^2 * 2^2)
    assert safety_stock(1.645, 20, 9, 100, 2) == pytest.approx(1.645 * math.sqrt(3600 + 40000))


def test_inventory_plan_reorder_point(out: str) -> None:
    r = TOOLS["inventory_planning"].run(
        {
            "skus": [
                {
                    "sku": "A",
                    "daily_demand_mean": 100,
                    "daily_demand_sd": 20,
                    "lead_time_days": 9,
                    "unit_cost": 8,
                    "holding_rate": 0.25,
                    "order_cost": 50,
                    "on_hand": 800,
                },
                {"sku": "B", "daily_demand_mean": 10, "lead_time_days": 5, "on_hand": 1000},
            ],
            "service_level": 0.95,
            "days_per_year": 365,
            "output_dir": out,
        }
    )
    a, b = r.plans
    assert r.z == pytest.approx(1.6449, abs=1e-4)
    assert a.safety_stock == pytest.approx(r.z * 20 * 3)
    assert a.reorder_point == pytest.approx(900 + r.z * 60)
    assert a.eoq == pytest.approx(math.sqrt(2 * 36_500 * 50 / 2))
    assert a.reorder_now and a.order_quantity >= a.eoq
    assert not b.reorder_now and b.safety_stock == 0
    assert r.reorder_now == ["A"]


def test_landed_cost_cif_and_fob(out: str) -> None:
    base = {
        "unit_cost": 5,
        "quantity": 1000,
        "freight": 1000,
        "insurance_rate": 0.01,
        "duty_rate": 0.1,
        "broker_fees": 100,
        "port_fees": 50,
        "inland_freight": 150,
        "output_dir": out,
    }
    cif = TOOLS["landed_cost"].run(
        {**base, "duty_basis": "CIF", "vat_rate": 0.2, "selling_price": 12}
    )
    # goods 5000, insurance 1% of 6000 = 60, CIF 6060, duty 606, VAT 20% of 6666 = 1333.2
    assert cif.breakdown["duty"] == pytest.approx(606) and cif.breakdown["vat"] == pytest.approx(
        1333.2
    )
    assert cif.total_landed_cost == pytest.approx(5000 + 1000 + 60 + 606 + 1333.2 + 300)
    assert cif.landed_cost_per_unit == pytest.approx(8.2992)
    assert cif.margin_pct == pytest.approx((12 - 8.2992) / 12)
    fob = TOOLS["landed_cost"].run({**base, "duty_basis": "FOB"})
    assert fob.breakdown["duty"] == pytest.approx(500)  # duty on goods only
    with pytest.raises(ValueError):
        TOOLS["landed_cost"].run({"duty_basis": "EXW"})


def test_supplier_scoring_by_hand(out: str) -> None:
    r = TOOLS["supplier_scoring"].run(
        {
            "suppliers": [
                {
                    "name": "Cheap",
                    "unit_price": 2,
                    "on_time_rate": 0.8,
                    "certifications": ["ISO 9001"],
                },
                {
                    "name": "Reliable",
                    "unit_price": 4,
                    "on_time_rate": 1.0,
                    "certifications": ["ISO 9001"],
                },
                {"name": "Uncertified", "unit_price": 1, "on_time_rate": 1.0},
            ],
            "weights": {"unit_price": 0.75, "on_time_rate": 0.25},
            "required_certifications": ["ISO 9001"],
            "output_dir": out,
        }
    )
    # min-max between the two qualified: Cheap = 75*1 + 25*0, Reliable = 75*0 + 25*1
    assert [(s.name, s.score) for s in r.ranking] == [("Cheap", 75.0), ("Reliable", 25.0)]
    assert r.disqualified == ["Uncertified"]
    with pytest.raises(InvalidToolInput, match="unknown criteria"):
        TOOLS["supplier_scoring"].run({"weights": {"karma": 1}})


def test_market_sizing_top_down_and_bottom_up(out: str) -> None:
    r = TOOLS["market_sizing"].run(
        {
            "total_customers": 1_000_000,
            "annual_spend_per_customer": 100,
            "serviceable_share": 0.3,
            "obtainable_share": 0.05,
            "target_accounts": 20_000,
            "expected_win_rate": 0.1,
            "market_growth": 0.1,
            "output_dir": out,
        }
    )
    assert (r.tam, r.sam, r.som) == pytest.approx((100e6, 30e6, 1.5e6))
    assert r.bottom_up_som == pytest.approx(200_000)
    assert r.five_year_tam[-1] == pytest.approx(100e6 * 1.1**5)
