"""The real provider path: CrewAI's native OpenAI client talking to a local OpenAI-compatible
test double, inside the `run_agent` activity on the real Temporal server.

Covers failover order, exactly one retry layer (no SDK or CrewAI retries; Temporal retries
the attempt, after Retry-After), fail-fast errors, the ledger to the cent, call-journal
reuse by a retried attempt, the step budget cap, output validation and cancellation.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from activities.agent_step.activity import build_agent_activities
from activities.agent_step.runtime import AgentRuntime
from activities.catalog import AgentCatalog, load_catalog
from activities.catalog.output_models import ReportOutput
from activities.contract import AgentStepInput
from activities.tools.registry import TOOLS, ToolInput, ToolOutput, tool
from store import Store, StoreSettings
from tests.agents.openai_double import (
    Fail,
    Hang,
    Malformed,
    OpenAIDouble,
    Recorded,
    Reply,
    Usage,
    default_react,
)
from tests.agents.probe_workflow import AgentProbeWorkflow, ProbeInput, StepOutcome
from tests.support import eventually

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROBE_TOOL = "probe_lookup"
PRICE_IN, PRICE_OUT = 2.5, 10.0  # USD per million tokens, set on every test link

PROBE_AGENT = """
id: probe
name: Probe
category: intelligence
description: Test agent for the provider chain.
role: Probe analyst
goal: Answer with one lookup
backstory: Exists for tests.
tools: [probe_lookup]
providers: ["openai_compatible:unused@http://127.0.0.1:9/v1"]
tones: {plain: "Plain words."}
modes:
  lookup:
    output: report
    task: "Look up {topic}."
    offline_plan: [{tool: probe_lookup}]
  choose:
    output: decision
    task: "Choose for {topic}."
    offline_plan: [{tool: probe_lookup}]
  tabulate:
    output: table
    task: "Tabulate {topic}."
    offline_plan: [{tool: probe_lookup}]
  write:
    output: creative
    task: "Write about {topic}."
    offline_plan: [{tool: probe_lookup}]
