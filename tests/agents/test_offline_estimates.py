"""Cost known before spending: offline agent steps (through Temporal, CrewAI's real loop)
write one ledger row per model call with their token estimates — $0, or priced as the
step's ``price_as`` model from the price table — and the step's result carries the same
cost and tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.agent_step.activity import build_agent_activities
from activities.agent_step.runtime import AgentRuntime
from activities.contract import AgentStepInput
from activities.providers.offline import OFFLINE_MODEL, OFFLINE_PROVIDER
from activities.providers.prices import PRICES
from store import EstimatedCall, Store, StoreSettings
from store.records import CallKey
from tests.agents.probe_workflow import AgentProbeWorkflow, ProbeInput, StepOutcome

INPUTS = {"topic": "electric bikes", "region": "EU"}


@pytest.fixture(scope="module")
async def estimates_rig(
    temporal_client: Client, catalog_tools: frozenset[str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, Store]]:
    home: Path = tmp_path_factory.mktemp("estimates-home")
    settings = StoreSettings(home=home)
    runtime = AgentRuntime(threads=2, store_settings=settings, home=home)
    store = await Store.open(settings)
    queue = f"agents-estimates-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[AgentProbeWorkflow],
        activities=build_agent_activities(runtime),
        max_concurrent_activities=4,
    ):
        yield queue, store
    await store.close()
    await runtime.close()


async def _run(
    client: Client,
    queue: str,
    wf: str,
    agent: str,
    mode: str,
    price_as: str | None,
    **extra: object,
) -> StepOutcome:
    step = AgentStepInput(
        workflow_id=wf,
        run_id="run-1",
        template="probe",
        step_id="s",
        agent=agent,
        mode=mode,
        inputs=INPUTS,
        price_as=price_as,
        **extra,  # type: ignore[arg-type]
    )
    out = await client.execute_workflow(
        AgentProbeWorkflow.run,
        ProbeInput(task_queue=queue, steps=[step], max_attempts=3),
        id=wf,
        task_queue=queue,
    )
    return out.outcomes[0]


def _expected_nanos(label: str, tokens_in: int, tokens_out: int) -> int:
    """Tokens times the table's USD per million tokens, in nano-dollars."""
    price = PRICES[label]
    usd = (
        Decimal(str(price.in_per_mtok)) * tokens_in + Decimal(str(price.out_per_mtok)) * tokens_out
    ) / 1_000_000
    return int(usd * 1_000_000_000)


async def test_offline_calls_are_in_the_ledger_at_zero_dollars(
    temporal_client: Client, estimates_rig: tuple[str, Store]
) -> None:
    queue, store = estimates_rig
    wf = f"estimate-free-{uuid.uuid4().hex[:8]}"
    outcome = await _run(temporal_client, queue, wf, "market_research", "marketing_research", None)
    assert outcome.failure is None, outcome.failure
    res = outcome.result
    assert res is not None and res.provider == OFFLINE_PROVIDER and res.cost_usd == 0.0

    rows = await store.ledger_entries(wf)
    assert len(rows) == res.calls == 3  # two tools of the plan + the final answer
    assert {(r.kind, r.provider, r.model, r.priced_as) for r in rows} == {
        ("billed", OFFLINE_PROVIDER, OFFLINE_MODEL, None)
    }
    assert all(r.usd_nanos == 0 and r.tokens_in > 0 and r.tokens_out > 0 for r in rows)
    assert sum(r.tokens_in for r in rows) == res.tokens_in
    assert sum(r.tokens_out for r in rows) == res.tokens_out
    assert [r.call_index for r in rows] == [0, 0, 0]  # three distinct requests
    assert all(r.idempotency_key.startswith(f"{wf}/run-1/s/a1/") for r in rows)

    # Keyed like a billed call: writing the same call again records nothing.
    first = rows[0]
    again = EstimatedCall(
        key=CallKey(
            workflow_id=wf,
            run_id="run-1",
            step_key="s",
            request_hash=first.request_hash,
            call_index=first.call_index,
        ),
        attempt=1,
        agent=first.agent,
        mode=first.mode,
        provider=first.provider,
        model=first.model,
        tokens_in=first.tokens_in,
        tokens_out=first.tokens_out,
        usd_nanos=0,
    )
    assert again.ledger_key == first.idempotency_key
    assert await store.record_estimated_call(again) is False
    assert len(await store.ledger_entries(wf)) == 3


