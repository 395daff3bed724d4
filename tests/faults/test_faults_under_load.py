"""Provider faults under load: 30 agent steps in flight at once (five runs of six steps)
through the real Temporal server, each step's chain ``[down, flaky, steady]``:

- ``down`` refuses connections for the whole run;
- ``flaky`` plays, in turn, answers and every fault: 500, an answer slower than the link's
  timeout, a body that is not JSON, a completion without choices, a body cut halfway, and
  429 with Retry-After (after which, like a real rate limiter, it refuses every request
  until the Retry-After has passed);
- ``steady`` always answers.

Every run completes in its first attempts (failover, not retries); only answered calls are
in the ledger, to the nano-dollar, and the run pools hold nothing back; after a 429 no
request from the worker reaches ``flaky`` before its Retry-After, measured on the double's
request log. Then a step whose every provider is down fails, naming each one and its error.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import pytest

from activities.catalog.output_models import ReportOutput
from activities.contract import AgentStepInput
from tests.agents.openai_double import (
    Behaviour,
    Fail,
    Malformed,
    Recorded,
    Reply,
    Slow,
    Truncated,
    Usage,
)
from tests.agents.test_provider_chain import Rig, react
from tests.faults.conftest import CONCURRENT_STEPS
from tests.faults.test_single_faults import NO_CHOICES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RUNS = 5
STEPS_PER_RUN = CONCURRENT_STEPS // RUNS
RETRY_AFTER_S = 3.0
RACE_S = 1.0
"""A request whose step checked the cooldown just before the 429 reached the worker can
still arrive just after it (measured: within 0.15 s, 30 crew threads on 2 loaded cores).
One arriving later ignored the Retry-After: with a cooldown per step instead of per
worker, 29 requests arrived inside one 3 s window, 8 of them past this margin."""
FLAKY_TIMEOUT_S = 0.5
FLAKY_CYCLE: list[Behaviour] = [
    Reply(),
    Fail(500),
    Reply(),
    Slow(FLAKY_TIMEOUT_S * 3),
    Reply(),
    Malformed(),
    Truncated(),
    Reply(),
    Fail(429, retry_after=RETRY_AFTER_S),
    Malformed(NO_CHOICES),
]
FLAKY_USAGE, STEADY_USAGE = Usage(1000, 200), Usage(700, 90)
PRICE_IN_NANOS, PRICE_OUT_NANOS = 2500, 10_000  # per token: the rig's $2.50 / $10 per Mtok
CAP_USD = 5.0


def _nanos(usage: Usage) -> int:
    return usage.prompt_tokens * PRICE_IN_NANOS + usage.completion_tokens * PRICE_OUT_NANOS


def _steps(rig: Rig, wf: str) -> list[AgentStepInput]:
    pool = f"{wf}/r1"
    return [
        rig.step(wf, step_id=f"s{i}", budget_pool=pool, budget_cap_usd=CAP_USD)
        for i in range(STEPS_PER_RUN)
    ]


async def test_runs_under_provider_faults_fail_over_finish_and_bill_only_answers(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = {**rig.link("down"), "base_url": rig.double.refused_base_url()}
    flaky = rig.link("flaky", timeout_s=FLAKY_TIMEOUT_S)
    monkeypatch.setenv("BIZOS_PROVIDERS_PROBE", json.dumps([down, flaky, rig.link("steady")]))
    react(["flaky", "steady"], rig.double)
    rig.double.configure("flaky", usage=FLAKY_USAGE, cycle=FLAKY_CYCLE)
    rig.double.configure("steady", usage=STEADY_USAGE)
    wfs = [f"wf-load-{uuid.uuid4().hex[:8]}" for _ in range(RUNS)]

    results = await asyncio.gather(
        # One attempt each: the chain's failover alone must carry every step through.
        *(rig.run(_steps(rig, wf), max_attempts=1, max_parallel=STEPS_PER_RUN) for wf in wfs)
    )

    outcomes = [o for run in results for o in run]
    assert len(outcomes) == CONCURRENT_STEPS
    failures = [o.failure for o in outcomes if o.result is None]
    assert failures == []
    for o in outcomes:
        assert o.result is not None
        ReportOutput.model_validate(o.result.output)

    flaky_log = rig.double.calls("flaky")
    seen = Counter(r.outcome for r in flaky_log)
    for fault in ("http_500", "slow", "malformed", "truncated", "http_429", "answered"):
        assert seen[fault] > 0, f"flaky never played {fault}: {seen}"

    _assert_retry_after_honoured(flaky_log, rig.double.calls("steady"))

    # Only answered calls are billed, each at its provider's usage, to the nano-dollar; the
    # down provider and every failed request cost nothing.
    rows = [r for wf in wfs for r in await rig.store.ledger_entries(wf)]
    assert {r.kind for r in rows} == {"billed"}
    billed = Counter(r.model for r in rows)
    answered = {ep: rig.double.outcomes(ep)["answered"] for ep in ("flaky", "steady")}
    assert billed == {"model-flaky": answered["flaky"], "model-steady": answered["steady"]}
    # Every call flaky did not answer went on to steady, which answered each one.
    assert len(rig.double.calls("steady")) == answered["steady"]
    assert len(rows) == 2 * CONCURRENT_STEPS  # tool call + final answer per step
    expected = answered["flaky"] * _nanos(FLAKY_USAGE) + answered["steady"] * _nanos(STEADY_USAGE)
    assert sum(r.usd_nanos for r in rows) == expected
    for wf in wfs:
        totals = await rig.store.pool_totals(f"{wf}/r1")
        run_rows = [r for r in rows if r.workflow_id == wf]
        # failed calls released their holds: the pool settled exactly the ledger, holds nothing
        assert totals.settled_nanos == sum(r.usd_nanos for r in run_rows)
        assert (totals.reserved_nanos, totals.charged_nanos) == (0, 0)


def _assert_retry_after_honoured(log: list[Recorded], others: list[Recorded]) -> None:
    limits = [(r.at, r.at + (r.retry_after or 0)) for r in log if r.outcome == "http_429"]
    early = [
        round(r.at - start, 3) for r in log for start, end in limits if start + RACE_S <= r.at < end
    ]
    assert early == [], f"requests {early} s after a 429 with Retry-After {RETRY_AFTER_S} s"
    # ... and, if calls went on after the Retry-After passed, the provider was asked again:
    # the cooldown ends.
    first_end = limits[0][1]
    if any(r.at > first_end + RACE_S for r in others):
        assert any(r.at >= first_end for r in log), "flaky was never asked again"


async def test_a_step_with_every_provider_down_fails_naming_each_provider(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = {**rig.link("down"), "base_url": rig.double.refused_base_url()}
    chain = [down, rig.link("failing"), rig.link("slow", timeout_s=FLAKY_TIMEOUT_S)]
    monkeypatch.setenv("BIZOS_PROVIDERS_PROBE", json.dumps(chain))
    react(["failing", "slow"], rig.double)
    rig.double.configure("failing", cycle=[Fail(503)])
    rig.double.configure("slow", cycle=[Slow(FLAKY_TIMEOUT_S * 3)])
    wf = f"wf-down-{uuid.uuid4().hex[:8]}"
    steps = [rig.step(wf, step_id=f"s{i}") for i in range(4)]

    outcomes = await rig.run(steps, max_attempts=2, max_parallel=4)

    for o in outcomes:
        assert o.result is None, "a step with every provider down must not succeed"
        assert o.failure is not None
        assert o.failure.type == "ProvidersUnavailable"
        message = o.failure.message
        assert "all providers failed" in message
        assert "openai_compatible:model-down: connection" in message
        assert "openai_compatible:model-failing: server_error HTTP 503" in message
        assert "openai_compatible:model-slow: timeout" in message
    # both attempts of every step asked each reachable provider once, and nothing was billed
    assert len(rig.double.calls("failing")) == len(rig.double.calls("slow")) == 2 * len(steps)
    assert await rig.store.ledger_entries(wf) == []
