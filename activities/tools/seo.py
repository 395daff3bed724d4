"""SEO tools: `seo_audit` (on-page audit, 70+ named checks) and `keyword_coverage`.
JSON-LD generation lives in `schema_org.py`; the checklist in `seo_checks.py`."""

from __future__ import annotations

import re
from collections import Counter

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.markup import load_source, parse_document
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng
from activities.tools.seo_checks import CHECKS, FAIL, NA, PASS, gather
from activities.tools.seo_pages import DEFECTS, sample_page
from activities.tools.textstats import STOPWORDS, content_terms, sentences, words

_WEIGHT = {"high": 3.0, "medium": 2.0, "low": 1.0}
_SAMPLE_KEYWORDS = ("running shoes", "trail shoes", "walking shoes", "hiking boots", "tennis shoes")


class CheckResult(BaseModel):
    id: str
    category: str
    severity: str
    status: str
    detail: str
    description: str


class SeoAuditInput(ToolInput):
    html: str | None = Field(default=None, validation_alias=AliasChoices("html", "page"))
    html_path: str | None = Field(
        default=None, validation_alias=AliasChoices("html_path", "page_path", "path")
    )
    url: str = Field(
        default="", description="the page's URL (enables URL and mixed-content checks)"
    )
    keyword: str = Field(
        default="", validation_alias=AliasChoices("keyword", "target_keyword", "primary_keyword")
    )


class SeoAuditOutput(ToolOutput):
    score: float = 0.0
    checks: list[CheckResult] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    failed_by_severity: dict[str, int] = Field(default_factory=dict)
    report_path: str = ""
    source: str = ""


@tool("seo_audit", "On-page SEO audit of an HTML page: 70+ named checks, score, prioritised fixes")
def seo_audit(inp: SeoAuditInput) -> SeoAuditOutput:
    if inp.html or inp.html_path:
        html = load_source(inp.html, inp.html_path, "HTML page")
        url, keyword, source = inp.url, inp.keyword, inp.html_path or "given HTML"
    else:
        rnd = rng(inp, "seo_audit")
        keyword = inp.keyword or rnd.choice(_SAMPLE_KEYWORDS)
        planted = tuple(sorted(rnd.sample(sorted(DEFECTS), k=rnd.randint(3, 7))))
        html, url = sample_page(keyword, planted, rnd)
        source = f"sample page with {len(planted)} planted issues"
    facts = gather(html, url, keyword)
    results = []
    for c in CHECKS:
        status, detail = c.run(facts)
        results.append(
            CheckResult(
                id=c.id,
                category=c.category,
                severity=c.severity,
                status=status,
                detail=detail,
                description=c.description,
            )
        )
    applicable = [r for r in results if r.status != NA]
    total_w = sum(_WEIGHT[r.severity] for r in applicable) or 1.0
    score = round(
        100.0 * sum(_WEIGHT[r.severity] for r in applicable if r.status == PASS) / total_w, 1
    )
    failed = [r for r in results if r.status == FAIL]
    failed.sort(key=lambda r: -_WEIGHT[r.severity])
    by_sev = {s: sum(1 for r in failed if r.severity == s) for s in ("high", "medium", "low")}
    writer = ArtifactWriter(inp, "seo_audit")
    report = writer.json(
        "seo-audit",
        {
            "score": score,
            "url": url,
            "keyword": keyword,
            "checks": [r.model_dump() for r in results],
        },
    )
    return SeoAuditOutput(
        headline=(
            f"SEO score {score:.0f}/100: {len(failed)} of {len(applicable)} "
            "applicable checks failed "
            f"({by_sev['high']} high, {by_sev['medium']} medium, {by_sev['low']} low) on {source}."
        ),
        metrics={
            "score": score,
            "checks": float(len(results)),
            "applicable": float(len(applicable)),
            "failed": float(len(failed)),
            **{f"failed_{k}": float(v) for k, v in by_sev.items()},
            "words": float(facts.word_count),
        },
        recommendations=[f"[{r.severity}] {r.description} ({r.detail})" for r in failed[:10]]
        or ["No on-page issues found."],
        artifacts=writer.written,
        score=score,
        checks=results,
        failed=[r.id for r in failed],
        failed_by_severity=by_sev,
        report_path=report,
        source=source,
    )


