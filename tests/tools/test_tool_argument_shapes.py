"""Tools take their arguments in the shapes callers produce — a step input written by a
person or an expression, an earlier step's output, a model — or refuse them with a
`ValidationError` that names the argument and the shape it needs. No tool's code meets a
list where it expects a mapping (the crash the offline templates once showed as
``ValueError: dictionary update sequence element #0 ...``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from activities.tools.analytics import TableAnalyticsOutput
from activities.tools.registry import TOOLS, ToolError, describe_shape
from activities.tools.research import PageAnalysisOutput

CONTACTS = [
    {
        "email": "ana@acme.example",
        "company": "Acme Mobility",
        "title": "VP Operations",
        "employees": 800,
        "industry": "logistics",
        "pages_viewed": 14,
        "visited_pricing": True,
        "demo_requested": True,
    }
]
# What an earlier step hands on: creative variants, a draft record.
VARIANTS = [
    {"name": "content_draft", "headline": "h", "body": "# Acme Cloud\nAcme Cloud is the best."},
    {"title": "Launch", "markdown": "## Launch\nWe grew 40% in 2025 with Globex Corp."},
]
SHAPES: dict[str, Any] = {
    "records": CONTACTS,
    "strings": ["logistics", "retail"],
    "object": {"a": 1, "b": "x"},
    "string": "Acme",
    "rows": [["a", "b", "c"]],
    "number": 3,
}


def test_page_analysis_reads_documents_given_as_records(out: str) -> None:
    result = TOOLS["page_analysis"].run({"documents": VARIANTS, "output_dir": out})
    assert isinstance(result, PageAnalysisOutput)
    assert result.source == "documents" and result.metrics["documents"] == 2
    assert [d.headings for d in result.documents] == [["H1: Acme Cloud"], ["H2: Launch"]]


def test_page_analysis_takes_one_document_and_one_keyword_as_strings(out: str) -> None:
    text = "# Acme\nAcme Cloud is trusted by 500 teams."
    result = TOOLS["page_analysis"].run({"pages": text, "keywords": "acme", "output_dir": out})
    assert isinstance(result, PageAnalysisOutput)
    assert result.metrics["documents"] == 1
    assert result.documents[0].keyword_hits == {"acme": 2}


def test_records_without_text_are_refused_naming_the_argument(out: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TOOLS["page_analysis"].run({"documents": CONTACTS, "output_dir": out})
    message = str(caught.value)
    assert "documents[0] is an object without a text field" in message
    assert "body" in message and "markdown" in message


def test_table_analytics_takes_one_group_and_a_one_path_list(out: str, tmp_path: Any) -> None:
    table = tmp_path / "deals.csv"
    table.write_text("date,stage,amount\n2026-01-01,won,100\n2026-01-02,lost,50\n")
    result = TOOLS["table_analytics"].run(
        {"table_path": [str(table)], "group_by": "stage", "output_dir": out}
    )
    assert isinstance(result, TableAnalyticsOutput)
    assert result.source == str(table) and list(result.groups) == ["stage"]
    assert result.kpis["total"] == 150


def test_two_paths_for_one_table_are_refused_naming_the_argument(out: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TOOLS["table_analytics"].run({"table_path": ["a.csv", "b.csv"], "output_dir": out})
    assert "table_path" in str(caught.value) and "valid string" in str(caught.value)


@pytest.mark.parametrize("arguments", [CONTACTS, "topic", None])
def test_arguments_that_are_not_an_object_are_refused_by_shape(arguments: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        TOOLS["page_analysis"].run(arguments)
    assert "the arguments must be an object of named values, not" in str(caught.value)
    assert describe_shape(arguments) in str(caught.value)


@pytest.mark.parametrize("tool", ["page_analysis", "table_analytics"])
def test_every_argument_in_every_shape_is_taken_or_refused_never_a_crash(
    tool: str, out: str
) -> None:
    spec = TOOLS[tool]
    for field in spec.input_model.model_fields:
        if field == "output_dir":
            continue
        for label, value in SHAPES.items():
            try:
                spec.run({field: value, "rows": 200, "output_dir": out})
            except (ValidationError, ToolError):
                pass
            except Exception as e:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{tool}({field}={label}) crashed: {type(e).__name__}: {e}")


def test_shapes_in_words() -> None:
    assert describe_shape(CONTACTS) == "a list of 1 object"
    assert describe_shape(["a", "b"]) == "a list of 2 strings"
    assert describe_shape([1, "a"]) == "a list of 2 mixed values"
    assert describe_shape([]) == "an empty list"
    assert describe_shape({"a": 1}) == "an object"
    assert describe_shape(None) == "null"
    assert describe_shape(2.5) == "a number"
