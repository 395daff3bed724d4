"""Community tools: `sentiment_analysis` (lexicon with negation, intensifiers, emoji) and
`moderation` (rules: threats, harassment, profanity, scams, spam, personal data)."""

from __future__ import annotations

import math
import re
from collections import Counter

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import DataFileError
from activities.tools.lexicon import (
    EMOJI,
    HARASSMENT,
    INTENSIFIERS,
    LEET,
    NEGATIONS,
    PROFANITY,
    SCAMS,
    SLURS_PLACEHOLDER,
    THREATS,
    VALENCE,
)
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng
from activities.tools.tabular import read_table

_TOKEN = re.compile(r"[a-z']+|[:;][()D]|[^\w\s]", re.I)
_SAMPLE_POSTS = (
    "I love the new season, the maps are amazing!",
    "Game keeps crashing after the update, really frustrating.",
    "Not bad, but the matchmaking is slow.",
    "Best patch so far 🔥",
    "This is a scam, the paywall is terrible.",
    "Servers are laggy again tonight :(",
    "Thanks devs, the bug fixes are great",
    "I don't hate the new hero, just not fun to play.",
    "The event rewards are fair and the grind feels balanced.",
    "Uninstalled. Toxic players everywhere.",
    "Graphics are beautiful but the UI is confusing.",
    "gg everyone, super fun tournament!",
)


def texts_from(texts: list[str], path: str | None, column: str) -> list[str]:
    out = list(texts)
    if path:
        df = read_table(path)
        if column not in df.columns:
            raise DataFileError(f"{path} has no {column!r} column; set text_column")
        out += [str(t) for t in df[column].dropna().tolist()]
    return out


def sentiment(text: str) -> tuple[float, list[str]]:
    """Compound score in [-1, 1] (VADER-style normalisation x / sqrt(x^2 + 15)) and the words
    that drove it. A negation within the 3 previous tokens flips and damps a word; an
    intensifier right before it scales it; '!' adds emphasis."""
    tokens = _TOKEN.findall(text.lower())
    total = 0.0
    drivers = []
    for i, tok in enumerate(tokens):
        # non-ASCII emoji are counted once below, by substring (they may span code points)
        v = VALENCE.get(tok, EMOJI.get(tok, 0.0) if tok.isascii() else 0.0)
        if not v:
            continue
        if i and tokens[i - 1] in INTENSIFIERS:
            v *= INTENSIFIERS[tokens[i - 1]]
        if any(t in NEGATIONS for t in tokens[max(0, i - 3) : i]):
            v *= -0.74
        total += v
        drivers.append(tok)
    for sym, v in EMOJI.items():
        if not sym.isascii() and sym in text:
            total += v * text.count(sym)
            drivers.append(sym)
    if total:
        total *= 1 + min(text.count("!"), 3) * 0.05
    return total / math.sqrt(total * total + 15), drivers


def label(score: float) -> str:
    return "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"


class SentimentItem(BaseModel):
    text: str
    score: float
    label: str
    drivers: list[str]


class SentimentInput(ToolInput):
    texts: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("texts", "posts", "comments", "reviews")
    )
    texts_path: str | None = Field(
        default=None, validation_alias=AliasChoices("texts_path", "data_path", "path")
    )
    text_column: str = "text"
    top_n: int = Field(default=10, ge=1)


class SentimentOutput(ToolOutput):
    items: list[SentimentItem] = Field(default_factory=list)
    distribution: dict[str, int] = Field(default_factory=dict)
    average_score: float = 0.0
    net_sentiment: float = Field(default=0.0, description="% positive - % negative")
    top_negative_terms: dict[str, int] = Field(default_factory=dict)
    top_positive_terms: dict[str, int] = Field(default_factory=dict)
    results_path: str = ""


