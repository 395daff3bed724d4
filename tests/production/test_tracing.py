"""One execution is one trace, from the HTTP request to every model call.

An OTLP/HTTP receiver started here collects what the process exports (tracing set up by
`worker.tracing` from ``OTEL_EXPORTER_OTLP_ENDPOINT``, as a deployment does it); the API app
and in-process workers (workflows, the intelligence agent pool) run one `traced_research`
execution started through ``POST /v1/workflows/{template}/execute``:

* ``research`` runs on a provider chain of two endpoints of the local model-API test double:
  the first call fails over from ``model-a`` (HTTP 500) to ``model-b``; the second call finds
  both down, so the attempt fails and Temporal retries it; the retry reuses the first call
  from the call journal and the second call is answered;
* ``strategy`` runs on the offline policy.

The test walks the tree — HTTP request -> StartWorkflow -> RunWorkflow -> StartActivity ->
RunActivity for each agent step attempt -> each model call (-> its HTTP requests) — checks
the GenAI and platform attributes, that no prompt text reached a span, and that log records
written in the crew's worker thread carry the run and step ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.agent_step.runtime import AgentRuntime
from activities.providers import call_spans
from tests.agents.openai_double import Fail, OpenAIDouble, Reply, default_react
from tests.api.app_support import SPEC_DIRS, Api, running_api
from tests.production.otlp_receiver import OTLPReceiver, ReceivedSpan
from worker import tracing
from worker.log_context import RunContextFilter
from worker.plugin import BizosPlugin
from worker.pools import build_worker
from workflows.registry import default_registry, load_registry, set_registry

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SPECS = Path(__file__).parent / "specs"
TOPIC = "zephyr cargo bikes"  # must never appear in a span: prompts stay out
SERVER, CLIENT, INTERNAL = 2, 3, 1  # opentelemetry.proto Span.SpanKind
STATUS_ERROR = 2
PRICE_IN, PRICE_OUT = 2.5, 10.0  # USD per million tokens on both test links


@dataclass
class Traced:
    api: Api
    receiver: OTLPReceiver
    double: OpenAIDouble
    records: list[logging.LogRecord]


class _Collect(logging.Handler):
    """Keeps records as the run-context filter left them (in the emitting thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(RunContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected_logs() -> Iterator[_Collect]:
    """Every record reaching the root logger (CrewAI's own included), the provider layer's
    down to DEBUG."""
    handler = _Collect()
    root, providers = logging.getLogger(), logging.getLogger("activities.providers")
    level = providers.level
    root.addHandler(handler)
    providers.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        providers.setLevel(level)


@pytest.fixture
async def traced(
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    collected_logs: _Collect,
) -> AsyncIterator[Traced]:
    before = default_registry()
    with OTLPReceiver() as receiver, model_api_double() as double:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        monkeypatch.setenv("BIZOS_PROVIDERS_MARKET_RESEARCH", json.dumps(_chain(double)))
        monkeypatch.setenv("BIZOS_PROVIDERS_STRATEGIC_PLANNING", "offline")
        # Before the app and clients are built: they pick tracing up as a process does.
        on = tracing.setup_tracing("bizos-tracing-test", global_provider=False)
        assert on is not None and on.endpoint == receiver.endpoint
        try:
            # a namespace of its own: another test's long-lived worker (untraced) must not
            # take this run's workflow or activity tasks
            async with running_api(
                temporal_env, tmp_path, tenants=("acme",), namespace="isolated-tracing"
            ) as api:
                set_registry(load_registry([*SPEC_DIRS, SPECS]))
                runtime = AgentRuntime(threads=2, store=api.store, home=tmp_path)
                await runtime.start()
                try:
                    async with build_worker(api.temporal, "intelligence", runtime):
                        yield Traced(api, receiver, double, collected_logs.records)
                finally:
                    await runtime.close()
        finally:
            tracing.shutdown_tracing()
            set_registry(before)


@contextmanager
def model_api_double() -> Iterator[OpenAIDouble]:
    double = OpenAIDouble().start()
    try:
        yield double
    finally:
        double.stop()


def _chain(double: OpenAIDouble) -> list[dict[str, object]]:
    return [
        {
            "provider": "openai_compatible",
            "model": f"model-{ep}",
            "base_url": double.base_url(ep),
            "price_in_per_mtok": PRICE_IN,
            "price_out_per_mtok": PRICE_OUT,
            "timeout_s": 5,
        }
        for ep in ("a", "b")
    ]


def _script(double: OpenAIDouble) -> None:
    final = {
        "title": "Cargo bike market",
        "summary": "A growing market in the EU.",
        "findings": [{"title": "size", "detail": "TAM computed", "source": "market_sizing"}],
    }
    replier = default_react("market_sizing", {"market": TOPIC}, final)
    # call 1: a fails (500), b answers. call 2: both down -> the attempt fails.
    # retry: call 1 from the journal, call 2 answered by a.
    double.configure("a", replier=replier, script=[Fail(500), Fail(503)])
    double.configure("b", replier=replier, script=[Reply(), Fail(503)])


def _by_id(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.span_id: s for s in spans}


async def test_one_execution_is_one_trace_from_http_to_every_model_call(traced: Traced) -> None:
    _script(traced.double)
    api = traced.api
    r = await api.http.post(
        "/v1/workflows/traced_research/execute",
        json={"params": {"topic": TOPIC}},
        headers=api.as_("acme:operator"),
    )
    assert r.status_code == 202, r.text
    execution_id = r.json()["execution_id"]
    handle = api.temporal.get_workflow_handle(execution_id)
    await handle.result()
    run_id = (await handle.describe()).run_id
    provider = tracing.active()
    assert provider is not None and provider.provider.force_flush(10_000)
    assert traced.double.order() == ["a", "b", "a", "b", "a"]

    spans = traced.receiver.spans()
    index = _by_id(spans)
    [request] = [
        s
        for s in spans
        if s.kind == SERVER and s.attributes.get("http.route") == "/v1/workflows/{template}/execute"
    ]
    trace = [s for s in spans if s.trace_id == request.trace_id]

    def one(name: str) -> ReceivedSpan:
        found = [s for s in trace if s.name == name]
        assert len(found) == 1, (name, [s.name for s in trace])
        return found[0]

    start = one("StartWorkflow:TracedResearch")
    assert start.parent_span_id == request.span_id
    run = one("RunWorkflow:TracedResearch")
    assert run.parent_span_id == start.span_id
    assert run.attributes["temporalWorkflowID"] == execution_id

    # Every agent step attempt ran under a StartActivity of this run. Temporal's interceptor
    # makes workflow spans zero-length markers (replay-safe), so the run's activities hang off
    # the context the run started with, beside its RunWorkflow marker.
    attempts = [s for s in trace if s.name == "RunActivity:run_agent"]
    by_step: dict[str, list[ReceivedSpan]] = {}
    for attempt in attempts:
        scheduled = index[attempt.parent_span_id]
        assert scheduled.name == "StartActivity:run_agent"
        assert scheduled.parent_span_id == start.span_id
        assert scheduled.attributes["temporalRunID"] == run.attributes["temporalRunID"]
        calls = _calls_under(trace, attempt)
        offline = bool(calls) and calls[0].attributes["bizos.llm.provider"] == "offline"
        by_step.setdefault("strategy" if offline else "research", []).append(attempt)
    assert len(by_step["research"]) == 2 and len(by_step["strategy"]) == 1
    # one StartActivity per step: a retry is another attempt of the same scheduled activity
    assert len({a.parent_span_id for a in attempts}) == 2
    failed, retried = sorted(by_step["research"], key=lambda s: s.status_code, reverse=True)
    assert failed.status_code == STATUS_ERROR and retried.status_code != STATUS_ERROR

    # Each model call: a GenAI span, child of its attempt's span; answered: tokens and cost.
    calls = [s for s in trace if _is_model_call(s)]
    assert len(calls) >= 5 and len(calls) == len([s for s in spans if _is_model_call(s)])
    for call in calls:
        assert index[call.parent_span_id].name == "RunActivity:run_agent"
        a = call.attributes
        assert a.get("gen_ai.system") and a.get("gen_ai.request.model"), a
        assert call.name == f"chat {a['gen_ai.request.model']}"
        if call.status_code != STATUS_ERROR:
            assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
            assert "bizos.llm.cost_usd" in a
    # Only the platform's own tracers: CrewAI's telemetry stays off and out of this provider.
    assert {s.scope for s in spans} <= {
        "temporalio",
        "bizos.llm",
        "opentelemetry.instrumentation.fastapi",
        "opentelemetry.instrumentation.asgi",
        "opentelemetry.instrumentation.httpx",
    }, {s.scope for s in spans}
    # No span (model calls, HTTP, workflows) carries the prompt: the topic is only in it.
    assert not [s.name for s in spans if TOPIC in json.dumps(s.attributes, default=str)]

    research = _calls_under(trace, failed) + _calls_under(trace, retried)
    first, exhausted, reused, last = research
    # Failover: model-a failed with a 500, model-b answered; both HTTP requests are children.
    assert first.attributes["bizos.llm.failover.failed"] == ["openai_compatible:model-a"]
    assert first.attributes["bizos.llm.answered_by"] == "openai_compatible:model-b"
    assert [e.attributes["http.response.status_code"] for e in first.events] == [500]
    http = [s for s in trace if s.parent_span_id == first.span_id and s.kind == CLIENT]
    assert sorted(_status(s) for s in http) == [200, 500]
    cost = (1000 * PRICE_IN + 200 * PRICE_OUT) / 1e6  # the double's usage: 1000 in, 200 out
    assert first.attributes["bizos.llm.cost_usd"] == pytest.approx(cost)
    assert first.attributes["bizos.budget.reserved_usd"] > cost
    # Both providers down: the call's span says so, and its attempt failed.
    assert exhausted.status_code == STATUS_ERROR
    assert exhausted.attributes["error.type"] == "ProvidersExhausted"
    assert exhausted.attributes["gen_ai.request.model"] == "model-a"  # the first one asked
    assert "gen_ai.usage.input_tokens" not in exhausted.attributes
    assert len(exhausted.attributes["bizos.llm.failover.failed"]) == 2
    # The retry's first call came from the call journal: same tokens, nothing billed.
    assert reused.attributes["bizos.llm.journal.reused"] is True
    assert reused.attributes["bizos.llm.cost_usd"] == 0
    assert reused.attributes["bizos.llm.request_hash"] == first.attributes["bizos.llm.request_hash"]
    assert not [s for s in trace if s.parent_span_id == reused.span_id]  # no HTTP request
    assert last.attributes["bizos.llm.answered_by"] == "openai_compatible:model-a"
    assert last.attributes["bizos.llm.journal.reused"] is False
    # The offline policy's calls are spans too (in-process: INTERNAL), $0.
    offline = _calls_under(trace, by_step["strategy"][0])
    assert offline and all(c.kind == INTERNAL for c in offline)
    assert {c.attributes["bizos.llm.cost_usd"] for c in offline} == {0}

    # Log lines written in the crew's worker thread keep their run and step: the platform's
    # and CrewAI's own (its provider client logs the failed requests).
    in_crew = [r for r in traced.records if (r.threadName or "").startswith("bizos-agent")]
    failover = "provider openai_compatible:model-a failed a model call (server_error HTTP 500)"
    assert failover in [r.getMessage() for r in in_crew]
    assert any("/crewai/" in r.pathname for r in in_crew)
    for record in in_crew:
        assert (record.workflow_id, record.run_id) == (execution_id, run_id)  # type: ignore[attr-defined]
        assert record.step_id in ("research", "strategy")  # type: ignore[attr-defined]
    assert {r.step_id for r in in_crew} == {"research", "strategy"}  # type: ignore[attr-defined]


def _status(span: ReceivedSpan) -> int:
    # the httpx instrumentation writes the stable name when opted in, the old one by default
    a = span.attributes
    return int(a.get("http.response.status_code", a.get("http.status_code", 0)))


def _is_model_call(span: ReceivedSpan) -> bool:
    return span.attributes.get("gen_ai.operation.name") == "chat"


def _calls_under(trace: list[ReceivedSpan], attempt: ReceivedSpan) -> list[ReceivedSpan]:
    calls = [s for s in trace if s.parent_span_id == attempt.span_id and _is_model_call(s)]
    return sorted(calls, key=lambda s: s.start_ns)


def test_without_an_endpoint_a_process_traces_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup_tracing("bizos-worker-test") is None
    # No Temporal interceptor besides the log context, no model-call spans.
    assert [type(i).__name__ for i in BizosPlugin().interceptors or []] == ["LogContextInterceptor"]
    assert not call_spans.enabled()
    # An endpoint switched off by the standard variable stays off.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.setup_tracing("bizos-worker-test") is None
