"""`pricing_table`: pricing tiers extracted from pricing pages (HTML or Markdown).

Extraction is real parsing of the common layouts — plan cards, comparison tables with
tiers as columns, tables with tiers as rows, Markdown sections, prose sections — so the
same code reads a page a user saved and the sample pages generated when none is given.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.markup import load_source, looks_like_html
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sample_pages import pricing_pages
from activities.tools.sampling import rng

_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP", "usd": "USD", "eur": "EUR", "gbp": "GBP"}
PRICE_RE = re.compile(
    r"(?P<cur>[$€£]|\b(?:USD|EUR|GBP)\b)\s?(?P<amt>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)",
    re.I,
)
FREE_RE = re.compile(r"^\s*(?:free(?: forever)?|\$0(?:\.00)?)\s*$", re.I)
CUSTOM_RE = re.compile(
    r"contact (?:sales|us)|custom pricing|let'?s talk|get a quote|custom quote", re.I
)
# What follows a price: an optional per-seat unit, then an optional billing period.
_AFTER_PRICE = re.compile(
    r"^\s*(?:(?:/|per)\s*(?P<unit>user|seat|member)s?\s*)?"
    r"(?:(?:/|per|a)\s*(?P<per>mo|month|yr|year)\b)?",
    re.I,
)
_YES = {"✓", "✔", "yes", "included", "true", "y", "●"}
_NO = {"", "\u2014", "-", "\u2013", "\u2717", "\u2715", "no", "false", "n"}
_HEADINGS = ("h2", "h3", "h4", "h5", "h6")


@dataclass
class ExtractedTier:
    tier: str
    amount: float | None
    currency: str
    period: str  # month | year | free | custom
    per_user: bool = False
    features: list[str] = field(default_factory=list)

    @property
    def monthly(self) -> float | None:
        if self.amount is None:
            return None
        return round(self.amount / 12, 2) if self.period == "year" else self.amount


def _clean(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def parse_price(text: str, after: str = "") -> tuple[float | None, str, str, bool] | None:
    """(amount, currency, period, per_user) from a price string, or None if it is not one.
    `after` is the text that follows it (periods often sit in a sibling element)."""
    if FREE_RE.match(text):
        return 0.0, "USD", "free", False
    m = PRICE_RE.search(text)
    if m:
        amount = float(m.group("amt").replace(",", ""))
        currency = _CURRENCY[m.group("cur").lower()]
        tail = _AFTER_PRICE.match(text[m.end() :] + " " + after)
        per = (tail.group("per") or "").lower() if tail else ""
        unit = bool(tail and tail.group("unit"))
        period = "year" if per in ("yr", "year") else "month"
        if amount == 0:
            period = "free"
        return amount, currency, period, unit
    if CUSTOM_RE.search(text) and len(text) < 40:
        return None, "", "custom", False
    return None


def _company_from_html(soup: Any) -> str:
    meta = soup.find("meta", attrs={"property": "og:site_name"})
    if meta and meta.get("content"):
        return _clean(str(meta["content"]))
    title = _clean(soup.title.get_text()) if soup.title else ""
    for part in re.split("\\s[|\u2013\u2014-]\\s", title):
        name = re.sub(r"\b(pricing|plans?|and|prices)\b", "", part, flags=re.I).strip(" :|-")
        if name:
            return _clean(name)
    return ""


def _from_column_table(rows: list[list[str]]) -> list[ExtractedTier]:
    header = rows[0]
    price_row = next(
        (
            r
            for r in rows[1:]
            if r and re.match(r"^(price|pricing|cost|monthly price)\b", r[0], re.I)
        ),
        None,
    )
    if price_row is None or len(header) < 3:
        return []
    tiers: list[ExtractedTier] = []
    for j in range(1, min(len(header), len(price_row))):
        parsed = parse_price(price_row[j])
        if parsed is None:
            continue
        amount, currency, period, per_user = parsed
        features = []
        for r in rows[1:]:
            if r is price_row or len(r) <= j:
                continue
            value = r[j].strip()
            if value.lower() in _YES:
                features.append(r[0])
            elif value.lower() not in _NO:
                features.append(f"{r[0]}: {value}")
        tiers.append(ExtractedTier(header[j], amount, currency, period, per_user, sorted(features)))
    return _fill_currency(tiers)


def _from_row_table(rows: list[list[str]]) -> list[ExtractedTier]:
    tiers = []
    for r in rows:
        # The first cell names the tier (even when the name is "Free"); the price follows.
        for j in range(1, len(r)):
            parsed = parse_price(r[j])
            if parsed is None or not r[0]:
                continue
            amount, currency, period, per_user = parsed
            rest = [f.strip() for c in r[j + 1 :] for f in c.split(",") if f.strip()]
            tiers.append(ExtractedTier(r[0], amount, currency, period, per_user, sorted(rest)))
            break
    return _fill_currency(tiers)


def _fill_currency(tiers: list[ExtractedTier]) -> list[ExtractedTier]:
    """Free and custom tiers carry no symbol: give them the page's currency."""
    known = [t.currency for t in tiers if t.amount and t.currency]
    page_currency = statistics.mode(known) if known else "USD"
    for t in tiers:
        if t.amount is None or t.amount == 0:
            t.currency = page_currency
    return tiers