"""


class ProbeInputModel(ToolInput):
    topic: str = ""


class ProbeOutputModel(ToolOutput):
    pass


if PROBE_TOOL not in TOOLS:

    @tool(PROBE_TOOL, "Look a topic up (test tool).")
    def probe_lookup(inp: ProbeInputModel) -> ProbeOutputModel:
        return ProbeOutputModel(headline=f"looked up {inp.topic}", metrics={"len": len(inp.topic)})


def final_report(topic: str, padding: str = "") -> dict[str, object]:
    return {
        "title": f"Probe: {topic}",
        "summary": f"found {topic}" + padding,
        "findings": [{"title": "lookup", "detail": "ok", "source": PROBE_TOOL}],
    }


@dataclass
class Rig:
    client: Client
    double: OpenAIDouble
    runtime: AgentRuntime
    store: Store
    queue: str

    def link(self, endpoint: str, **extra: object) -> dict[str, object]:
        return {
            "provider": "openai_compatible",
            "model": f"model-{endpoint}",
            "base_url": self.double.base_url(endpoint),
            "price_in_per_mtok": PRICE_IN,
            "price_out_per_mtok": PRICE_OUT,
            "timeout_s": 5,
            **extra,
        }

    def step(
        self,
        wf: str,
        *,
        mode: str = "lookup",
        step_id: str = "s1",
        run_id: str = "r1",
        **kw: object,
    ) -> AgentStepInput:
        inputs = kw.pop("inputs", {"topic": "widgets"})
        return AgentStepInput(
            workflow_id=wf,
            run_id=run_id,
            template="probe",
            step_id=step_id,
            agent="probe",
            mode=mode,
            inputs=inputs,
            **kw,  # type: ignore[arg-type]
        )

    async def start(self, steps: list[AgentStepInput], **kw: object) -> WorkflowHandle:
        wf = f"probe-{uuid.uuid4().hex[:10]}"
        return await self.client.start_workflow(
            AgentProbeWorkflow.run,
            ProbeInput(task_queue=self.queue, steps=steps, **kw),  # type: ignore[arg-type]
            id=wf,
            task_queue=self.queue,
        )

    async def run(self, steps: list[AgentStepInput], **kw: object) -> list[StepOutcome]:
        handle = await self.start(steps, **kw)
        return (await handle.result()).outcomes


def probe_catalog(tmp: Path) -> AgentCatalog:
    (tmp / "probe.yaml").write_text(PROBE_AGENT)
    return load_catalog(tmp)


async def _rig(
    client: Client, double: OpenAIDouble, settings: StoreSettings, home: Path
) -> AsyncIterator[Rig]:
    store = await Store.open(settings)
    runtime = AgentRuntime(
        threads=4, store=store, catalog=probe_catalog(home), home=home, heartbeat_every_s=0.2
    )
    await runtime.start()  # crewai imported before any test's timeouts start
    queue = f"agents-chain-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[AgentProbeWorkflow],
        activities=build_agent_activities(runtime),
        max_concurrent_activities=8,
    ):
        yield Rig(client, double, runtime, store, queue)
    await runtime.close()
    await store.close()


@pytest.fixture(scope="module")
async def sqlite_rig(
    temporal_client: Client, openai_double: OpenAIDouble, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    home = tmp_path_factory.mktemp("chain-sqlite")
    async for rig in _rig(temporal_client, openai_double, StoreSettings(home=home), home):
        yield rig


@pytest.fixture(scope="module")
async def pg_rig(
    temporal_client: Client,
    openai_double: OpenAIDouble,
    pg_settings: StoreSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Rig]:
    home = tmp_path_factory.mktemp("chain-pg")
    async for rig in _rig(temporal_client, openai_double, pg_settings, home):
        yield rig


@pytest.fixture(params=["sqlite", "postgres"])
def any_rig(request: pytest.FixtureRequest) -> Rig:
    return request.getfixturevalue("sqlite_rig" if request.param == "sqlite" else "pg_rig")


@pytest.fixture
def rig(sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Rig:
    sqlite_rig.double.reset()
    return sqlite_rig


def use_chain(monkeypatch: pytest.MonkeyPatch, rig: Rig, *links: dict[str, object]) -> None:
    monkeypatch.setenv("BIZOS_PROVIDERS_PROBE", json.dumps(list(links)))


def react(endpoints: list[str], double: OpenAIDouble, topic: str = "widgets") -> None:
    replier = default_react(PROBE_TOOL, {"topic": topic}, final_report(topic))
    for ep in endpoints:
        double.configure(ep, replier=replier)


async def test_failover_follows_chain_order_and_skips_a_rate_limited_provider(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_chain(monkeypatch, rig, rig.link("a"), rig.link("b"), rig.link("c"))
    react(["a", "b", "c"], rig.double)
    rig.double.configure("a", script=[Fail(429, retry_after=30)])
    rig.double.configure("b", script=[Fail(500)])

    wf = f"wf-{uuid.uuid4().hex[:8]}"
    [outcome] = await rig.run([rig.step(wf)])

    assert outcome.failure is None, outcome.failure
    # Call 1: a (429) -> b (500) -> c answers. Call 2: a is cooling down (Retry-After 30 s),
    # so b is asked first and answers. One request per provider per call: no SDK retries.
    assert rig.double.order() == ["a", "b", "c", "b"]
    rows = await rig.store.ledger_entries(wf)
    assert [(r.kind, r.model) for r in rows] == [("billed", "model-c"), ("billed", "model-b")]
    assert outcome.result is not None
    ReportOutput.model_validate(outcome.result.output)
    assert outcome.result.tool_calls[0].tool == PROBE_TOOL


async def test_all_providers_down_fails_the_attempt_with_retry_after_as_next_retry_delay(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_chain(monkeypatch, rig, rig.link("a"), rig.link("b"))
    rig.double.configure("a", script=[Fail(429, retry_after=7)])
    rig.double.configure("b", script=[Fail(503)])

    [outcome] = await rig.run([rig.step(f"wf-{uuid.uuid4().hex[:8]}")], max_attempts=1)

    assert outcome.failure is not None
    assert outcome.failure.type == "ProvidersUnavailable"
    assert not outcome.failure.non_retryable
    assert outcome.failure.next_retry_delay_s == 7
    assert rig.double.order() == ["a", "b"]  # nobody retried inside the attempt


async def test_temporal_retries_the_attempt_after_retry_after_and_nothing_else_retries(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_chain(monkeypatch, rig, rig.link("a"))
    react(["a"], rig.double)
    rig.double.configure("a", script=[Fail(429, retry_after=1)])

    started = time.monotonic()
    [outcome] = await rig.run([rig.step(f"wf-{uuid.uuid4().hex[:8]}")], max_attempts=3)

    assert outcome.result is not None, outcome.failure
    assert outcome.result.attempt == 2
    assert rig.double.order() == ["a", "a", "a"]  # 429 once, then tool call + final answer
    assert time.monotonic() - started >= 1.0  # Temporal waited for the Retry-After


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(401, "ProviderAuthError"), (403, "ProviderAuthError"), (400, "ProviderBadRequest")],
)
async def test_non_retryable_errors_fail_fast_without_failover_or_retry(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, status: int, error_type: str
) -> None:
    use_chain(monkeypatch, rig, rig.link("a"), rig.link("b"))
    react(["b"], rig.double)
    rig.double.configure("a", script=[Fail(status)])

    [outcome] = await rig.run([rig.step(f"wf-{uuid.uuid4().hex[:8]}")], max_attempts=3)

    assert outcome.failure is not None
    assert outcome.failure.type == error_type and outcome.failure.non_retryable
    assert rig.double.order() == ["a"]


@pytest.mark.parametrize("broken", ["timeout", "malformed"])
async def test_timeouts_and_malformed_responses_fail_over(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    use_chain(monkeypatch, rig, rig.link("a", timeout_s=0.5), rig.link("b"))
    react(["a", "b"], rig.double)
    rig.double.configure("a", script=[Hang() if broken == "timeout" else Malformed()])
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf)])

    assert outcome.result is not None, outcome.failure
    # Call 1: a fails once (the SDK does not retry it), b answers. Call 2 starts at a again:
    # only a rate limit says when a provider may be asked again.
    assert rig.double.order() == ["a", "b", "a"]
    rows = await rig.store.ledger_entries(wf)
    assert [r.model for r in rows] == ["model-b", "model-a"]  # the failed call cost nothing


async def test_ledger_is_exact_to_the_nano_dollar(
    any_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = any_rig
    rig.double.reset()
    use_chain(monkeypatch, rig, rig.link("a"))
    react(["a"], rig.double)
    rig.double.configure("a", script=[Reply(usage=Usage(1234, 567)), Reply(usage=Usage(2345, 89))])
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf)])

    assert outcome.result is not None, outcome.failure
    # (1234 * 2.5 + 567 * 10 + 2345 * 2.5 + 89 * 10) / 1e6 USD
    expected_nanos = 1234 * 2500 + 567 * 10_000 + 2345 * 2500 + 89 * 10_000
    totals = await rig.store.ledger_totals(wf)
    assert totals.usd_nanos == expected_nanos == 15_507_500
    assert totals.billed_calls == 2
    assert (totals.tokens_in, totals.tokens_out) == (1234 + 2345, 567 + 89)
    assert outcome.result.cost_usd == pytest.approx(0.0155075, abs=1e-12)
    assert round(outcome.result.cost_usd, 2) == round(totals.usd, 2)
    assert (outcome.result.tokens_in, outcome.result.tokens_out) == (3579, 656)


async def test_retried_attempt_reuses_the_paid_call_from_the_journal(
    any_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = any_rig
    rig.double.reset()
    use_chain(monkeypatch, rig, rig.link("a"))
    react(["a"], rig.double)
    # Attempt 1: the first call is answered (and paid); the second fails, ending the attempt.
    rig.double.configure("a", script=[Reply(usage=Usage(1000, 100)), Fail(500)])
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf)], max_attempts=2)

    assert outcome.result is not None, outcome.failure
    assert outcome.result.attempt == 2
    assert outcome.result.reused_calls == 1
    # The provider saw the first request once: attempt 2 took its answer from the journal.
    first_requests = [r for r in rig.double.calls("a") if _assistant_turns(r) == 0]
    assert len(first_requests) == 1
    rows = await rig.store.ledger_entries(wf)
    kinds = [(r.attempt, r.kind, r.usd_nanos) for r in rows]
    assert kinds == [
        (1, "billed", 1000 * 2500 + 100 * 10_000),
        (2, "reused", 0),
        (2, "billed", 1000 * 2500 + 200 * 10_000),
    ]
    assert rows[1].reused_from == rows[0].idempotency_key
    assert outcome.result.cost_usd == pytest.approx((rows[0].usd_nanos + rows[2].usd_nanos) / 1e9)


def _assistant_turns(req: Recorded) -> int:
    return sum(1 for m in req.messages if m.get("role") == "assistant")


async def test_step_budget_stops_the_agent_once_spent(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_chain(monkeypatch, rig, rig.link("a", price_in_per_mtok=10.0, price_out_per_mtok=0.0))
    react(["a"], rig.double)
    rig.double.configure("a", usage=Usage(1000, 50))  # $0.01 a call
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf, budget_usd=0.005)], max_attempts=3)

    assert outcome.failure is not None
    assert outcome.failure.type == "StepBudgetExceeded" and outcome.failure.non_retryable
    assert len(rig.double.calls("a")) == 1
    assert (await rig.store.ledger_totals(wf)).usd_nanos == 10_000_000


async def test_an_answer_that_is_not_the_output_model_fails_without_retry(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_chain(monkeypatch, rig, rig.link("a"))
    rig.double.configure("a", script=[Reply("Thought: done\nFinal Answer: widgets are great")])

    [outcome] = await rig.run([rig.step(f"wf-{uuid.uuid4().hex[:8]}")], max_attempts=3)

    assert outcome.failure is not None
    assert outcome.failure.type == "AgentOutputInvalid" and outcome.failure.non_retryable
    assert "report" in outcome.failure.message
    # The answer and one corrective re-ask (answered "Final Answer: {}"); no retry.
    assert len(rig.double.calls("a")) == 2


async def test_big_outputs_travel_by_reference(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    use_chain(monkeypatch, rig, rig.link("a"))
    big = final_report("widgets", padding="x" * 70_000)
    rig.double.configure("a", replier=default_react(PROBE_TOOL, {"topic": "widgets"}, big))

    [outcome] = await rig.run([rig.step(f"wf-{uuid.uuid4().hex[:8]}")])

    assert outcome.result is not None, outcome.failure
    assert outcome.result.output is None and outcome.result.output_ref
    stored = await rig.store.get_output(outcome.result.output_ref)
    assert stored["summary"] == big["summary"]


async def test_bad_inputs_are_refused_without_a_model_call(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_chain(monkeypatch, rig, rig.link("a"))
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    outcomes = await rig.run(
        [
            rig.step(wf, step_id="tone", inputs={"topic": "x", "tone": "shouty"}),
            rig.step(wf, step_id="mode", mode="nonexistent"),
        ],
        max_attempts=3,
    )
    failures = [o.failure for o in outcomes]
    assert all(
        f is not None and f.type == "AgentInputInvalid" and f.non_retryable for f in failures
    )
    assert "shouty" in failures[0].message and "plain" in failures[0].message  # type: ignore[union-attr]
    assert "nonexistent" in failures[1].message  # type: ignore[union-attr]
    assert rig.double.calls() == []


async def test_cancelling_a_step_stops_its_agent_loop(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_chain(monkeypatch, rig, rig.link("a", timeout_s=30), rig.link("b"))
    react(["a", "b"], rig.double)
    stuck = threading.Event()
    rig.double.configure("a", script=[Reply(), Hang(until=stuck)])
    cancelled_before = rig.runtime.cancelled_steps
    handle = await rig.start([rig.step(f"wf-{uuid.uuid4().hex[:8]}")], heartbeat_timeout_s=2)
    try:
        await eventually(lambda: _count(rig.double, 2), what="the second model call in flight")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        # The cancellation reaches the activity through its heartbeats.
        await eventually(
            lambda: _true(rig.runtime.cancelled_steps > cancelled_before),
            what="the activity to see its cancellation",
        )
    finally:
        stuck.set()  # the hung request now ends; the loop must not make another call
    await eventually(lambda: _idle(rig.runtime), what="the crew thread to stop")
    assert rig.double.order() == ["a", "a"]  # b was never asked after the cancellation


async def _count(double: OpenAIDouble, n: int) -> bool:
    return len(double.calls()) >= n


async def _idle(runtime: AgentRuntime) -> bool:
    return runtime.active_crews == 0


async def _true(value: bool) -> bool:
    return value


async def test_a_run_keeps_the_configuration_version_it_started_with(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BIZOS_PROVIDERS_PROBE", raising=False)
    monkeypatch.delenv("BIZOS_PROVIDERS", raising=False)
    react(["v1", "v2"], rig.double)
    v1 = await rig.store.create_config_version("probe", {"providers": [rig.link("v1")]})
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [first] = await rig.run([rig.step(wf, step_id="s1")])
    v2 = await rig.store.create_config_version("probe", {"providers": [rig.link("v2")]})
    [same_run] = await rig.run([rig.step(wf, step_id="s2")])
    [new_run] = await rig.run([rig.step(wf, step_id="s1", run_id="r2")])
    [explicit] = await rig.run([rig.step(wf, step_id="s1", run_id="r3", config_version=v1)])

    versions = [
        o.result.config_version if o.result else o.failure
        for o in (first, same_run, new_run, explicit)
    ]
    assert versions == [v1, v1, v2, v1]
    assert [o.result.model for o in (first, same_run, new_run, explicit) if o.result] == [
        "model-v1",
        "model-v1",
        "model-v2",
        "model-v1",
    ]


async def test_anthropic_and_gemini_sdks_fail_over_once_and_are_priced_from_the_table(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key")
    base = rig.double.base_url("x").removesuffix("/x/v1")
    use_chain(
        monkeypatch,
        rig,
        {"provider": "anthropic", "model": "claude-3-5-haiku-latest", "base_url": f"{base}/an"},
        {"provider": "gemini", "model": "gemini-2.0-flash", "base_url": f"{base}/ge/"},
    )
    react(["an", "ge"], rig.double)
    rig.double.configure("an", script=[Fail(429, retry_after=30)])
    rig.double.configure("ge", usage=Usage(1000, 200))
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf)])

    assert outcome.result is not None, outcome.failure
    # Anthropic's SDK made one request for the 429 (by default it would make three), then
    # the chain skipped it while it cooled down; Gemini answered both calls.
    assert rig.double.order() == ["an", "ge", "ge"]
    rows = await rig.store.ledger_entries(wf)
    # gemini-2.0-flash: $0.10 in / $0.40 out per million tokens
    assert [(r.provider, r.usd_nanos) for r in rows] == [("gemini", 180_000)] * 2
    assert outcome.result.provider == "gemini"


async def test_anthropic_answers_are_priced_from_the_table(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    base = rig.double.base_url("x").removesuffix("/x/v1")
    use_chain(
        monkeypatch,
        rig,
        {"provider": "anthropic", "model": "claude-3-5-haiku-latest", "base_url": f"{base}/an"},
    )
    react(["an"], rig.double)
    rig.double.configure("an", usage=Usage(1000, 200))
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf)])

    assert outcome.result is not None, outcome.failure
    # claude-3-5-haiku-latest: $0.80 in / $4.00 out per million tokens
    assert (await rig.store.ledger_totals(wf)).usd_nanos == 2 * (800_000 + 800_000)
    assert outcome.result.cost_usd == pytest.approx(0.0032)


async def test_an_attempt_killed_mid_call_is_retried_and_reuses_the_paid_call(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attempt 1 pays for the first call, then hangs in the second until Temporal times it
    out (as if its worker died). Attempt 2 takes the first answer from the journal."""
    use_chain(monkeypatch, rig, rig.link("a", timeout_s=60))
    react(["a"], rig.double)
    stuck = threading.Event()
    rig.double.configure("a", script=[Reply(usage=Usage(1000, 100)), Hang(until=stuck)])
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    try:
        [outcome] = await rig.run([rig.step(wf)], max_attempts=2, start_to_close_s=2)
    finally:
        stuck.set()

    assert outcome.result is not None, outcome.failure
    assert outcome.result.attempt == 2 and outcome.result.reused_calls == 1
    first_requests = [r for r in rig.double.calls("a") if _assistant_turns(r) == 0]
    assert len(first_requests) == 1  # paid once, reused once
    rows = await rig.store.ledger_entries(wf)
    assert [(r.attempt, r.kind) for r in rows] == [(1, "billed"), (2, "reused"), (2, "billed")]
    await eventually(lambda: _idle(rig.runtime), what="the killed attempt's crew to stop")