@tool(
    "sentiment_analysis",
    (
        "Lexicon sentiment (negation, intensifiers, emoji) of posts/reviews "
        "with drivers and net sentiment"
    ),
)
def sentiment_analysis(inp: SentimentInput) -> SentimentOutput:
    texts = texts_from(inp.texts, inp.texts_path, inp.text_column)
    if not texts:
        rnd = rng(inp, "sentiment")
        texts = rnd.sample(_SAMPLE_POSTS, k=8)
    items = []
    for t in texts:
        s, drivers = sentiment(t)
        items.append(SentimentItem(text=t, score=round(s, 4), label=label(s), drivers=drivers))
    dist = Counter(i.label for i in items)
    distribution = {k: dist.get(k, 0) for k in ("positive", "neutral", "negative")}
    n = len(items)
    net = 100.0 * (distribution["positive"] - distribution["negative"]) / n
    avg = sum(i.score for i in items) / n
    neg_terms = Counter(
        d
        for i in items
        if i.label == "negative"
        for d in i.drivers
        if VALENCE.get(d, EMOJI.get(d, 0)) < 0
    )
    pos_terms = Counter(
        d
        for i in items
        if i.label == "positive"
        for d in i.drivers
        if VALENCE.get(d, EMOJI.get(d, 0)) > 0
    )
    writer = ArtifactWriter(inp, "sentiment_analysis")
    path = writer.json("sentiment", [i.model_dump() for i in items])
    recs = []
    if neg_terms:
        recs.append(
            f"Top complaint themes: {', '.join(t for t, _ in neg_terms.most_common(3))}; "
            "answer them in the next community update."
        )
    if net < 0:
        recs.append("Net sentiment is negative: post a known-issues list and a fix timeline.")
    if pos_terms:
        recs.append(
            f"Amplify what players love: {', '.join(t for t, _ in pos_terms.most_common(3))}."
        )
    return SentimentOutput(
        headline=(
            f"{n} posts: {distribution['positive']} positive, {distribution['neutral']} "
            f"neutral, {distribution['negative']} negative; net sentiment "
            f"{net:+.0f}, average {avg:+.2f}."
        ),
        metrics={
            "posts": float(n),
            "net_sentiment": net,
            "average_score": avg,
            **{k: float(v) for k, v in distribution.items()},
        },
        recommendations=recs or ["Sentiment is neutral: no action needed."],
        artifacts=writer.written,
        items=items[: max(inp.top_n, 1)] if n > inp.top_n else items,
        distribution=distribution,
        average_score=avg,
        net_sentiment=net,
        top_negative_terms=dict(neg_terms.most_common(10)),
        top_positive_terms=dict(pos_terms.most_common(10)),
        results_path=path,
    )


# --------------------------------------------------------------------------- moderation

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_PHONE = re.compile(r"(?<!\d)(?:\+?\d[\s.-]?){9,14}\d(?!\d)")
_URL = re.compile(r"https?://\S+|www\.\S+|\b\w+\.(?:com|net|org|gg|io|ru|xyz)/\S*", re.I)
# action by the most severe category found
_SEVERITY = {
    "threat": 4,
    "hate": 4,
    "harassment": 3,
    "scam": 3,
    "personal_data": 2,
    "profanity": 1,
    "spam": 1,
}


def normalise(text: str) -> str:
    """Undo common evasions: leetspeak, separators inside words (f.u.c.k), long repeats."""
    t = text.lower().translate(LEET)
    t = re.sub(r"(?<=\w)[.\-_*](?=\w)", "", t)
    return re.sub(r"(.)\1{2,}", r"\1", t)


def moderate(text: str, recent: Counter[str]) -> tuple[str, list[str], list[str]]:
    norm = normalise(text)
    cats: list[str] = []
    reasons: list[str] = []
    for rx in THREATS:
        if re.search(rx, norm):
            cats.append("threat")
            reasons.append(f"threat pattern '{rx}'")
            break
    for w in SLURS_PLACEHOLDER:
        if re.search(rf"\b{w}\b", norm):
            cats.append("hate")
            reasons.append("hateful slur")
            break
    for rx in HARASSMENT:
        if re.search(rx, norm):
            cats.append("harassment")
            reasons.append("personal attack")
            break
    for rx in SCAMS:
        if re.search(rx, norm):
            cats.append("scam")
            reasons.append(f"scam pattern '{rx}'")
            break
    if _EMAIL.search(text) or _PHONE.search(text):
        cats.append("personal_data")
        reasons.append("shares an email address or phone number")
    words = re.findall(r"[a-z]+", norm)
    found = sorted(
        {
            w
            for w in words
            for p in PROFANITY
            if w == p or (w.startswith(p) and len(w) <= len(p) + 3)
        }
    )
    if found:
        cats.append("profanity")
        reasons.append(f"profanity: {', '.join(found)}")
    letters = [c for c in text if c.isalpha()]
    caps = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    links = len(_URL.findall(text))
    repeated = recent[norm.strip()] >= 2
    if caps or links >= 2 or repeated or re.search(r"(.)\1{9,}", text):
        cats.append("spam")
        reasons.append(
            "all caps"
            if caps
            else f"{links} links"
            if links >= 2
            else "repeated message"
            if repeated
            else "character flooding"
        )
    recent[norm.strip()] += 1
    worst = max((_SEVERITY[c] for c in cats), default=0)
    action = (
        "remove"
        if worst >= 3
        else "flag"
        if worst == 2
        else "allow_with_filter"
        if worst == 1
        else "allow"
    )
    if worst == 4:
        action = "remove_and_escalate"
    return action, cats, reasons