def _from_tables(soup: Any) -> list[ExtractedTier]:
    out: list[ExtractedTier] = []
    for table in soup.find_all("table"):
        rows = [
            [_clean(c.get_text(" ")) for c in tr.find_all(["td", "th"])]
            for tr in table.find_all("tr")
        ]
        rows = [r for r in rows if r]
        if not rows:
            continue
        out += _from_column_table(rows) or _from_row_table(rows)
    return out


_NAME_CLASS = re.compile(r"(name|title)", re.I)


def _heading_of(el: Any) -> Any:
    found = el.find(_HEADINGS)
    if found is None:
        found = el.find(class_=_NAME_CLASS)
    return found


def _from_blocks(soup: Any) -> list[ExtractedTier]:
    candidates = []
    for s in soup.find_all(string=True):
        text = _clean(str(s))
        if not text or s.find_parent(["table", "script", "style", "h1", *_HEADINGS]) is not None:
            continue
        if s.parent is not None and _NAME_CLASS.search(" ".join(s.parent.get("class") or [])):
            continue  # a tier called "Free" names the tier; its price sits elsewhere
        if len(text) < 40 and parse_price(text) is not None:
            candidates.append(s)
    ids = {id(s) for s in candidates}
    tiers: list[ExtractedTier] = []
    for s in candidates:
        for anc in s.parents:
            if anc.name in (None, "[document]", "html", "body"):
                break
            heading = _heading_of(anc)
            if heading is None or heading in s.parents:
                continue
            inside = sum(1 for t in anc.find_all(string=True) if id(t) in ids)
            if inside != 1:
                break  # grew past one plan: the price has no tier of its own
            following = " ".join(str(n) for n in s.find_all_next(string=True, limit=3))
            parsed = parse_price(_clean(str(s)), following)
            assert parsed is not None
            amount, currency, period, per_user = parsed
            features = [_clean(li.get_text(" ")) for li in anc.find_all("li")]
            name = _clean(heading.get_text(" "))
            tiers.append(ExtractedTier(name, amount, currency, period, per_user, sorted(features)))
            break
    return _fill_currency(tiers)


def _from_markdown(source: str) -> tuple[str, list[ExtractedTier]]:
    company = ""
    sections: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        m = re.match(r"^(#{1,6})\s+(.*)$", line.strip())
        if m and len(m.group(1)) == 1 and not company:
            company = re.sub(r"\b(pricing|plans?)\b", "", m.group(2), flags=re.I).strip()
        elif m:
            sections.append((m.group(2).strip(), []))
        elif sections:
            sections[-1][1].append(line)
    tiers = []
    for name, lines in sections:
        features = [
            re.sub(r"^\s*[-*+]\s+", "", ln).strip() for ln in lines if re.match(r"^\s*[-*+]\s", ln)
        ]
        for ln in lines:
            text = re.sub(r"[*_`]", "", ln).strip()
            parsed = parse_price(text) if text and not re.match(r"^[-*+]\s", text) else None
            if parsed:
                amount, currency, period, per_user = parsed
                tiers.append(
                    ExtractedTier(name, amount, currency, period, per_user, sorted(features))
                )
                break
    return company, _fill_currency(tiers)


def extract_pricing(markup: str) -> tuple[str, list[ExtractedTier]]:
    """(company, tiers) found on one pricing page."""
    if not looks_like_html(markup):
        return _from_markdown(markup)
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    tiers = _from_tables(soup)
    seen = {t.tier.lower() for t in tiers}
    tiers += [t for t in _from_blocks(soup) if t.tier.lower() not in seen]
    return _company_from_html(soup), tiers


class PricingTableInput(ToolInput):
    pages: list[str] = Field(default_factory=list, description="pricing pages, HTML or Markdown")
    page_paths: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("page_paths", "paths", "html_paths")
    )
    companies: list[str] = Field(
        default_factory=list, description="names for pages without one, or for the sample pages"
    )
    industry: str = ""
    n_companies: int = Field(default=5, ge=1, le=18)
    our_price: float | None = Field(default=None, description="our entry price per month, USD")


