"""The run's budget is a hard cap: one pool of money per run, on the real path — CrewAI's
OpenAI client inside the `run_agent` activity on the Temporal dev server, against the
OpenAI-compatible test double billing every call.

Many steps of one run (parallel branches, foreach items, a child run under another workflow
id) draw on one pool at once, with retried attempts and an attempt that dies mid-call: the
ledger never passes the cap, calls past it are refused with `BudgetExhausted`, and the pool's
settled money and outstanding reservations add up to the ledger. Also: every call asks for at
most `max_tokens` output tokens, and a final answer that does not fit the output model gets
exactly one corrective re-ask.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.agent_step.budget import StoreRunBudget
from activities.catalog import load_catalog
from activities.catalog.agent_config import AgentConfig, max_tokens
from activities.contract import AgentStepInput
from activities.providers.chain import prompt_token_bound
from store import StoreSettings
from tests.agents.openai_double import Fail, Hang, OpenAIDouble, Reply, Usage, default_react
from tests.agents.test_provider_chain import (
    PROBE_AGENT,
    PROBE_TOOL,
    Rig,
    _rig,
    final_report,
)
from tests.support import eventually

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PRICE_IN, PRICE_OUT = 10.0, 30.0  # USD per million tokens
MAX_TOKENS = 256
USAGE = Usage(300, 120)  # what the double bills per call: 300 * 10k + 120 * 30k n$
CALL_NANOS = 300 * 10_000 + 120 * 30_000


@pytest.fixture(scope="module")
async def sqlite_rig(
    temporal_client: Client, openai_double: OpenAIDouble, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    home = tmp_path_factory.mktemp("budget-sqlite")
    async for rig in _rig(temporal_client, openai_double, StoreSettings(home=home), home):
        yield rig


@pytest.fixture(scope="module")
async def pg_rig(
    temporal_client: Client,
    openai_double: OpenAIDouble,
    pg_settings: StoreSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Rig]:
    home = tmp_path_factory.mktemp("budget-pg")
    async for rig in _rig(temporal_client, openai_double, pg_settings, home):
        yield rig


@pytest.fixture
def rig(sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Rig:
    # Each step names its configuration version (and so its provider chain).
    monkeypatch.delenv("BIZOS_PROVIDERS_PROBE", raising=False)
    monkeypatch.delenv("BIZOS_PROVIDERS", raising=False)
    sqlite_rig.double.reset()
    return sqlite_rig


@pytest.fixture(params=["sqlite", "postgres"])
def any_rig(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.delenv("BIZOS_PROVIDERS_PROBE", raising=False)
    monkeypatch.delenv("BIZOS_PROVIDERS", raising=False)
    rig: Rig = request.getfixturevalue("sqlite_rig" if request.param == "sqlite" else "pg_rig")
    rig.double.reset()
    return rig


def _ep(name: str) -> str:
    """A fresh endpoint name: scripts of one test never leak into another's."""
    return f"{name}{uuid.uuid4().hex[:6]}"


async def _version(rig: Rig, endpoint: str, **body: object) -> int:
    link = rig.link(endpoint, price_in_per_mtok=PRICE_IN, price_out_per_mtok=PRICE_OUT)
    link.update(body.pop("link", {}))  # type: ignore[call-overload]
    return await rig.store.create_config_version(
        "probe", {"providers": [link], **body}, activate=False
    )


def _react(rig: Rig, endpoint: str) -> None:
    rig.double.configure(
        endpoint,
        usage=USAGE,
        replier=default_react(PROBE_TOOL, {"topic": "widgets"}, final_report("widgets")),
    )


# ------------------------------------------------------------------ max tokens


def test_max_tokens_come_from_the_configuration_then_the_catalog(tmp_path: Path) -> None:
    text = PROBE_AGENT.replace("tones:", "max_tokens: 1000\ntones:").replace(
        "    output: decision\n", "    output: decision\n    max_tokens: 500\n"
    )
    (tmp_path / "probe.yaml").write_text(text)
    agent = load_catalog(tmp_path).get("probe")
    assert max_tokens(agent, "lookup", None) == 1000
    assert max_tokens(agent, "choose", None) == 500
    config = AgentConfig.model_validate({"max_tokens": 300, "modes": {"choose": {"max_tokens": 9}}})
    assert max_tokens(agent, "lookup", config) == 300
    assert max_tokens(agent, "choose", config) == 9
    (tmp_path / "probe.yaml").write_text(PROBE_AGENT)
    assert max_tokens(load_catalog(tmp_path).get("probe"), "lookup", None) == 2048


