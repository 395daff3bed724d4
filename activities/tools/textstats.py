"""Words, sentences, syllables and the standard readability formulas.

Pure stdlib so content, SEO and community tools share one definition of "a word" and
"a sentence"; scores are then comparable across tools.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass

# A word: a run of letters, digits, apostrophes and hyphens that starts with a letter or digit
# and contains at least one letter (the lookahead keeps "2024" and "99" out in one C pass).
WORD_RE = re.compile(r"(?=[A-Za-z0-9'\u2019\-]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9'\u2019\-]*")
# Sentence ends: terminal punctuation, a blank line, or a new line that starts a heading or
# list item (Markdown headings carry no full stop but are not part of the next sentence).
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n|\n(?=\s*(?:#{1,6}|[-*+]|\d+\.)\s)")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_SILENT_END = re.compile(r"(?:[^laeiouy]es|[^laeiouy]ed|[^laeiouy]e)$")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "get",
        "got",
        "may",
        "might",
        "must",
        "one",
        "two",
        "us",
        "via",
        "per",
        "within",
        "without",
        "yet",
        "new",
    ]
)


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def sentences(text: str) -> list[str]:
    parts = (p.strip() for p in _SENTENCE_END.split(text))
    return [p for p in parts if WORD_RE.search(p)]


@functools.lru_cache(maxsize=65536)  # long texts repeat their words: count each once
def syllables(word: str) -> int:
    """Heuristic English syllable count (vowel groups minus a silent ending), at least 1."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    if len(w) <= 3:
        return 1
    w = _SILENT_END.sub(lambda m: m.group(0)[0], w)
    w = w[1:] if w.startswith("y") else w
    return max(1, len(_VOWEL_GROUP.findall(w)))


def content_terms(text: str) -> list[str]:
    """Lower-cased words that carry meaning (no stopwords, no bare numbers)."""
    return [
        w
        for w in (t.lower().strip("'\u2019-") for t in words(text))
        if len(w) > 2 and w not in STOPWORDS
    ]


@dataclass(frozen=True)
class Readability:
    words: int
    sentences: int
    syllables: int
    complex_words: int
    letters: int
    flesch_reading_ease: float
    flesch_kincaid_grade: float
    gunning_fog: float
    smog: float
    coleman_liau: float
    automated_readability: float

    @property
    def grade_consensus(self) -> float:
        grades = (
            self.flesch_kincaid_grade,
            self.gunning_fog,
            self.smog,
            self.coleman_liau,
            self.automated_readability,
        )
        return sum(grades) / len(grades)


def readability(text: str) -> Readability:
    ws = words(text)
    n_words = len(ws)
    n_sent = max(1, len(sentences(text)))
    if n_words == 0:
        return Readability(0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    # count distinct words once: long pages repeat most of their vocabulary
    counts = Counter(ws)
    per_word = {w: syllables(w) for w in counts}
    n_syl = sum(per_word[w] * c for w, c in counts.items())
    n_complex = sum(c for w, c in counts.items() if per_word[w] >= 3)
    letters = len(_NOT_ALNUM.sub("", "".join(ws)))
    wps = n_words / n_sent
    spw = n_syl / n_words
    return Readability(
        words=n_words,
        sentences=n_sent,
        syllables=n_syl,
        complex_words=n_complex,
        letters=letters,
        flesch_reading_ease=206.835 - 1.015 * wps - 84.6 * spw,
        flesch_kincaid_grade=0.39 * wps + 11.8 * spw - 15.59,
        gunning_fog=0.4 * (wps + 100.0 * n_complex / n_words),
        smog=1.0430 * math.sqrt(n_complex * 30.0 / n_sent) + 3.1291,
        coleman_liau=0.0588 * (letters / n_words * 100) - 0.296 * (n_sent / n_words * 100) - 15.8,
        automated_readability=4.71 * (letters / n_words) + 0.5 * wps - 21.43,
    )
