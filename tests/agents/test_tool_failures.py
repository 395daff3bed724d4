"""Work that could not be done does not pass: an agent step whose tools failed fails, or —
when a real model got past some failures — passes and says which tools failed.

Every case runs the real CrewAI agent loop inside the `run_agent` activity on the real
Temporal server, on the catalog's seo_optimization agent (content_seo mode): the offline
policy, or CrewAI's native OpenAI client talking to the local test double.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.agent_step.activity import build_agent_activities
from activities.agent_step.runtime import AgentRuntime
from activities.contract import AgentStepInput
from store import StoreSettings
from tests.agents.openai_double import OpenAIDouble, Recorded, Reply
from tests.agents.probe_workflow import AgentProbeWorkflow, ProbeInput, StepOutcome

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AGENT, MODE = "seo_optimization", "content_seo"
GOOD_TEXT = "Trail shoes need grip. Cushioning matters on long runs. Fit is personal."


@dataclass
class Rig:
    client: Client
    queue: str
    home: Path

    async def run(self, inputs: dict[str, object]) -> StepOutcome:
        wf = f"toolfail-{uuid.uuid4().hex[:10]}"
        step = AgentStepInput(
            workflow_id=wf,
            run_id="r1",
            template="probe",
            step_id="s1",
            agent=AGENT,
            mode=MODE,
            inputs=inputs,
        )
        out = await self.client.execute_workflow(
            AgentProbeWorkflow.run,
            ProbeInput(task_queue=self.queue, steps=[step], max_attempts=1),
            id=wf,
            task_queue=self.queue,
        )
        [outcome] = out.outcomes
        return outcome


@pytest.fixture(scope="module")
async def rig(
    temporal_client: Client, catalog_tools: frozenset[str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    home = tmp_path_factory.mktemp("tool-failures")
    runtime = AgentRuntime(threads=2, store_settings=StoreSettings(home=home), home=home)
    await runtime.start()  # crewai imported before any step's timeout starts
    queue = f"agents-toolfail-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[AgentProbeWorkflow],
        activities=build_agent_activities(runtime),
        max_concurrent_activities=4,
    ):
        yield Rig(temporal_client, queue, home)
    await runtime.close()


def model_chain(
    monkeypatch: pytest.MonkeyPatch, double: OpenAIDouble, endpoint: str, replies: list[str]
) -> None:
    """The agent runs on the test double, which answers ``replies`` in order (then the final
    answer again, should CrewAI ask once more)."""
    double.reset()
    link = {
        "provider": "openai_compatible",
        "model": f"model-{endpoint}",
        "base_url": double.base_url(endpoint),
        "price_in_per_mtok": 1.0,
        "price_out_per_mtok": 1.0,
        "timeout_s": 5,
    }
    monkeypatch.setenv(f"BIZOS_PROVIDERS_{AGENT.upper()}", json.dumps([link]))
    last = replies[-1]
    double.configure(endpoint, script=[Reply(text) for text in replies], replier=lambda _: last)


def action(tool: str, args: dict[str, object]) -> str:
    return f"Thought: I need data.\nAction: {tool}\nAction Input: {json.dumps(args)}"


FINAL = "Thought: I now know the final answer\nFinal Answer: " + json.dumps(
    {
        "title": "Content SEO: trail shoes",
        "summary": "Readable copy; keyword coverage unknown.",
        "findings": [{"title": "readability", "detail": "easy", "source": "readability_score"}],
    }
)


def observations(double: OpenAIDouble, endpoint: str) -> str:
    """Everything the model was shown (the tool results come back inside the messages)."""
    calls: list[Recorded] = double.calls(endpoint)
    return "\n".join(str(m.get("content", "")) for m in calls[-1].messages)


async def test_offline_step_whose_tools_cannot_read_their_file_fails_retryably(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"BIZOS_PROVIDERS_{AGENT.upper()}", raising=False)
    missing = rig.home / "no-such-draft.md"

    outcome = await rig.run({"topic": "trail shoes", "text_path": str(missing)})

    # Before: the step succeeded, its summary saying "keyword_coverage could not run".
    assert outcome.failure is not None, outcome.result
    assert outcome.failure.type == "ToolFailed" and not outcome.failure.non_retryable
    message = outcome.failure.message
    assert "keyword_coverage" in message and "readability_score" in message
    assert "DataFileError" in message and str(missing) in message
    assert "offline policy" in message


async def test_offline_step_whose_tool_input_is_invalid_fails_without_retry(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"BIZOS_PROVIDERS_{AGENT.upper()}", raising=False)

    # `keywords` must be a list: keyword_coverage refuses it; readability_score ignores it
    # and runs. The offline policy still cannot answer without keyword_coverage.
    outcome = await rig.run({"topic": "trail shoes", "keywords": 5})

    assert outcome.failure is not None, outcome.result
    assert outcome.failure.type == "ToolInputInvalid" and outcome.failure.non_retryable
    assert "keyword_coverage" in outcome.failure.message
    assert "readability_score" not in outcome.failure.message
    assert "ValidationError" in outcome.failure.message


async def test_a_model_that_gets_past_a_failed_tool_passes_and_reports_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, openai_double: OpenAIDouble
) -> None:
    model_chain(
        monkeypatch,
        openai_double,
        "tf-partial",
        [
            action("keyword_coverage", {"text": GOOD_TEXT, "keywords": 5}),  # bad arguments
            action("readability_score", {"text": GOOD_TEXT}),
            FINAL,
        ],
    )

    outcome = await rig.run({"topic": "trail shoes"})

    assert outcome.result is not None, outcome.failure
    result = outcome.result
    assert [(c.tool, c.ok) for c in result.tool_calls] == [
        ("keyword_coverage", False),
        ("readability_score", True),
    ]
    bad = result.tool_calls[0]
    assert bad.error_type == "ValidationError" and bad.retryable is False
    assert result.tool_calls[1].error_type is None and result.tool_calls[1].retryable is None
    assert result.tool_failures == 1 and result.failed_tools == ["keyword_coverage"]
    assert result.summary.endswith("(1 tool call failed: keyword_coverage)")
    # The model was shown the failure (that is how it could get past it).
    assert "ValidationError" in observations(openai_double, "tf-partial")


async def test_a_failure_the_model_recovers_from_is_not_counted(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, openai_double: OpenAIDouble
) -> None:
    model_chain(
        monkeypatch,
        openai_double,
        "tf-recovered",
        [
            action("readability_score", {"text_path": str(rig.home / "missing.md")}),
            action("readability_score", {"text": GOOD_TEXT}),
            FINAL,
        ],
    )

    outcome = await rig.run({"topic": "trail shoes"})

    assert outcome.result is not None, outcome.failure
    assert [c.ok for c in outcome.result.tool_calls] == [False, True]
    assert outcome.result.tool_calls[0].retryable is True
    assert outcome.result.tool_failures == 0 and outcome.result.failed_tools == []
    assert "failed" not in outcome.result.summary


async def test_a_model_whose_every_tool_call_failed_fails(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, openai_double: OpenAIDouble
) -> None:
    model_chain(
        monkeypatch,
        openai_double,
        "tf-nothing",
        [
            action("semrush", {"keywords": ["trail shoes"]}),  # no credentials configured
            action("keyword_coverage", {"text_path": str(rig.home / "gone.md")}),
            FINAL,
        ],
    )

    outcome = await rig.run({"topic": "trail shoes"})

    assert outcome.failure is not None, outcome.result
    # One of the two failures (the missing file) may pass on another attempt.
    assert outcome.failure.type == "ToolFailed" and not outcome.failure.non_retryable
    message = outcome.failure.message
    assert "semrush" in message and "ConnectorNotConfigured" in message
    assert "keyword_coverage" in message and "DataFileError" in message
    assert "no tool call succeeded" in message
