"""The arguments the offline policy hands a tool, through CrewAI's real agent loop, in the
shapes steps produce; and the clear failures when it cannot: no tools enabled, a tool that
crashes on an argument's shape. No Temporal, no store: the crew runs in this thread with the
step's files kept local."""

from __future__ import annotations

import activities.crew.env  # before anything imports crewai

# isort: split

from pathlib import Path
from typing import Any

import pytest

import activities.tools  # noqa: F401  (registers every tool)
from activities.agent_step.errors import AgentInputInvalid
from activities.catalog import default_catalog
from activities.crew.builder import build_crew
from activities.crew.toolbox import StepToolbox, argument_shapes
from activities.providers.offline import NoToolsEnabled, OfflineLLM, next_call, render_args
from activities.providers.step_context import StepContext
from activities.tools.registry import ToolInput, ToolOutput, ToolSpec

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class LocalFiles:
    """`StepFiles` without a blob store: arguments and outputs pass unchanged."""

    def __init__(self, root: Path) -> None:
        self.output_dir = root / "out"

    def stage(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return dict(arguments)

    def publish(self, data: Any) -> Any:
        return data


def run_offline(
    agent_id: str, mode: str, inputs: dict[str, Any], tmp_path: Path, tools: list[str] | None = None
) -> StepToolbox:
    agent = default_catalog().get(agent_id)
    spec = agent.modes[mode]
    names = agent.mode_tools(mode) if tools is None else tools
    ctx = StepContext()
    llm = OfflineLLM.build(
        plan=[(s.tool, s.args) for s in spec.offline_plan if s.tool in names],
        inputs=inputs,
        family=spec.output or "report",
        agent_name=agent.name or agent.id,
        mode=mode,
        mode_description=spec.description,
        ctx=ctx,
    )
    toolbox = StepToolbox(LocalFiles(tmp_path), ctx)  # type: ignore[arg-type]
    build_crew(agent, mode, inputs, llm=llm, tools=toolbox.crew_tools(names)).kickoff()
    return toolbox


def test_account_research_reads_pages_an_earlier_step_handed_on_as_records(
    tmp_path: Path,
) -> None:
    # An account step fed an earlier step's variants (records with a body) next to its
    # contacts (records without one): page_analysis reads the documents, ignores the rest.
    inputs = {
        "company": "Acme Mobility",
        "product": "BizOS",
        "topic": "Acme Mobility adopting BizOS",
        "leads": [{"email": "ana@acme.example", "title": "VP Operations", "employees": 800}],
        "documents": [
            {
                "name": "welcome",
                "body": "# Welcome to Acme Cloud\nAcme Cloud is trusted by 40 teams.",
            }
        ],
        "keywords": "Acme Cloud",
    }
    toolbox = run_offline("sales_intelligence", "account_research", inputs, tmp_path)
    calls = {r.tool: r for r in toolbox.records}
    assert list(calls) == ["page_analysis", "market_sizing"], toolbox.records
    page = calls["page_analysis"]
    assert page.ok, page.summary
    assert page.summary.startswith("Analysed 1 documents"), page.summary


def test_a_missing_input_leaves_the_argument_out_rather_than_its_name() -> None:
    plan = [("okr_generator", {"goals": ["{goal}"], "market": "{company}", "note": "for {goal}"})]
    # Before: goals ["goal"], market "company" — placeholder names where values belong.
    assert next_call(plan, {"topic": "t"}, []).args == {"topic": "t", "note": "for goal"}
    given = next_call(plan, {"goal": "grow 20%", "company": "Acme"}, []).args
    assert given["goals"] == ["grow 20%"] and given["market"] == "Acme"
    assert render_args(["{a}", "x", "{b}"], {"b": [1, 2]}) == ["x", [1, 2]]


def test_an_agent_with_every_tool_off_fails_naming_it(tmp_path: Path) -> None:
    # Before: the crew ran, the policy answered from no results, and the step failed on
    # its own output ("findings: at least 1 item").
    with pytest.raises(NoToolsEnabled) as caught:
        run_offline("sales_intelligence", "account_research", {"company": "Acme"}, tmp_path, [])
    assert isinstance(caught.value, AgentInputInvalid)  # not retried: the same would fail
    message = str(caught.value)
    assert "agent Sales Intelligence (mode account_research) has no tools enabled" in message


class ShapeInput(ToolInput):
    rows: list[Any] = []


def _crashes_on_a_list(inp: ShapeInput) -> ToolOutput:
    return ToolOutput(metrics=dict(inp.rows))  # a list of 8-item rows is no mapping


def test_a_tool_that_crashes_on_a_shape_says_which_shapes_it_was_given(tmp_path: Path) -> None:
    spec = ToolSpec("shape_probe", "test", ShapeInput, ToolOutput, _crashes_on_a_list)
    toolbox = StepToolbox(LocalFiles(tmp_path), StepContext())  # type: ignore[arg-type]
    observation = toolbox.run(spec, {"rows": [list("abcdefgh")], "topic": "x"})
    [record] = toolbox.records
    assert not record.ok and record.error_type == "ValueError"
    assert "dictionary update sequence element #0 has length 8" in observation
    assert "(arguments: rows: a list of 1 list, topic: a string)" in observation
    assert record.summary.endswith("(arguments: rows: a list of 1 list, topic: a string)")
    assert argument_shapes({}) == "none"
