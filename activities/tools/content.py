"""Content tools: `content_draft` (templated, deterministic prose in 7 tones),
`readability_score` and `content_quality_score` (0-100).

The draft is a structured starting point an agent or editor refines — it is built from
phrase banks, never presented as model-written text.
"""

from __future__ import annotations

import re

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.markup import load_source, parse_document
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng
from activities.tools.textstats import readability, sentences, words
from activities.tools.tones import (
    CLOSERS,
    CONTRACTING,
    CONTRACTIONS,
    INTROS,
    PREFIXES,
    SECTION_POINTS,
    SECTIONS,
    SENTENCES,
    TITLES,
    TONES,
)

_SAMPLE_TOPICS = (
    "email marketing",
    "customer onboarding",
    "cloud cost control",
    "community building",
    "product analytics",
    "remote team rituals",
)


def _title_case(s: str) -> str:
    small = {"a", "an", "and", "the", "of", "for", "to", "in", "on", "with"}
    return " ".join(
        w if (i and w.lower() in small) else w[:1].upper() + w[1:] for i, w in enumerate(s.split())
    )


class ContentDraftInput(ToolInput):
    topic: str = ""
    tone: str = Field(default="professional", description=" | ".join(TONES))
    keywords: list[str] = Field(default_factory=list)
    target_words: int = Field(
        default=800,
        ge=50,
        le=10_000,
        validation_alias=AliasChoices("target_words", "length", "word_count"),
    )
    audience: str = "teams"
    brand: str = ""
    cta: str = Field(default="Book a demo", description="call to action")
    format: str = Field(default="blog", description="blog | email | social | landing")


class ContentDraftOutput(ToolOutput):
    title: str = ""
    meta_description: str = ""
    outline: list[str] = Field(default_factory=list)
    tone: str = ""
    word_count: int = 0
    keyword_counts: dict[str, int] = Field(default_factory=dict)
    flesch_reading_ease: float = 0.0
    excerpt: str = ""
    draft_path: str = ""


def _fill(template: str, ctx: dict[str, str]) -> str:
    return template.format(**ctx)


_GENERIC = ("this work", "the practice", "the whole effort", "your programme")


class _KeywordBudget:
    """Keeps keyword density natural: body sentences may use the primary keyword about 0.8%
    of the words (headings, title and lists add more) and the others 0.5%; once a budget is
    spent, templates get a generic phrase instead."""

    def __init__(self, keywords: list[str], target_words: int) -> None:
        self.left = {
            k: max(
                2 if i == 0 else 1,
                round((0.008 if i == 0 else 0.005) * target_words / len(k.split())),
            )
            for i, k in enumerate(keywords)
        }
        self.turn = 0

    def take(self, kw: str) -> str:
        if self.left.get(kw, 0) > 0:
            self.left[kw] -= 1
            return kw
        self.turn += 1
        return _GENERIC[self.turn % len(_GENERIC)]

    def fill(self, template: str, ctx: dict[str, str], kw: str, topic_is_kw: bool) -> str:
        local = dict(ctx)
        if "{kw}" in template:
            local["kw"] = self.take(kw)
        if topic_is_kw and "{topic}" in template:
            local["topic"] = self.take(kw)
        text = template.format(**local)
        return text[:1].upper() + text[1:]


def _ensure_keywords(paragraphs: list[str], keywords: list[str], rnd_sentence: str) -> None:
    """Every keyword appears at least once: weave any missing one into a body paragraph."""
    body = "\n".join(paragraphs).lower()
    for i, kw in enumerate(keywords):
        if kw.lower() not in body:
            target = 1 + (i % max(1, len(paragraphs) - 1))
            paragraphs[target] += " " + rnd_sentence.format(kw=kw)


