"""The offline policy reads earlier tool results back, as an agent would: a plan step's
`{tool.field}` arguments come from what that tool returned in the same step."""

from __future__ import annotations

from activities.providers.offline import next_call
from activities.providers.offline_answer import ToolResult

PLAN = [
    ("content_draft", {}),
    ("readability_score", {"text_path": "{content_draft.draft_path}", "note": "on {topic}"}),
    ("palette_check", {"creative_path": "{ad_creatives.artifacts.0}"}),
]
INPUTS = {"topic": "durable agents", "tone": "casual"}


def test_first_call_takes_the_step_input() -> None:
    call = next_call(PLAN, INPUTS, [])
    assert call.tool == "content_draft" and call.args == INPUTS


def test_later_calls_read_earlier_results() -> None:
    done = [ToolResult(tool="content_draft", ok=True, data={"draft_path": "/a/draft.md", "title": "T"})]
    call = next_call(PLAN, INPUTS, done)
    assert call.tool == "readability_score"
    assert call.args == {**INPUTS, "text_path": "/a/draft.md", "note": "on durable agents"}


def test_a_failed_or_missing_result_leaves_the_argument_out() -> None:
    done = [
        ToolResult(tool="content_draft", ok=False, error="boom"),
        ToolResult(tool="readability_score", ok=True, data={"words": 3.0}),
    ]
    assert "text_path" not in next_call(PLAN, INPUTS, done[:1]).args
    call = next_call(PLAN, INPUTS, done)  # ad_creatives never ran in this plan
    assert call.tool == "palette_check" and "creative_path" not in call.args


def test_list_indices_reach_into_results() -> None:
    plan = [("ad_creatives", {}), ("palette_check", {"creative_path": "{ad_creatives.artifacts.1}"})]
    done = [ToolResult(tool="ad_creatives", ok=True, data={"artifacts": ["/x/a.svg", "/x/b.png"]})]
    assert next_call(plan, {}, done).args == {"creative_path": "/x/b.png"}