async def test_price_as_bills_the_estimates_at_that_models_prices_and_never_calls_it(
    temporal_client: Client, estimates_rig: tuple[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, store = estimates_rig
    # A chain that would be used (openai_compatible needs no key) and cannot answer: with
    # price_as the step must stay offline whatever providers are configured.
    monkeypatch.setenv(
        "BIZOS_PROVIDERS_MARKET_RESEARCH", "openai_compatible:unused@http://127.0.0.1:9/v1"
    )
    wf = f"estimate-priced-{uuid.uuid4().hex[:8]}"
    label = "openai:gpt-4o-mini"
    outcome = await _run(temporal_client, queue, wf, "market_research", "marketing_research", label)
    assert outcome.failure is None, outcome.failure
    res = outcome.result
    assert res is not None and res.provider == OFFLINE_PROVIDER
    assert f"priced as {label}" in res.summary

    rows = await store.ledger_entries(wf)
    assert len(rows) == res.calls == 3
    for r in rows:
        assert (r.provider, r.model, r.priced_as) == (OFFLINE_PROVIDER, OFFLINE_MODEL, label)
        assert r.usd_nanos == _expected_nanos(label, r.tokens_in, r.tokens_out) > 0
    tokens_in, tokens_out = sum(r.tokens_in for r in rows), sum(r.tokens_out for r in rows)
    assert (res.tokens_in, res.tokens_out) == (tokens_in, tokens_out)
    expected = _expected_nanos(label, tokens_in, tokens_out)
    assert sum(r.usd_nanos for r in rows) == expected
    assert res.cost_usd == pytest.approx(expected / 1e9, abs=1e-12)
    assert (await store.ledger_totals(wf)).usd_nanos == expected


async def test_price_as_chain_prices_each_step_as_its_first_provider(
    temporal_client: Client, estimates_rig: tuple[str, Store]
) -> None:
    queue, store = estimates_rig
    wf = f"estimate-chain-{uuid.uuid4().hex[:8]}"
    # technical_documentation's chain starts with anthropic:claude-sonnet-4-5
    outcome = await _run(
        temporal_client, queue, wf, "technical_documentation", "api_documentation", "chain"
    )
    assert outcome.failure is None, outcome.failure
    res = outcome.result
    assert res is not None
    rows = await store.ledger_entries(wf)
    assert rows and {r.priced_as for r in rows} == {"anthropic:claude-sonnet-4-5"}
    expected = sum(
        _expected_nanos("anthropic:claude-sonnet-4-5", r.tokens_in, r.tokens_out) for r in rows
    )
    assert res.cost_usd == pytest.approx(expected / 1e9, abs=1e-12) and expected > 0


async def test_price_as_an_unknown_model_fails_at_once_naming_it(
    temporal_client: Client, estimates_rig: tuple[str, Store]
) -> None:
    queue, store = estimates_rig
    wf = f"estimate-unknown-{uuid.uuid4().hex[:8]}"
    outcome = await _run(
        temporal_client, queue, wf, "market_research", "marketing_research", "openai:gpt-9"
    )
    failure = outcome.failure
    assert failure is not None and failure.non_retryable
    assert failure.type == "ProviderConfigError"
    assert "openai:gpt-9" in failure.message and "openai:gpt-4o-mini" in failure.message
    assert await store.ledger_entries(wf) == []  # refused before any call


async def test_priced_estimates_draw_on_the_runs_pool_like_bills(
    temporal_client: Client, estimates_rig: tuple[str, Store]
) -> None:
    queue, store = estimates_rig
    label = "openai:gpt-4o"
    wf = f"estimate-pool-{uuid.uuid4().hex[:8]}"
    pool = f"{wf}/run-1"
    outcome = await _run(
        temporal_client,
        queue,
        wf,
        "market_research",
        "marketing_research",
        label,
        budget_pool=pool,
        budget_cap_usd=1.0,
    )
    assert outcome.failure is None, outcome.failure
    res = outcome.result
    assert res is not None and res.cost_usd > 0
    totals = await store.pool_totals(pool)
    assert totals.spent_nanos == (await store.ledger_totals(wf)).usd_nanos
    assert totals.reserved_nanos == 0 and res.pool_spent_usd == pytest.approx(res.cost_usd)

    # A pool too small for the estimate stops the step where a real run would stop.
    wf = f"estimate-pool-small-{uuid.uuid4().hex[:8]}"
    outcome = await _run(
        temporal_client,
        queue,
        wf,
        "market_research",
        "marketing_research",
        label,
        budget_pool=f"{wf}/run-1",
        budget_cap_usd=0.000001,
    )
    assert outcome.failure is not None and outcome.failure.non_retryable
    assert outcome.failure.type == "BudgetExhausted"
    assert await store.ledger_entries(wf) == []