@tool(
    "content_draft",
    "Structured draft (title, meta, sections, CTA) from topic/tone/keywords/length in 7 tones",
)
def content_draft(inp: ContentDraftInput) -> ContentDraftOutput:
    if inp.tone not in TONES:
        raise InvalidToolInput(f"unknown tone {inp.tone!r}; use one of {', '.join(TONES)}")
    rnd = rng(inp, "content_draft")
    topic = inp.topic.strip() or rnd.choice(_SAMPLE_TOPICS)
    keywords = [k.strip() for k in inp.keywords if k.strip()] or [topic]
    primary = keywords[0]
    ctx = {
        "topic": topic,
        "Topic": _title_case(topic),
        "kw": primary,
        "Kw": _title_case(primary),
        "audience": inp.audience,
        "Audience": _title_case(inp.audience),
        "brand": inp.brand or "our team",
        "cta": inp.cta.rstrip("."),
        "cta_lower": inp.cta.rstrip(".")[:1].lower() + inp.cta.rstrip(".")[1:],
        "n": str(rnd.choice((2, 3, 4, 6))),
    }
    title = _fill(rnd.choice(TITLES[inp.tone]), ctx)
    n_sections = max(2, min(len(SECTIONS), round(inp.target_words / 220)))
    middle = [
        h for h in SECTIONS[1:-1] if h in rnd.sample(SECTIONS[1:-1], k=max(0, n_sections - 2))
    ]
    heads = [SECTIONS[0], *middle, SECTIONS[-1]]
    # Section i features keyword i (cycling), so secondary keywords get headings too.
    section_kws = [keywords[i % len(keywords)] for i in range(len(heads))]
    outline = [
        _fill(h, {**ctx, "kw": k, "Kw": _title_case(k)})
        for h, k in zip(heads, section_kws, strict=True)
    ]

    budget = _KeywordBudget(keywords, inp.target_words)
    topic_is_kw = topic.lower() == primary.lower()
    intro = " ".join(budget.fill(s, ctx, primary, topic_is_kw) for s in INTROS[inp.tone])
    closer = _fill(CLOSERS[inp.tone][0], ctx)
    tone_bank = SENTENCES[inp.tone]
    # Budget words evenly over sections. Each section draws its own points (tone-neutral,
    # styled with the tone's prefixes) interleaved with the tone's sentences, round-robin
    # over shuffled banks so a long draft repeats as little as possible.
    fixed = (
        len(words(title))
        + len(words(intro))
        + len(words(closer))
        + sum(len(words(h)) for h in outline)
        + 25
    )
    per_section = max(20, (inp.target_words - fixed) // len(outline))
    tone_order = list(range(len(tone_bank)))
    rnd.shuffle(tone_order)
    tone_cursor = 0
    # Points of sections not in the outline are shared spare material, used once each (not
    # the worked example: its sentences only make sense in order, under its own heading).
    spare = [
        p
        for h in SECTIONS
        if h not in heads and h != "A Practical Example"
        for p in SECTION_POINTS[h]
    ]
    rnd.shuffle(spare)
    sections: list[list[str]] = []
    for head, k in zip(heads, section_kws, strict=True):
        sctx = {**ctx, "kw": k, "Kw": _title_case(k), "n": str(rnd.choice((2, 3, 4, 6, 8)))}
        own = list(SECTION_POINTS[head])
        rnd.shuffle(own)
        paras: list[str] = []
        current: list[str] = []
        count = 0
        i = 0
        while count < per_section:
            if i % 3 == 2 or not (own or spare):
                template = tone_bank[tone_order[tone_cursor % len(tone_bank)]]
                tone_cursor += 1
            else:
                template = own.pop() if own else spare.pop()
                if rnd.random() < 0.35:
                    prefix = rnd.choice(PREFIXES[inp.tone])
                    template = prefix + (
                        template[:1].lower() + template[1:]
                        if prefix and not template.startswith("{")
                        else template
                    )
            i += 1
            sentence = budget.fill(template, sctx, k, topic_is_kw and k == primary)
            if inp.tone in CONTRACTING:
                for full, short in CONTRACTIONS:
                    sentence = re.sub(rf"\b{full}\b", short, sentence)
                    sentence = re.sub(rf"\b{full.capitalize()}\b", short.capitalize(), sentence)
            current.append(sentence)
            count += len(words(sentence))
            if len(current) == 4:
                paras.append(" ".join(current))
                current = []
        if current:
            paras.append(" ".join(current))
        sections.append(paras)
    all_paras = [intro] + [p for ps in sections for p in ps]
    _ensure_keywords(all_paras, keywords, "This is where {kw} earns its place.")
    # write the (possibly keyword-woven) paragraphs back into their sections
    flat = iter(all_paras[1:])
    sections = [[next(flat) for _ in ps] for ps in sections]

    md = [f"# {title}", "", all_paras[0], ""]
    for i, (head, paras) in enumerate(zip(outline, sections, strict=True)):
        md += [f"## {head}", ""]
        for p in paras:
            md += [p, ""]
        if i == min(1, len(outline) - 1):
            md += [
                f"- {_fill(b, ctx)}"
                for b in (
                    "Define what success looks like for {kw}",
                    "Pick one metric to track weekly",
                    "Review and adjust every {n} weeks",
                )
            ] + [""]
    md += [closer, ""]
    text = "\n".join(md)
    low = text.lower()
    counts = {k: len(re.findall(rf"(?<!\w){re.escape(k.lower())}(?!\w)", low)) for k in keywords}
    meta = f"{_title_case(primary)}: {INTROS[inp.tone][1].format(**ctx)}"
    meta = meta if len(meta) <= 155 else meta[:152].rsplit(" ", 1)[0] + "..."
    writer = ArtifactWriter(inp, "content_draft")
    path = writer.text(f"draft-{inp.tone}", "md", text)
    n_words = len(words(text))
    fre = readability(text).flesch_reading_ease
    return ContentDraftOutput(
        headline=(
            f"Drafted a {n_words}-word {inp.tone} {inp.format} post '{title}' "
            f"with {len(outline)} sections; Flesch {fre:.0f}."
        ),
        metrics={
            "words": float(n_words),
            "sections": float(len(outline)),
            "flesch_reading_ease": round(fre, 2),
            "keywords_covered": float(sum(1 for v in counts.values() if v)),
        },
        recommendations=[
            "Replace the template examples with a real customer story and figures.",
            f"Run content_quality_score on {path} before publishing.",
        ],
        artifacts=writer.written,
        title=title,
        meta_description=meta,
        outline=outline,
        tone=inp.tone,
        word_count=n_words,
        keyword_counts=counts,
        flesch_reading_ease=round(fre, 2),
        excerpt=all_paras[0][:300],
        draft_path=path,
    )


# --------------------------------------------------------------------------- readability_score

_PASSIVE = re.compile(r"\b(?:is|are|was|were|be|been|being)\s+(?:\w+ly\s+)?\w+(?:ed|en)\b", re.I)


def _plain_text(text: str | None, path: str | None) -> str:
    """The visible text of inline text or a file, HTML or Markdown."""
    return parse_document(load_source(text, path, "text")).text


def ease_label(fre: float) -> str:
    for limit, label in (
        (90, "very easy"),
        (80, "easy"),
        (70, "fairly easy"),
        (60, "plain English"),
        (50, "fairly difficult"),
        (30, "difficult"),
    ):
        if fre >= limit:
            return label
    return "very difficult"


class ReadabilityInput(ToolInput):
    text: str | None = Field(
        default=None, validation_alias=AliasChoices("text", "content", "draft", "markdown")
    )
    text_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "text_path", "draft_path", "path", "markdown_path", "html_path"
        ),
    )
    target_grade: float = Field(default=8.0, ge=1, le=20)


