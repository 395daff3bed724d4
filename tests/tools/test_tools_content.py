"""Readability maths, drafts in seven tones and the quality score."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from activities.tools.content import TONES
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import TOOLS
from activities.tools.textstats import readability, sentences, syllables, words

KEYWORDS = ["email marketing", "open rate", "segmentation"]


def test_syllable_counts() -> None:
    counts = {
        w: syllables(w)
        for w in ("cat", "the", "table", "make", "beautiful", "readability", "queue", "analytics")
    }
    assert counts == {
        "cat": 1,
        "the": 1,
        "table": 2,
        "make": 1,
        "beautiful": 3,
        "readability": 5,
        "queue": 1,
        "analytics": 4,
    }


def test_flesch_on_a_known_sentence() -> None:
    r = readability("The cat sat on the mat.")
    assert (r.words, r.sentences, r.syllables) == (6, 1, 6)
    assert r.flesch_reading_ease == pytest.approx(206.835 - 1.015 * 6 - 84.6 * 1)
    assert r.flesch_kincaid_grade == pytest.approx(0.39 * 6 + 11.8 - 15.59)


def test_sentence_splitting_respects_markdown_structure() -> None:
    text = "# Title\n\nFirst sentence. Second one!\n\n- item one\n- item two\n## Next\nLast"
    # a heading or list item never merges into the sentence before it
    assert sentences(text) == [
        "# Title",
        "First sentence.",
        "Second one!",
        "- item one",
        "- item two",
        "## Next\nLast",
    ]


def test_readability_tool_flags_hard_text(out: str) -> None:
    easy = TOOLS["readability_score"].run(
        {
            "text": "We ship fast. You get results. It is easy to use. Try it today.",
            "output_dir": out,
        }
    )
    hard = TOOLS["readability_score"].run(
        {
            "text": (
                "Notwithstanding considerable organisational heterogeneity, interdisciplinary implementation methodologies "
                "necessitate comprehensive institutional coordination, particularly regarding infrastructural modernisation "
                "initiatives that were administered inconsistently across jurisdictions and were evaluated retrospectively."
            ),
            "target_grade": 8,
            "output_dir": out,
        }
    )
    assert easy.flesch_reading_ease > 80 and easy.label in ("easy", "very easy")
    assert hard.grade_consensus > 14
    assert hard.long_sentences and hard.passive_voice >= 2
    assert "above the target" in hard.recommendations[0]


@pytest.mark.parametrize("tone", TONES)
def test_each_tone_drafts_to_length_with_every_keyword(tone: str, out: str) -> None:
    r = TOOLS["content_draft"].run(
        {
            "topic": "email marketing",
            "tone": tone,
            "keywords": KEYWORDS,
            "target_words": 1500,
            "output_dir": out,
        }
    )
    assert 1350 <= r.word_count <= 1650
    assert all(r.keyword_counts[k] >= 1 for k in KEYWORDS)
    text = Path(r.draft_path).read_text()
    assert text.startswith(f"# {r.title}\n")
    assert len(re.findall(r"^## ", text, re.M)) == len(r.outline) >= 5
    assert len(r.meta_description) <= 155 and "Email Marketing" in r.meta_description


def test_tones_read_differently(out: str) -> None:
    drafts = {
        t: Path(
            TOOLS["content_draft"]
            .run({"topic": "onboarding", "tone": t, "target_words": 600, "output_dir": out})
            .draft_path
        ).read_text()
        for t in TONES
    }
    assert len(set(drafts.values())) == len(TONES)
    contractions = {t: len(re.findall(r"\b\w+'(?:t|s|re|ll|ve)\b", d)) for t, d in drafts.items()}
    assert contractions["casual"] > contractions["professional"]
    assert contractions["humorous"] > contractions["technical"]
    assert (
        readability(drafts["casual"]).flesch_reading_ease
        > readability(drafts["technical"]).flesch_reading_ease
    )
    with pytest.raises(InvalidToolInput, match="unknown tone"):
        TOOLS["content_draft"].run({"tone": "sarcastic"})


@pytest.mark.parametrize("tone", ["professional", "casual", "friendly"])
def test_a_1500_word_draft_scores_well(tone: str, out: str) -> None:
    d = TOOLS["content_draft"].run(
        {
            "topic": "email marketing",
            "tone": tone,
            "keywords": KEYWORDS,
            "target_words": 1500,
            "output_dir": out,
        }
    )
    q = TOOLS["content_quality_score"].run(
        {"draft_path": d.draft_path, "keywords": KEYWORDS, "target_words": 1500, "output_dir": out}
    )
    assert q.score >= 80, q.components


def test_a_wall_of_text_without_keywords_scores_badly(out: str) -> None:
    wall = " ".join(
        [
            "Organisations frequently underestimate the multidimensional complexity of stakeholder alignment processes."
        ]
        * 40
    )
    q = TOOLS["content_quality_score"].run(
        {"text": wall, "keywords": KEYWORDS, "target_words": 800, "output_dir": out}
    )
    assert q.score < 50
    assert q.components["keywords"].score == 0
    assert q.components["structure"].score == 0
    assert any("missing keywords" in i for i in q.issues)


def test_quality_components_on_a_small_known_document(out: str) -> None:
    doc = "# Open rate guide\n\n## Why\n\nOpen rate matters. Keep it simple.\n\n## How\n\n- Test subjects\n- Clean lists\n\nThat is all."
    q = TOOLS["content_quality_score"].run(
        {"text": doc, "keywords": ["open rate", "churn"], "target_words": 100, "output_dir": out}
    )
    # title, two H2s, short paragraphs, a list: 20 of 25 (only two paragraphs, want three)
    assert q.components["structure"].score == 20
    assert q.components["structure"].notes == ["fewer than 3 paragraphs"]
    # coverage 1 of 2 keywords = 9; density 2 hits * 2 words / 18 words > 4% -> 0; in headings -> 6
    assert q.components["keywords"].score == pytest.approx(9 + 0 + 6)
    n = len(words(doc))
    assert q.components["length"].score == pytest.approx(15 * n / 100)
