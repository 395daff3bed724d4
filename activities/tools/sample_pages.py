"""Deterministic sample web pages for the research tools when the caller gives none.

The pages are written in the markup variety real sites use (pricing cards, comparison
tables, row tables, Markdown, prose sections) so the extractors downstream do real parsing;
each generator also returns the ground truth it planted, which the tests compare against.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_PREFIXES = (
    "Nimbus",
    "Vertex",
    "Lumen",
    "Orbit",
    "Cobalt",
    "Quanta",
    "Harbor",
    "Summit",
    "Pixel",
    "Beacon",
    "Atlas",
    "Juniper",
    "Kite",
    "Meridian",
    "Nova",
    "Prism",
    "Relay",
    "Sable",
)
_SUFFIXES = ("Labs", "HQ", "Cloud", "Works", "Stack", "Logic", "Flow", "Base", "Hub", "ly")
TIER_NAMES = ("Free", "Starter", "Basic", "Team", "Pro", "Growth", "Business", "Scale")
FEATURES = (
    "SSO",
    "API access",
    "Audit log",
    "Custom reports",
    "Priority support",
    "Unlimited projects",
    "Integrations",
    "Role-based access",
    "Data export",
    "Uptime SLA",
    "Sandbox",
    "Webhooks",
    "AI assistant",
    "Dashboards",
    "Mobile app",
    "Two-factor auth",
)
LAYOUTS = ("cards", "column_table", "row_table", "markdown", "sections")


@dataclass
class PlantedTier:
    tier: str
    amount: float | None  # None = "contact sales"
    currency: str
    period: str  # month | year | custom | free
    features: list[str] = field(default_factory=list)

    @property
    def monthly(self) -> float | None:
        if self.amount is None:
            return None
        return round(self.amount / 12, 2) if self.period == "year" else self.amount


@dataclass
class SamplePage:
    company: str
    layout: str
    markup: str
    tiers: list[PlantedTier]


def company_names(rnd: random.Random, n: int, industry: str = "") -> list[str]:
    picks = rnd.sample(_PREFIXES, k=min(n, len(_PREFIXES)))
    names = []
    for i in range(n):
        base = picks[i % len(picks)]
        suffix = rnd.choice(_SUFFIXES)
        name = f"{base}{suffix}" if suffix == "ly" else f"{base} {suffix}"
        names.append(name if i < len(picks) else f"{name} {i}")
    return names


def _money(amount: float, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}[currency]
    text = f"{amount:,.0f}" if amount == int(amount) else f"{amount:,.2f}"
    return f"{symbol}{text}"


def _plan_tiers(rnd: random.Random, currency: str) -> list[PlantedTier]:
    n = rnd.randint(3, 4)
    names = sorted(rnd.sample(TIER_NAMES[1:], k=n - 1), key=TIER_NAMES.index)
    tiers: list[PlantedTier] = []
    if rnd.random() < 0.4:
        tiers.append(PlantedTier("Free", 0.0, currency, "free"))
        names = names[:-1]
    price = rnd.choice((9, 12, 15, 19, 25, 29, 39, 49))
    for name in names:
        period = "year" if rnd.random() < 0.2 else "month"
        amount = float(price * 12 if period == "year" else price)
        tiers.append(PlantedTier(name, amount, currency, period))
        price = int(price * rnd.choice((2, 2.5, 3)))
    tiers.append(PlantedTier("Enterprise", None, currency, "custom"))
    pool = list(FEATURES)
    rnd.shuffle(pool)
    for i, t in enumerate(tiers):
        t.features = sorted(pool[: 2 + 2 * i])
    return tiers


def _price_text(t: PlantedTier) -> str:
    if t.period == "free":
        return "Free"
    if t.amount is None:
        return "Contact sales"
    return _money(t.amount, t.currency)


def _period_text(t: PlantedTier, style: int) -> str:
    if t.period == "month":
        return ("/mo", " per month", "/month")[style % 3]
    if t.period == "year":
        return ("/yr", " per year", "/year")[style % 3]
    return ""


def _html(company: str, body: str, rnd: random.Random) -> str:
    title = f"Pricing | {company}" if rnd.random() < 0.5 else f"{company} pricing and plans"
    return (
        f"<!doctype html><html lang='en'><head><title>{title}</title>"
        f"<meta property='og:site_name' content='{company}'></head>"
        f"<body><h1>Plans for every team</h1>{body}</body></html>"
    )


def pricing_page(rnd: random.Random, company: str, layout: str) -> SamplePage:
    currency = "EUR" if layout == "column_table" and rnd.random() < 0.5 else "USD"
    tiers = _plan_tiers(rnd, currency)
    style = rnd.randint(0, 2)
    if layout == "cards":
        cards = "".join(
            f"<div class='plan-card'><h3 class='plan-name'>{t.tier}</h3>"
            f"<p class='price'>{_price_text(t)}"
            f"<span class='period'>{_period_text(t, style)}</span></p>"
            f"<ul>{''.join(f'<li>{f}</li>' for f in t.features)}</ul>"
            "<a class='cta' href='/signup'>Get started</a></div>"
            for t in tiers
        )
        markup = _html(company, f"<div class='plans'>{cards}</div>", rnd)
    elif layout == "column_table":
        head = "".join(f"<th>{t.tier}</th>" for t in tiers)
        prices = "".join(f"<td>{_price_text(t)}{_period_text(t, style)}</td>" for t in tiers)
        all_features = sorted({f for t in tiers for f in t.features})
        rows = "".join(
            f"<tr><td>{f}</td>"
            + "".join(f"<td>{'✓' if f in t.features else '—'}</td>" for t in tiers)
            + "</tr>"
            for f in all_features
        )
        markup = _html(
            company,
            f"<table class='compare'><thead><tr><th>Plan</th>{head}</tr></thead>"
            f"<tbody><tr><td>Price</td>{prices}</tr>{rows}</tbody></table>",
            rnd,
        )
    elif layout == "row_table":
        rows = "".join(
            f"<tr><td>{t.tier}</td><td>{_price_text(t)}{_period_text(t, style)}</td>"
            f"<td>{', '.join(t.features)}</td></tr>"
            for t in tiers
        )
        markup = _html(
            company,
            "<table><tr><th>Plan</th><th>Price</th><th>Includes</th></tr>" + rows + "</table>",
            rnd,
        )
    elif layout == "markdown":
        parts = [f"# {company} pricing", "", "Simple plans that grow with you.", ""]
        for t in tiers:
            parts += [f"## {t.tier}", "", f"**{_price_text(t)}{_period_text(t, style)}**", ""]
            parts += [f"- {f}" for f in t.features] + [""]
        markup = "\n".join(parts)
    elif layout == "sections":
        sections = "".join(
            f"<section class='tier'><h2>{t.tier}</h2><div class='blurb'>"
            + (
                "Talk to our team about volume pricing. <strong>Contact sales</strong>"
                if t.amount is None
                else f"Starting at <strong>{_price_text(t)}</strong>{_period_text(t, style)}"
            )
            + f"</div><ul>{''.join(f'<li>{f}</li>' for f in t.features)}</ul></section>"
            for t in tiers
        )
        markup = _html(company, sections, rnd)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return SamplePage(company, layout, markup, tiers)


def pricing_pages(rnd: random.Random, n: int, industry: str = "") -> list[SamplePage]:
    names = company_names(rnd, n, industry)
    layouts = list(LAYOUTS)
    rnd.shuffle(layouts)
    return [pricing_page(rnd, name, layouts[i % len(layouts)]) for i, name in enumerate(names)]


_CLAIMS = (
    "{c} is the leading {topic} platform, trusted by {n:,} teams.",
    "Customers report {p}% faster onboarding with {c}.",
    "{c} was named a leader in the {year} {topic} report.",
    "Our {topic} engine is up to {x}x faster than legacy tools.",
    "{c} guarantees {p2}% uptime for every paid plan.",
)
_FILLER = (
    "Teams use {c} to plan, measure and improve their {topic} work.",
    "The product connects to the tools people already use every day.",
    "Setup takes minutes, and the onboarding guide covers the common cases.",
    "Reports can be shared with stakeholders in {city} and beyond.",
    "The roadmap for {year} focuses on {feature} and {feature2}.",
)
_CITIES = ("Berlin", "London", "New York", "Singapore", "Toronto", "Sydney", "Paris")


def article_page(rnd: random.Random, company: str, topic: str, features: list[str]) -> str:
    """A product page in HTML with headings, claims, entities and the given features."""
    ctx = {
        "c": company,
        "topic": topic or "analytics",
        "n": rnd.choice((500, 1200, 5000, 12000)),
        "p": rnd.choice((20, 35, 40, 60)),
        "p2": rnd.choice((99.9, 99.95, 99.99)),
        "x": rnd.choice((2, 3, 5, 10)),
        "year": rnd.choice((2023, 2024, 2025)),
        "city": rnd.choice(_CITIES),
        "feature": rnd.choice(FEATURES),
        "feature2": rnd.choice(FEATURES),
    }
    claims = [c.format(**ctx) for c in rnd.sample(_CLAIMS, k=3)]
    filler = [f.format(**ctx) for f in _FILLER]
    feature_items = "".join(f"<li>{f}</li>" for f in features)
    return (
        f"<html><head><title>{company} - {ctx['topic']} software</title></head><body>"
        f"<h1>{company}: {ctx['topic']} for modern teams</h1>"
        f"<p>{' '.join(claims[:2])} {filler[0]}</p>"
        f"<h2>Features</h2><ul>{feature_items}</ul><p>{filler[1]} {filler[2]}</p>"
        f"<h2>Why {company}</h2><p>{claims[2]} {filler[3]} {filler[4]}</p>"
        "</body></html>"
    )