async def test_every_call_asks_for_at_most_max_tokens(rig: Rig) -> None:
    catalog_default, configured = _ep("d"), _ep("c")
    for ep in (catalog_default, configured):
        _react(rig, ep)
    v_default = await _version(rig, catalog_default)
    v_config = await _version(rig, configured, modes={"lookup": {"max_tokens": 77}})
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    outcomes = await rig.run(
        [
            rig.step(wf, step_id="s1", config_version=v_default),
            rig.step(wf, step_id="s2", config_version=v_config),
        ]
    )

    assert all(o.result is not None for o in outcomes), outcomes
    assert {r.body.get("max_tokens") for r in rig.double.calls(catalog_default)} == {2048}
    assert {r.body.get("max_tokens") for r in rig.double.calls(configured)} == {77}


async def test_anthropic_and_gemini_get_max_tokens_under_their_own_names(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key")
    an, ge = _ep("an"), _ep("ge")
    for ep in (an, ge):
        _react(rig, ep)
    rig.double.configure(an, script=[Fail(429, retry_after=30)])
    base = rig.double.base_url("x").removesuffix("/x/v1")
    version = await rig.store.create_config_version(
        "probe",
        {
            "providers": [
                {
                    "provider": "anthropic",
                    "model": "claude-3-5-haiku-latest",
                    "base_url": f"{base}/{an}",
                },
                {"provider": "gemini", "model": "gemini-2.0-flash", "base_url": f"{base}/{ge}/"},
            ],
            "max_tokens": 99,
        },
        activate=False,
    )

    [outcome] = await rig.run([rig.step(f"wf-{uuid.uuid4().hex[:8]}", config_version=version)])

    assert outcome.result is not None, outcome.failure
    assert [r.body.get("max_tokens") for r in rig.double.calls(an)] == [99]
    gemini = rig.double.calls(ge)
    assert len(gemini) == 2
    assert all(r.body["generationConfig"]["maxOutputTokens"] == 99 for r in gemini)


# ------------------------------------------------------------------ corrective re-ask

CHATTY = "I'm ready to help! What's your task?"


async def test_an_answer_that_misses_the_output_model_gets_one_corrective_reask(
    rig: Rig,
) -> None:
    ep = _ep("fix")
    good = "Final Answer: " + json.dumps(final_report("widgets"))
    rig.double.configure(ep, usage=USAGE, script=[Reply(CHATTY), Reply(good)])
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    pool = f"{wf}/r1"

    [outcome] = await rig.run(
        [
            rig.step(
                wf,
                config_version=await _version(rig, ep),
                budget_pool=pool,
                budget_cap_usd=1.0,
            )
        ],
        max_attempts=3,
    )

    assert outcome.result is not None, outcome.failure
    assert outcome.result.output["title"] == "Probe: widgets"
    calls = rig.double.calls(ep)
    assert len(calls) == 2
    # The re-ask is the same conversation, the rejected answer, and what is wrong with it.
    reask = calls[1].messages
    assert reask[: len(calls[0].messages)] == calls[0].messages
    assert reask[-2] == {"role": "assistant", "content": CHATTY}
    assert "not a JSON object" in reask[-1]["content"] and "'report'" in reask[-1]["content"]
    rows = await rig.store.ledger_entries(wf)
    assert [(r.kind, r.usd_nanos) for r in rows] == [("billed", CALL_NANOS)] * 2
    totals = await rig.store.pool_totals(pool)
    assert totals.settled_nanos == 2 * CALL_NANOS and totals.reserved_nanos == 0
    assert outcome.result.cost_usd == pytest.approx(2 * CALL_NANOS / 1e9)
    assert outcome.result.pool_spent_usd == pytest.approx(2 * CALL_NANOS / 1e9)


async def test_a_second_misfit_fails_after_exactly_one_reask(rig: Rig) -> None:
    ep = _ep("junk")
    rig.double.configure(
        ep,
        usage=USAGE,
        script=[Reply("Final Answer: widgets are great"), Reply("Final Answer: still prose")],
    )
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run(
        [rig.step(wf, config_version=await _version(rig, ep))], max_attempts=3
    )

    assert outcome.failure is not None
    assert outcome.failure.type == "AgentOutputInvalid" and outcome.failure.non_retryable
    assert "corrective re-ask" in outcome.failure.message
    assert len(rig.double.calls(ep)) == 2  # the answer and one re-ask; no retry
    assert (await rig.store.ledger_totals(wf)).billed_calls == 2


# ------------------------------------------------------------------ the pool


async def test_a_call_the_pool_cannot_hold_is_refused_before_it_is_made(rig: Rig) -> None:
    ep = _ep("cap")
    _react(rig, ep)
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    pool = f"{wf}/r1"

    [outcome] = await rig.run(
        [
            rig.step(
                wf,
                config_version=await _version(rig, ep, max_tokens=MAX_TOKENS),
                budget_pool=pool,
                budget_cap_usd=0.002,  # less than one call's worst case
            )
        ],
        max_attempts=3,
    )

    assert outcome.failure is not None
    assert outcome.failure.type == "BudgetExhausted" and outcome.failure.non_retryable
    for word in (pool, "cap of $0.002000", "$0.000000 spent", "worst case"):
        assert word in outcome.failure.message
    assert rig.double.calls(ep) == []
    totals = await rig.store.pool_totals(pool)
    assert (totals.refusals, totals.spent_nanos, totals.reserved_nanos) == (1, 0, 0)


async def test_many_steps_of_one_run_never_spend_past_its_cap(
    any_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = any_rig
    main, flaky, dying = _ep("main"), _ep("flaky"), _ep("dying")
    for ep in (main, flaky, dying):
        _react(rig, ep)
    # A step whose attempt 1 fails on its second call (500) and is retried, and one whose
    # attempt 1 hangs in its second call until Temporal times it out (its worker "died").
    rig.double.configure(flaky, script=[Reply(), Fail(500)])
    stuck = threading.Event()
    rig.double.configure(dying, script=[Reply(), Hang(until=stuck)])
    body = {"max_tokens": MAX_TOKENS}
    v_main = await _version(rig, main, **body)
    v_flaky = await _version(rig, flaky, **body)
    v_dying = await _version(rig, dying, link={"timeout_s": 60}, **body)

    parent, child = f"wf-{uuid.uuid4().hex[:8]}", f"wf-{uuid.uuid4().hex[:8]}"
    pool, cap_usd = f"{parent}/r1", 0.15
    cap = round(cap_usd * 1e9)

    def step(wf: str, step_id: str, version: int, **kw: object) -> AgentStepInput:
        run_id = "r1" if wf == parent else "rc"
        return rig.step(
            wf,
            step_id=step_id,
            run_id=run_id,
            config_version=version,
            budget_pool=pool,
            budget_cap_usd=cap_usd,
            **kw,
        )

    try:
        # 1. Retried attempts while the pool has room.
        retried = await rig.run(
            [step(parent, "flaky", v_flaky), step(parent, "dying", v_dying)],
            max_attempts=3,
            start_to_close_s=3,
        )
        assert all(o.result is not None and o.result.attempt == 2 for o in retried), retried
        assert all(o.result is not None and o.result.reused_calls == 1 for o in retried)
        # The dead attempt's second call never came back: its reservation is charged in full.
        totals = await rig.store.pool_totals(pool)
        charged = [r for r in await rig.store.reservations(pool) if r.state == "charged"]
        assert len(charged) == 1 and charged[0].attempt == 1
        assert totals.charged_nanos == charged[0].worst_nanos > CALL_NANOS
        assert totals.spent_nanos == 4 * CALL_NANOS + charged[0].worst_nanos

        # 2. Parallel branches and 10 foreach items of the run, and a child run, at once.
        branches = [step(parent, f"branch{i}", v_main) for i in range(3)]
        items = [step(parent, "each", v_main, item_index=i) for i in range(10)]
        children = [step(child, f"child{i}", v_main) for i in range(2)]
        parent_out, child_out = await asyncio.gather(
            rig.run(branches + items, max_attempts=3, max_parallel=8),
            rig.run(children, max_attempts=3),
        )
    finally:
        stuck.set()
    outcomes = retried + parent_out + child_out

    refused = [o.failure for o in outcomes if o.failure is not None]
    done = [o.result for o in outcomes if o.result is not None]
    assert refused and done
    assert all(f.type == "BudgetExhausted" and f.non_retryable for f in refused), refused

    # The dying attempt, released, settles its own reservation: nothing came back, $0.
    async def settled() -> bool:
        return (await rig.store.pool_totals(pool)).charged_nanos == 0

    await eventually(settled, what="the dead attempt's reservation to settle")

    ledger = [
        row
        for wf in (parent, child)
        for row in await rig.store.ledger_entries(wf)
        if row.kind == "billed"
    ]
    spent = sum(r.usd_nanos for r in ledger)
    totals = await rig.store.pool_totals(pool)
    reservations = await rig.store.reservations(pool)
    assert spent <= cap
    assert totals.settled_nanos == spent and totals.reserved_nanos == 0
    assert totals.refusals >= len(refused)
    # Every billed call of every attempt reserved first and settled to its own ledger row,
    # once; reused calls reserved nothing; calls without an answer settled at $0.
    by_key = {r.key: r for r in reservations}
    assert {r.idempotency_key for r in ledger} == {k for k, r in by_key.items() if r.billed_nanos}
    assert all(by_key[r.idempotency_key].billed_nanos == r.usd_nanos for r in ledger)
    assert all(
        r.state == "settled" and 0 <= (r.billed_nanos or 0) <= r.worst_nanos for r in reservations
    )
    reused = [
        row
        for wf in (parent, child)
        for row in await rig.store.ledger_entries(wf)
        if row.kind == "reused"
    ]
    assert len(reused) == 2 and all(
        r.idempotency_key.removesuffix("/reuse") not in by_key for r in reused
    )
    # Alerts: recorded once per threshold crossed, and reported to the steps.
    alerts = await rig.store.budget_alerts(pool)
    assert [a.threshold for a in alerts] == totals.alerts
    assert all(a.spent_nanos * 100 >= a.cap_nanos * a.threshold for a in alerts)
    assert {t for t in (75, 90, 100) if spent * 100 >= cap * t} <= set(totals.alerts)
    assert all(set(r.budget_alerts) <= set(totals.alerts) for r in done)
    assert all(r.pool_spent_usd is not None and r.pool_spent_usd <= cap_usd for r in done)


async def test_the_worst_case_bounds_a_real_prompt(rig: Rig) -> None:
    """The reservation of a call is at least what the double bills for it here (the
    invariant test relies on it) and its key is the call's ledger key."""
    ep = _ep("bound")
    _react(rig, ep)
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    pool = f"{wf}/r1"
    [outcome] = await rig.run(
        [
            rig.step(
                wf,
                config_version=await _version(rig, ep, max_tokens=MAX_TOKENS),
                budget_pool=pool,
                budget_cap_usd=1.0,
            )
        ]
    )
    assert outcome.result is not None, outcome.failure
    first = rig.double.calls(ep)[0].messages
    assert prompt_token_bound(first) >= USAGE.prompt_tokens
    rows = await rig.store.ledger_entries(wf)
    reservations = {r.key: r for r in await rig.store.reservations(pool)}
    assert set(reservations) == {r.idempotency_key for r in rows}
    assert all(reservations[r.idempotency_key].worst_nanos >= r.usd_nanos for r in rows)
    assert StoreRunBudget.__name__  # the bridge the chain reserves through


async def test_an_offline_step_reports_the_pool_and_spends_nothing(rig: Rig) -> None:
    version = await rig.store.create_config_version(
        "probe", {"providers": ["offline"]}, activate=False
    )
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run(
        [rig.step(wf, config_version=version, budget_pool=f"{wf}/r1", budget_cap_usd=0.01)]
    )

    assert outcome.result is not None, outcome.failure
    assert outcome.result.provider == "offline"
    assert (outcome.result.pool_spent_usd, outcome.result.budget_alerts) == (0.0, [])
    assert rig.double.calls() == []