# --------------------------------------------------------------------------- keyword_coverage


class KeywordReport(BaseModel):
    keyword: str
    count: int
    density_pct: float
    in_title: bool
    in_h1: bool
    in_headings: bool
    in_first_paragraph: bool
    in_image_alt: bool
    related_terms: list[str]


class KeywordCoverageInput(ToolInput):
    text: str | None = Field(
        default=None, validation_alias=AliasChoices("text", "html", "content", "markdown")
    )
    text_path: str | None = Field(
        default=None, validation_alias=AliasChoices("text_path", "draft_path", "html_path", "path")
    )
    keywords: list[str] = Field(default_factory=list)


class KeywordCoverageOutput(ToolOutput):
    coverage_pct: float = 0.0
    keywords: list[KeywordReport] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    words: int = 0


def _count(text: str, kw: str) -> int:
    return len(re.findall(rf"(?<!\w){re.escape(kw.lower())}(?!\w)", text.lower()))


def related_terms(text: str, kw: str, n: int = 5) -> list[str]:
    """Terms that share sentences with the keyword most often (candidates for semantic coverage)."""
    kw_parts = set(kw.lower().split())
    counter: Counter[str] = Counter()
    for s in sentences(text):
        if _count(s, kw):
            counter.update(t for t in content_terms(s) if t not in kw_parts and t not in STOPWORDS)
    return [t for t, _ in counter.most_common(n)]


@tool(
    "keyword_coverage",
    "Where and how often each keyword appears (title, H1, headings, intro, alt text, density)",
)
def keyword_coverage(inp: KeywordCoverageInput) -> KeywordCoverageOutput:
    if inp.text or inp.text_path:
        source = load_source(inp.text, inp.text_path, "text")
        keywords = list(inp.keywords)
    else:
        rnd = rng(inp, "keyword_coverage")
        kw = rnd.choice(_SAMPLE_KEYWORDS)
        source, _url = sample_page(kw, (), rnd)
        keywords = list(inp.keywords) or [kw, "fit", "trail", "cushioning"]
    if not keywords:
        doc = parse_document(source)
        keywords = [t for t, _ in Counter(content_terms(doc.text)).most_common(5)]
    doc = parse_document(source)
    n_words = max(1, len(words(doc.text)))
    heads = " ".join(t for _l, t in doc.headings)
    first = doc.paragraphs[0] if doc.paragraphs else doc.text[:600]
    alts = " ".join(a for _s, a in doc.images)
    reports = []
    for kw in keywords:
        c = _count(doc.text, kw)
        reports.append(
            KeywordReport(
                keyword=kw,
                count=c,
                density_pct=round(100.0 * c * len(kw.split()) / n_words, 3),
                in_title=_count(doc.title, kw) > 0,
                in_h1=any(_count(h, kw) for h in doc.h1),
                in_headings=_count(heads, kw) > 0,
                in_first_paragraph=_count(first, kw) > 0,
                in_image_alt=_count(alts, kw) > 0,
                related_terms=related_terms(doc.text, kw),
            )
        )
    missing = [r.keyword for r in reports if r.count == 0]
    coverage = round(100.0 * (len(reports) - len(missing)) / len(reports), 1) if reports else 0.0
    recs = [f"Add '{k}' to the body, ideally in a subheading." for k in missing]
    if reports and not reports[0].in_title:
        recs.append(f"Put the primary keyword '{reports[0].keyword}' in the title.")
    recs += [
        f"'{r.keyword}' density {r.density_pct:.1f}% is high: vary the wording."
        for r in reports
        if r.density_pct > 3
    ]
    return KeywordCoverageOutput(
        headline=(
            f"{len(reports) - len(missing)} of {len(reports)} keywords covered "
            f"({coverage:.0f}%) in {n_words} words"
        )
        + (f"; missing: {', '.join(missing)}." if missing else "."),
        metrics={
            "coverage_pct": coverage,
            "keywords": float(len(reports)),
            "missing": float(len(missing)),
            "words": float(n_words),
        },
        recommendations=recs or ["Coverage is complete."],
        coverage_pct=coverage,
        keywords=reports,
        missing=missing,
        words=n_words,
    )
