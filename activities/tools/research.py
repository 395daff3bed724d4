"""Market research and competitive intelligence: `page_analysis`, `feature_matrix`,
`win_loss_analysis` (pricing pages live in `pricing.py`)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, field_validator

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.markup import Document, load_source, parse_document
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sample_pages import FEATURES, article_page, company_names
from activities.tools.sampling import rng
from activities.tools.textstats import STOPWORDS, content_terms, sentences, words

# --------------------------------------------------------------------------- page_analysis

_PROPER = re.compile(
    r"\b(?:[A-Z][\w&'\u2019.-]*[\w]|[A-Z])"
    r"(?:[ \t]+(?:(?:of|&|de|for)[ \t]+)?[A-Z][\w&'\u2019.-]*[\w])*"
)
_MONEY = re.compile(r"[$€£]\s?\d[\d,]*(?:\.\d+)?\s?(?:k|m|bn|million|billion)?\b", re.I)
_PERCENT = re.compile(r"\b\d+(?:\.\d+)?\s?%")
_DATE = re.compile(
    r"\b(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2},?\s+)?"
    r"(?:19|20)\d{2}\b"
)
_ORG_SUFFIX = re.compile(
    r"\b(Inc|Ltd|LLC|GmbH|Corp|Corporation|Labs|HQ|Cloud|Works|Stack|Group|AG|SA|plc|Co)\.?$"
)
_CLAIM = re.compile(
    r"\b(best|leading|leader|fastest|#1|number one|most|only|guarantee[sd]?|proven|award\w*|"
    r"trusted by|up to|faster|cheaper|better|\d+(?:\.\d+)?\s?%|\d+x)(?=\W|$)",
    re.I,
)


class Entity(BaseModel):
    text: str
    kind: str  # organization | proper_noun | money | percent | date
    count: int


class Claim(BaseModel):
    text: str
    kind: str  # quantified | qualitative


class PageSummary(BaseModel):
    source: str
    title: str
    word_count: int
    headings: list[str]
    entities: list[Entity]
    claims: list[Claim]
    top_terms: dict[str, int]
    keyword_hits: dict[str, int]


def find_entities(text: str) -> list[Entity]:
    counts: Counter[tuple[str, str]] = Counter()
    for pattern, kind in ((_MONEY, "money"), (_PERCENT, "percent"), (_DATE, "date")):
        for m in pattern.finditer(text):
            counts[(m.group(0).strip(), kind)] += 1
    sents = sentences(text)
    starts: Counter[str] = Counter()
    mid: Counter[str] = Counter()
    for s in sents:
        for m in _PROPER.finditer(s):
            phrase = m.group(0).strip()
            at_start = m.start() == 0
            first, _, rest = phrase.partition(" ")
            if at_start and rest and first.lower() in STOPWORDS:
                phrase, at_start = rest, False  # "The Bank of England" -> "Bank of England"
            if _DATE.fullmatch(phrase) or phrase.lower() in STOPWORDS:
                continue
            (starts if at_start else mid)[phrase] += 1
    for phrase in set(starts) | set(mid):
        # A lone capitalised word that opens a sentence is usually just a word ("Teams use..."),
        # unless it is also capitalised mid-sentence somewhere.
        if " " not in phrase and not mid[phrase] and not _ORG_SUFFIX.search(phrase):
            continue
        kind = "organization" if _ORG_SUFFIX.search(phrase) else "proper_noun"
        counts[(phrase, kind)] += starts[phrase] + mid[phrase]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [Entity(text=t, kind=k, count=c) for (t, k), c in ranked]


def find_claims(text: str) -> list[Claim]:
    out = []
    for s in sentences(text):
        if _CLAIM.search(s):
            out.append(Claim(text=s, kind="quantified" if re.search(r"\d", s) else "qualitative"))
    return out


def _keyword_hits(text: str, keywords: list[str]) -> dict[str, int]:
    low = text.lower()
    return {k: len(re.findall(rf"(?<!\w){re.escape(k.lower())}(?!\w)", low)) for k in keywords}


def summarise_page(source: str, doc: Document, keywords: list[str], top_n: int) -> PageSummary:
    return PageSummary(
        source=source,
        title=doc.title,
        word_count=len(words(doc.text)),
        headings=[f"H{level}: {text}" for level, text in doc.headings],
        entities=find_entities(doc.text),
        claims=find_claims(doc.text),
        top_terms=dict(Counter(content_terms(doc.text)).most_common(top_n)),
        keyword_hits=_keyword_hits(doc.text, keywords),
    )


class PageAnalysisInput(ToolInput):
    documents: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("documents", "pages", "texts"),
        description="HTML or Markdown documents inline (small ones; use paths for big ones)",
    )
    paths: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("paths", "document_paths", "page_paths")
    )
    keywords: list[str] = Field(default_factory=list)
    topic: str = Field(default="", description="used for sample pages when none are given")
    top_n: int = Field(default=15, ge=1, le=200)

    @field_validator("documents", mode="before")
    @classmethod
    def _document_texts(cls, value: Any) -> Any:
        """Documents as records too (an earlier step's creative variants or drafts, a
        connector's rows): each one's text field is the document."""
        if not isinstance(value, list):
            return value
        return [_document_text(i, v) if isinstance(v, dict) else v for i, v in enumerate(value)]


DOCUMENT_TEXT_FIELDS = ("text", "body", "content", "markdown", "html", "draft")


def _document_text(index: int, record: dict[str, Any]) -> str:
    for key in DOCUMENT_TEXT_FIELDS:
        text = record.get(key)
        if isinstance(text, str) and text.strip():
            return text
    raise ValueError(
        f"documents[{index}] is an object without a text field (one of "
        f"{', '.join(DOCUMENT_TEXT_FIELDS)}); give each document as a string of HTML or "
        "Markdown, or as an object with one of those fields"
    )


class PageAnalysisOutput(ToolOutput):
    documents: list[PageSummary] = Field(default_factory=list)
    keyword_frequencies: dict[str, int] = Field(default_factory=dict)
    report_path: str = ""
    source: str = ""


@tool(
    "page_analysis", "Analyse HTML/Markdown pages: headings, entities, keyword frequencies, claims"
)
def page_analysis(inp: PageAnalysisInput) -> PageAnalysisOutput:
    named: list[tuple[str, str]] = [(f"document {i + 1}", d) for i, d in enumerate(inp.documents)]
    named += [(p, load_source(None, p, "document")) for p in inp.paths]
    source = "documents"
    if not named:
        rnd = rng(inp, "page_analysis")
        topic = inp.topic or "analytics"
        source = f"sample pages about {topic}"
        for company in company_names(rnd, 3):
            page = article_page(rnd, company, topic, rnd.sample(FEATURES, k=4))
            named.append((f"sample:{company}", page))
    summaries = [
        summarise_page(name, parse_document(text), inp.keywords, inp.top_n) for name, text in named
    ]
    totals: Counter[str] = Counter()
    for s in summaries:
        totals.update(s.top_terms)
    keyword_frequencies = dict(totals.most_common(inp.top_n))
    writer = ArtifactWriter(inp, "page_analysis")
    report = writer.json("page-analysis", [s.model_dump() for s in summaries])
    n_claims = sum(len(s.claims) for s in summaries)
    n_quant = sum(1 for s in summaries for c in s.claims if c.kind == "quantified")
    n_entities = sum(len(s.entities) for s in summaries)
    words_total = sum(s.word_count for s in summaries)
    top = ", ".join(list(keyword_frequencies)[:3])
    recs = []
    if n_claims and n_quant < n_claims:
        recs.append(
            f"{n_claims - n_quant} claims carry no number: ask for evidence before reusing them."
        )
    missing = sorted({k for s in summaries for k, n in s.keyword_hits.items() if n == 0})
    if missing:
        recs.append(f"Keywords absent from some documents: {', '.join(missing)}.")
    recs.append(f"Track the dominant themes ({top}) against our own messaging.")
    return PageAnalysisOutput(
        headline=(
            f"Analysed {len(summaries)} documents ({words_total} words): {n_entities} entities, "
            f"{n_claims} claims ({n_quant} quantified); top terms {top}."
        ),
        metrics={
            "documents": float(len(summaries)),
            "words": float(words_total),
            "entities": float(n_entities),
            "claims": float(n_claims),
            "quantified_claims": float(n_quant),
            "headings": float(sum(len(s.headings) for s in summaries)),
        },
        recommendations=recs,
        artifacts=writer.written,
        documents=summaries,
        keyword_frequencies=keyword_frequencies,
        report_path=report,
        source=source,
    )


# --------------------------------------------------------------------------- feature_matrix


class FeatureMatrixInput(ToolInput):
    companies: list[str] = Field(default_factory=list)
    features: list[str] = Field(
        default_factory=list,
        description="features to look for; 'SSO|single sign-on' lists synonyms",
    )
    pages: list[str] = Field(default_factory=list, description="one page per company, same order")
    page_paths: list[str] = Field(default_factory=list)
    our_company: str = Field(default="", description="which company is us (for gap analysis)")
    topic: str = ""


class FeatureMatrixOutput(ToolOutput):
    companies: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    matrix: dict[str, dict[str, bool]] = Field(default_factory=dict)
    coverage: dict[str, float] = Field(default_factory=dict)
    table_stakes: list[str] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list, description="features others have and we lack")
    unique: dict[str, list[str]] = Field(default_factory=dict)
    table_path: str = ""


def feature_present(text: str, feature: str) -> bool:
    low = text.lower()
    return any(
        re.search(rf"(?<!\w){re.escape(alt.strip().lower())}(?!\w)", low)
        for alt in feature.split("|")
        if alt.strip()
    )


@tool("feature_matrix", "Feature-by-company matrix from product pages, with parity gaps")
def feature_matrix(inp: FeatureMatrixInput) -> FeatureMatrixOutput:
    pages = list(inp.pages) + [load_source(None, p, "product page") for p in inp.page_paths]
    features = list(inp.features) or list(FEATURES[:10])
    if pages:
        companies = list(inp.companies) + [
            f"Company {i + 1}" for i in range(len(inp.companies), len(pages))
        ]
    else:
        rnd = rng(inp, "feature_matrix")
        companies = list(inp.companies) or company_names(rnd, 5)
        # Sample product pages each list a random subset of the features; detection below
        # reads them back from the page text like any real page.
        names = [f.split("|")[0] for f in features]
        pages = [
            article_page(rnd, c, inp.topic, rnd.sample(names, k=rnd.randint(2, len(names))))
            for c in companies
        ]
    if len(pages) != len(companies):
        raise InvalidToolInput(
            f"{len(pages)} pages for {len(companies)} companies: give one page each"
        )
    texts = [parse_document(p).text for p in pages]
    labels = [f.split("|")[0].strip() for f in features]
    matrix = {
        c: {label: feature_present(t, f) for label, f in zip(labels, features, strict=True)}
        for c, t in zip(companies, texts, strict=True)
    }
    coverage = {c: round(100.0 * sum(row.values()) / len(labels), 1) for c, row in matrix.items()}
    share = {f: sum(matrix[c][f] for c in companies) / len(companies) for f in labels}
    table_stakes = [f for f in labels if share[f] >= 0.8]
    unique = {
        c: [f for f in labels if matrix[c][f] and sum(matrix[o][f] for o in companies) == 1]
        for c in companies
    }
    us = inp.our_company if inp.our_company in matrix else ""
    gaps = [f for f in labels if us and not matrix[us][f] and share[f] > 0] if us else []

    writer = ArtifactWriter(inp, "feature_matrix")
    lines = ["feature," + ",".join(companies)]
    lines += [
        f + "," + ",".join("yes" if matrix[c][f] else "no" for c in companies) for f in labels
    ]
    table_path = writer.text("feature-matrix", "csv", "\n".join(lines) + "\n")
    leader = max(companies, key=lambda c: coverage[c])
    recs = []
    if gaps:
        recs.append(f"Close parity gaps first: {', '.join(gaps)}.")
    missing_stakes = [f for f in table_stakes if us and not matrix[us][f]]
    if missing_stakes:
        recs.append(f"Table-stakes features we lack: {', '.join(missing_stakes)}.")
    nobody = [f for f in labels if share[f] == 0]
    if nobody:
        recs.append(f"No one offers {', '.join(nobody)}: a possible differentiator.")
    return FeatureMatrixOutput(
        headline=(
            f"Compared {len(companies)} companies on {len(labels)} features; {leader} covers the "
            f"most ({coverage[leader]:.0f}%), {len(table_stakes)} features are table stakes."
        ),
        metrics={
            "companies": float(len(companies)),
            "features": float(len(labels)),
            "table_stakes": float(len(table_stakes)),
            "gaps": float(len(gaps)),
            "max_coverage_pct": coverage[leader],
        },
        recommendations=recs,
        artifacts=writer.written,
        companies=companies,
        features=labels,
        matrix=matrix,
        coverage=coverage,
        table_stakes=table_stakes,
        gaps=gaps,
        unique=unique,
        table_path=table_path,
    )


# --------------------------------------------------------------------------- win_loss_analysis

_COMPETITORS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "none")
_SEGMENTS = ("SMB", "Mid-market", "Enterprise")
_WIN_REASONS = ("product fit", "price", "support", "integrations", "time to value")
_LOSS_REASONS = ("price", "missing feature", "incumbent", "no decision", "security review")


class Deal(BaseModel):
    outcome: str  # won | lost
    competitor: str = "none"
    reason: str = ""
    amount: float = 0.0
    segment: str = ""
    cycle_days: float = 0.0


class WinLossInput(ToolInput):
    deals_path: str | None = Field(
        default=None,
        description="CSV/Parquet: outcome, competitor, reason, amount, segment, cycle_days",
    )
    deals: list[Deal] = Field(default_factory=list, description="a few deals inline")
    n_deals: int = Field(default=240, ge=10, le=100_000, description="size of the sample set")
    company: str = ""


class WinLossOutput(ToolOutput):
    win_rate: float = 0.0
    by_competitor: dict[str, dict[str, float]] = Field(default_factory=dict)
    by_segment: dict[str, dict[str, float]] = Field(default_factory=dict)
    top_loss_reasons: dict[str, int] = Field(default_factory=dict)
    top_win_reasons: dict[str, int] = Field(default_factory=dict)
    report_path: str = ""


def _sample_deals(inp: WinLossInput) -> list[dict[str, Any]]:
    rnd = rng(inp, "win_loss")
    strength = {c: rnd.uniform(0.25, 0.7) for c in _COMPETITORS}
    deals = []
    for _ in range(inp.n_deals):
        comp = rnd.choice(_COMPETITORS)
        seg = rnd.choice(_SEGMENTS)
        p_win = strength[comp] - (0.1 if seg == "Enterprise" else 0.0)
        won = rnd.random() < p_win
        base = {"SMB": 8_000, "Mid-market": 30_000, "Enterprise": 120_000}[seg]
        deals.append(
            {
                "outcome": "won" if won else "lost",
                "competitor": comp,
                "reason": rnd.choice(_WIN_REASONS if won else _LOSS_REASONS),
                "amount": round(base * rnd.uniform(0.5, 1.8), 2),
                "segment": seg,
                "cycle_days": round(rnd.uniform(15, 120) * (1.4 if seg == "Enterprise" else 1.0)),
            }
        )
    return deals


@tool("win_loss_analysis", "Win/loss rates by competitor and segment, with top reasons")
def win_loss_analysis(inp: WinLossInput) -> WinLossOutput:
    import pandas as pd

    from activities.tools.tabular import read_table, require_columns

    if inp.deals_path:
        df = read_table(inp.deals_path)
        require_columns(df, ["outcome"], f"deals file {inp.deals_path}")
        source = inp.deals_path
    elif inp.deals:
        df = pd.DataFrame([d.model_dump() for d in inp.deals])
        source = "given deals"
    else:
        df = pd.DataFrame(_sample_deals(inp))
        source = "sample deals"
    for col, default in (
        ("competitor", "none"),
        ("reason", ""),
        ("segment", ""),
        ("amount", 0.0),
        ("cycle_days", 0.0),
    ):
        if col not in df.columns:
            df[col] = default
    df["won"] = (
        df["outcome"]
        .astype(str)
        .str.strip()
        .str.lower()
        .isin(["won", "win", "closed won", "1", "true"])
    )
    if df.empty:
        raise InvalidToolInput("no deals to analyse")

    def rates(key: str) -> dict[str, dict[str, float]]:
        g = df.groupby(key).agg(
            deals=("won", "size"), wins=("won", "sum"), amount=("amount", "sum")
        )
        return {
            str(k): {
                "deals": float(r.deals),
                "win_rate": round(float(r.wins / r.deals), 4),
                "amount": float(r.amount),
            }
            for k, r in g.iterrows()
        }

    win_rate = float(df["won"].mean())
    by_comp = rates("competitor")
    by_seg = rates("segment")
    loss_reasons = {
        str(k): int(v) for k, v in df.loc[~df["won"], "reason"].value_counts().head(5).items()
    }
    win_reasons = {
        str(k): int(v) for k, v in df.loc[df["won"], "reason"].value_counts().head(5).items()
    }
    cycle_won = float(df.loc[df["won"], "cycle_days"].mean()) if df["won"].any() else 0.0
    cycle_lost = float(df.loc[~df["won"], "cycle_days"].mean()) if (~df["won"]).any() else 0.0
    avg_won = float(df.loc[df["won"], "amount"].mean()) if df["won"].any() else 0.0
    contested = {k: v for k, v in by_comp.items() if k != "none" and v["deals"] >= 5}
    toughest = min(contested, key=lambda k: contested[k]["win_rate"]) if contested else ""
    writer = ArtifactWriter(inp, "win_loss_analysis")
    report = writer.json(
        "win-loss",
        {
            "win_rate": win_rate,
            "by_competitor": by_comp,
            "by_segment": by_seg,
            "loss_reasons": loss_reasons,
            "win_reasons": win_reasons,
        },
    )
    recs = []
    if toughest:
        recs.append(
            f"Build a battlecard against {toughest}: win rate "
            f"{contested[toughest]['win_rate']:.0%} "
            f"over {contested[toughest]['deals']:.0f} deals."
        )
    if loss_reasons:
        top_loss = next(iter(loss_reasons))
        recs.append(
            f"Top loss reason is '{top_loss}' ({loss_reasons[top_loss]} deals): "
            "address it in the pitch."
        )
    if cycle_lost > cycle_won * 1.2 and cycle_won:
        recs.append("Lost deals run long: qualify out stalled opportunities earlier.")
    headline = f"Win rate {win_rate:.1%} over {len(df)} deals ({source})" + (
        f"; toughest competitor {toughest} at {contested[toughest]['win_rate']:.0%}."
        if toughest
        else "."
    )
    return WinLossOutput(
        headline=headline,
        metrics={
            "deals": float(len(df)),
            "win_rate": round(win_rate, 4),
            "avg_won_amount": round(avg_won, 2),
            "avg_cycle_days_won": round(cycle_won, 1),
            "avg_cycle_days_lost": round(cycle_lost, 1),
        },
        recommendations=recs,
        artifacts=writer.written,
        win_rate=round(win_rate, 4),
        by_competitor=by_comp,
        by_segment=by_seg,
        top_loss_reasons=loss_reasons,
        top_win_reasons=win_reasons,
        report_path=report,
    )