class ReadabilityOutput(ToolOutput):
    words: int = 0
    sentences: int = 0
    flesch_reading_ease: float = 0.0
    flesch_kincaid_grade: float = 0.0
    gunning_fog: float = 0.0
    smog: float = 0.0
    coleman_liau: float = 0.0
    automated_readability: float = 0.0
    grade_consensus: float = 0.0
    label: str = ""
    long_sentences: list[str] = Field(default_factory=list)
    passive_voice: int = 0


@tool(
    "readability_score",
    "Flesch, Flesch-Kincaid, Fog, SMOG, Coleman-Liau, ARI; long sentences, passive voice",
)
def readability_score(inp: ReadabilityInput) -> ReadabilityOutput:
    if not inp.text and not inp.text_path:
        sample = content_draft(
            ContentDraftInput(topic="", output_dir=inp.output_dir, target_words=300)
        )
        text = _plain_text(None, sample.draft_path)
    else:
        text = _plain_text(inp.text, inp.text_path)
    r = readability(text)
    if r.words == 0:
        raise InvalidToolInput("the text has no words to score")
    long = sorted((s for s in sentences(text) if len(words(s)) > 25), key=lambda s: -len(words(s)))[
        :5
    ]
    passive = len(_PASSIVE.findall(text))
    recs = []
    if r.grade_consensus > inp.target_grade + 1:
        recs.append(
            f"Grade {r.grade_consensus:.1f} is above the target {inp.target_grade:g}: "
            "shorten sentences and prefer shorter words."
        )
    if long:
        recs.append(f"Split the {len(long)} longest sentences (over 25 words).")
    if passive > r.sentences * 0.1:
        recs.append(f"{passive} passive constructions: prefer active voice.")
    if not recs:
        recs.append("Readability is on target.")
    return ReadabilityOutput(
        headline=(
            f"Flesch reading ease {r.flesch_reading_ease:.1f} "
            f"({ease_label(r.flesch_reading_ease)}), "
            f"grade {r.grade_consensus:.1f}, {r.words} words in {r.sentences} "
            "sentences."
        ),
        metrics={
            "flesch_reading_ease": round(r.flesch_reading_ease, 2),
            "flesch_kincaid_grade": round(r.flesch_kincaid_grade, 2),
            "gunning_fog": round(r.gunning_fog, 2),
            "smog": round(r.smog, 2),
            "coleman_liau": round(r.coleman_liau, 2),
            "automated_readability": round(r.automated_readability, 2),
            "grade_consensus": round(r.grade_consensus, 2),
            "words": float(r.words),
            "sentences": float(r.sentences),
            "passive_voice": float(passive),
        },
        recommendations=recs,
        words=r.words,
        sentences=r.sentences,
        flesch_reading_ease=r.flesch_reading_ease,
        flesch_kincaid_grade=r.flesch_kincaid_grade,
        gunning_fog=r.gunning_fog,
        smog=r.smog,
        coleman_liau=r.coleman_liau,
        automated_readability=r.automated_readability,
        grade_consensus=r.grade_consensus,
        label=ease_label(r.flesch_reading_ease),
        long_sentences=long,
        passive_voice=passive,
    )