class PricingRow(BaseModel):
    company: str
    tier: str
    amount: float | None
    currency: str
    period: str
    monthly_price: float | None
    per_user: bool
    features: list[str]


class PricingTableOutput(ToolOutput):
    companies: list[str] = Field(default_factory=list)
    rows: list[PricingRow] = Field(default_factory=list)
    table_path: str = ""
    source: str = Field(default="", description="'pages' or 'sample pages' (generated)")


@tool("pricing_table", "Extract pricing tiers of 5+ companies from pricing pages into one table")
def pricing_table(inp: PricingTableInput) -> PricingTableOutput:
    sources = list(inp.pages) + [load_source(None, p, "pricing page") for p in inp.page_paths]
    source_kind = "pages"
    if not sources:
        sample = pricing_pages(
            rng(inp, "pricing"), max(5, inp.n_companies, len(inp.companies)), inp.industry
        )
        for i, name in enumerate(inp.companies):
            sample[i].markup = sample[i].markup.replace(sample[i].company, name)
        sources = [p.markup for p in sample]
        source_kind = "sample pages"
    rows: list[PricingRow] = []
    companies: list[str] = []
    for i, markup in enumerate(sources):
        found, tiers = extract_pricing(markup)
        # A name the caller gave for this page beats one inferred from its markup.
        hint = inp.companies[i] if i < len(inp.companies) else ""
        company = hint or found or f"Company {i + 1}"
        companies.append(company)
        rows += [
            PricingRow(
                company=company,
                tier=t.tier,
                amount=t.amount,
                currency=t.currency,
                period=t.period,
                monthly_price=t.monthly,
                per_user=t.per_user,
                features=t.features,
            )
            for t in tiers
        ]
    return _summarise(inp, companies, rows, source_kind)


def _summarise(
    inp: PricingTableInput, companies: list[str], rows: list[PricingRow], source_kind: str
) -> PricingTableOutput:
    import csv
    import io

    writer = ArtifactWriter(inp, "pricing_table")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["company", "tier", "amount", "currency", "period", "monthly_price", "per_user", "features"]
    )
    for r in rows:
        w.writerow(
            [
                r.company,
                r.tier,
                r.amount,
                r.currency,
                r.period,
                r.monthly_price,
                r.per_user,
                "; ".join(r.features),
            ]
        )
    table_path = writer.text("pricing", "csv", buf.getvalue())

    usd_paid = [r for r in rows if r.currency == "USD" and r.monthly_price]
    entry: list[float] = []
    for c in companies:
        prices = [r.monthly_price for r in usd_paid if r.company == c and r.monthly_price]
        if prices:
            entry.append(min(prices))
    metrics: dict[str, float] = {
        "companies": float(len(companies)),
        "tiers": float(len(rows)),
        "companies_with_free_tier": float(len({r.company for r in rows if r.period == "free"})),
        "companies_with_custom_tier": float(len({r.company for r in rows if r.period == "custom"})),
    }
    recs: list[str] = []
    if entry:
        metrics["median_entry_price_usd"] = float(statistics.median(entry))
        metrics["min_entry_price_usd"] = float(min(entry))
        metrics["max_entry_price_usd"] = float(max(entry))
        if inp.our_price is not None:
            below = sum(1 for p in entry if p < inp.our_price)
            metrics["our_price_percentile"] = round(100.0 * below / len(entry), 1)
            recs.append(
                f"Our entry price ${inp.our_price:,.2f}/mo is above {below} of {len(entry)} "
                "competitors' entry tiers; check it against the features they include."
            )
    if metrics["companies_with_free_tier"] >= len(companies) / 2:
        recs.append("Most competitors offer a free tier: consider a free plan or a trial.")
    if metrics["companies_with_custom_tier"]:
        recs.append("Enterprise tiers are quote-based: publish what triggers a custom quote.")
    empty = [c for c in companies if not any(r.company == c for r in rows)]
    if empty:
        recs.append(f"No tiers found for {', '.join(empty)}: check those pages' markup.")
    median = metrics.get("median_entry_price_usd")
    headline = (
        f"Extracted {len(rows)} pricing tiers for {len(companies)} companies from {source_kind}"
        + (f"; median paid entry tier ${median:,.2f}/month." if median is not None else ".")
    )
    return PricingTableOutput(
        headline=headline,
        metrics=metrics,
        recommendations=recs,
        artifacts=writer.written,
        companies=companies,
        rows=rows,
        table_path=table_path,
        source=source_kind,
    )