class ModerationItem(BaseModel):
    text: str
    action: str  # allow | allow_with_filter | flag | remove | remove_and_escalate
    categories: list[str]
    reasons: list[str]


class ModerationInput(ToolInput):
    texts: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("texts", "messages", "posts", "comments"),
    )
    texts_path: str | None = Field(
        default=None, validation_alias=AliasChoices("texts_path", "data_path", "path")
    )
    text_column: str = "text"


class ModerationOutput(ToolOutput):
    items: list[ModerationItem] = Field(default_factory=list)
    action_counts: dict[str, int] = Field(default_factory=dict)
    category_counts: dict[str, int] = Field(default_factory=dict)
    results_path: str = ""


_SAMPLE_CHAT = (
    "gg wp everyone",
    "FREE V-BUCKS at vbux-gift.xyz/claim",
    "you are an idiot, uninstall the game",
    "that was a d4mn good play",
    "contact me at sam.lee@example.com for trades",
    "kys noob",
    "lol nice shot",
    "BUY CHEAP GOLD NOW BEST PRICES EVERYWHERE",
    "anyone up for ranked?",
    "this patch is sh1t tbh",
    "crypto giveaway!! double your bitcoin",
    "see you all tomorrow",
)


@tool(
    "moderation",
    (
        "Rule-based moderation: threats, harassment, scams, personal "
        "data, profanity (with evasions), spam"
    ),
)
def moderation(inp: ModerationInput) -> ModerationOutput:
    texts = texts_from(inp.texts, inp.texts_path, inp.text_column)
    if not texts:
        texts = rng(inp, "moderation").sample(_SAMPLE_CHAT, k=8)
    recent: Counter[str] = Counter()
    items = []
    for t in texts:
        action, cats, reasons = moderate(t, recent)
        items.append(ModerationItem(text=t, action=action, categories=cats, reasons=reasons))
    actions = Counter(i.action for i in items)
    cats_count = Counter(c for i in items for c in i.categories)
    writer = ArtifactWriter(inp, "moderation")
    path = writer.json("moderation", [i.model_dump() for i in items])
    escalate = actions.get("remove_and_escalate", 0)
    recs = []
    if escalate:
        recs.append(
            f"{escalate} messages contain threats or hate: review them now "
            "and apply the account policy."
        )
    if cats_count.get("scam"):
        recs.append("Scam links are circulating: pin a warning and block the domains.")
    recs.append("Sample 5% of 'allow' decisions weekly to measure missed violations.")
    removed = actions.get("remove", 0) + escalate
    return ModerationOutput(
        headline=(
            f"Moderated {len(items)} messages: {removed} removed ({escalate} "
            f"escalated), {actions.get('flag', 0)} flagged, {actions.get('allow_with_filter', 0)} "
            f"filtered, {actions.get('allow', 0)} allowed."
        ),
        metrics={
            "messages": float(len(items)),
            "removed": float(removed),
            "escalated": float(escalate),
            "flagged": float(actions.get("flag", 0)),
            "allowed": float(actions.get("allow", 0)),
        },
        recommendations=recs,
        artifacts=writer.written,
        items=items,
        action_counts=dict(actions),
        category_counts=dict(cats_count),
        results_path=path,
    )