# --------------------------------------------------------------------------- content_quality_score


class QualityComponent(BaseModel):
    score: float
    max: float
    notes: list[str]


class ContentQualityInput(ToolInput):
    text: str | None = Field(
        default=None, validation_alias=AliasChoices("text", "content", "draft", "markdown")
    )
    text_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "text_path", "draft_path", "path", "markdown_path", "html_path"
        ),
    )
    keywords: list[str] = Field(default_factory=list)
    target_words: int = Field(default=800, ge=50)
    target_grade: float = Field(default=9.0, ge=1, le=20)


class ContentQualityOutput(ToolOutput):
    score: float = 0.0
    components: dict[str, QualityComponent] = Field(default_factory=dict)
    issues: list[str] = Field(default_factory=list)


def quality(
    text_source: str, keywords: list[str], target_words: int, target_grade: float
) -> tuple[float, dict[str, QualityComponent]]:
    """Readability 30 + keyword coverage 30 + structure 25 + length 15 = 100."""
    doc = parse_document(text_source)
    text = doc.text
    r = readability(text)
    comps: dict[str, QualityComponent] = {}

    # readability: full marks at or under target+1 grade, minus 6 per grade above; very
    # simple text (5+ grades under target) loses a little, as it reads as thin.
    over = r.grade_consensus - (target_grade + 1)
    read = 30.0 - max(0.0, over) * 6.0 - (5.0 if r.grade_consensus < target_grade - 5 else 0.0)
    comps["readability"] = QualityComponent(
        score=max(0.0, read),
        max=30,
        notes=[f"grade {r.grade_consensus:.1f} vs target {target_grade:g}"],
    )

    notes: list[str] = []
    low = text.lower()
    n_words = max(1, r.words)
    if keywords:
        present = [k for k in keywords if re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", low)]
        coverage = 18.0 * len(present) / len(keywords)
        missing = [k for k in keywords if k not in present]
        if missing:
            notes.append(f"missing keywords: {', '.join(missing)}")
        primary = keywords[0].lower()
        hits = len(re.findall(rf"(?<!\w){re.escape(primary)}(?!\w)", low))
        density = 100.0 * hits * len(primary.split()) / n_words
        dens = (
            6.0
            if 0.5 <= density <= 2.5
            else 3.0
            if 0 < density < 0.5 or 2.5 < density <= 4
            else 0.0
        )
        notes.append(f"primary keyword density {density:.2f}%")
        head_text = " ".join([doc.title, *doc.h1, *(t for _level, t in doc.headings)]).lower()
        placement = 6.0 if primary in head_text else 0.0
        if not placement:
            notes.append("primary keyword not in title or headings")
        comps["keywords"] = QualityComponent(score=coverage + dens + placement, max=30, notes=notes)
    else:
        comps["keywords"] = QualityComponent(
            score=15.0, max=30, notes=["no keywords given: half marks"]
        )

    s_notes = []
    structure = 0.0
    if doc.title or doc.h1:
        structure += 5
    else:
        s_notes.append("no title / H1")
    h2 = sum(1 for level, _t in doc.headings if level == 2)
    structure += 5 if h2 >= 2 else 2.5 if h2 == 1 else 0
    if h2 < 2:
        s_notes.append(f"{h2} H2 sections (want 2+)")
    para_words = [len(words(p)) for p in doc.paragraphs] or [n_words]
    avg_para = sum(para_words) / len(para_words)
    structure += 5 if avg_para <= 120 else 0
    if avg_para > 120:
        s_notes.append(f"paragraphs average {avg_para:.0f} words (want <= 120)")
    structure += 5 if doc.list_items else 0
    if not doc.list_items:
        s_notes.append("no bullet or numbered list")
    structure += 5 if len(doc.paragraphs) >= 3 else 0
    if len(doc.paragraphs) < 3:
        s_notes.append("fewer than 3 paragraphs")
    comps["structure"] = QualityComponent(score=structure, max=25, notes=s_notes)

    ratio = r.words / target_words
    length = 15.0 * min(1.0, ratio) - (5.0 if ratio > 2.0 else 0.0)
    comps["length"] = QualityComponent(
        score=max(0.0, length), max=15, notes=[f"{r.words} words vs target {target_words}"]
    )
    total = round(sum(c.score for c in comps.values()), 1)
    return total, comps


@tool(
    "content_quality_score",
    "Content quality 0-100 from readability, keyword coverage, structure and length",
)
def content_quality_score(inp: ContentQualityInput) -> ContentQualityOutput:
    if not inp.text and not inp.text_path:
        draft = content_draft(
            ContentDraftInput(
                topic="",
                keywords=inp.keywords,
                target_words=inp.target_words,
                output_dir=inp.output_dir,
            )
        )
        source = load_source(None, draft.draft_path, "draft")
    else:
        source = load_source(inp.text, inp.text_path, "text")
    total, comps = quality(source, inp.keywords, inp.target_words, inp.target_grade)
    issues = [n for c in comps.values() for n in c.notes if c.score < c.max]
    grade = "publish" if total >= 80 else "revise" if total >= 60 else "rewrite"
    return ContentQualityOutput(
        headline=f"Content quality {total:.0f}/100 ({grade}): "
        + ", ".join(f"{k} {c.score:.0f}/{c.max:.0f}" for k, c in comps.items())
        + ".",
        metrics={"score": total, **{f"{k}_score": c.score for k, c in comps.items()}},
        recommendations=[f"Fix: {i}." for i in issues] or ["Ready to publish."],
        score=total,
        components=comps,
        issues=issues,
    )
