"""The agent pools' platform metrics: step duration, model calls, tokens, money, provider
failovers and call-journal hits.

They go through the Temporal SDK runtime's own meter rather than prometheus_client so that a
worker process has ONE metrics endpoint (`bizos worker --metrics-port`): the platform's
``bizos_*`` series come out beside the SDK's ``temporal_*`` ones, under the same scrape
target and labels, and deploying a pool means exposing one port. The price: the SDK has no
float counter, so money is counted in nano-dollars (the ledger's own unit, exact integers;
divide by 1e9 in queries).

The crew runs in a worker thread outside the activity's context, so the meter is taken from
the worker's runtime (via the activity's client) the first time an activity asks, and
remembered for the process: every pool of a `bizos worker` shares one runtime. Outside any
worker (unit tests of the chain) everything is a no-op.

Labels are bounded sets: tenants, the catalog's agents and modes, configured providers and
models. Never a workflow, run or step id.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter

from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

STEP_DURATION = "bizos_step_duration_seconds"
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    # agent steps: an offline step takes a fraction of a second, a real model loop minutes
    STEP_DURATION: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
}
"""Bucket boundaries per histogram, for the runtime's Prometheus exporter (its defaults are
for request latencies)."""


class AgentMetrics:
    def __init__(self, meter: MetricMeter):
        self.step_duration = meter.create_histogram_float(
            STEP_DURATION, "Agent step attempts by agent, mode and outcome", "s"
        )
        self.calls = meter.create_counter(
            "bizos_llm_calls", "Model calls in the ledger (billed, or offline estimates)"
        )
        self.tokens = meter.create_counter("bizos_llm_tokens", "Tokens of model calls")
        self.cost = meter.create_counter(
            "bizos_llm_cost_usd_nanos", "What model calls cost, in nano-dollars"
        )
        self.failovers = meter.create_counter(
            "bizos_provider_failovers",
            "Model calls a provider could not answer, so the chain tried the next one",
        )
        self.journal_hits = meter.create_counter(
            "bizos_journal_hits", "Model calls a retried attempt took from the call journal"
        )

    def call(
        self,
        *,
        tenant: str,
        agent: str,
        provider: str,
        model: str,
        kind: str,
        tokens_in: int,
        tokens_out: int,
        usd_nanos: int,
    ) -> None:
        """One NEW ledger row (callers count only rows the store inserted, so a repeated
        write is never counted twice)."""
        labels = {"tenant": tenant, "agent": agent, "provider": provider, "model": model}
        self.calls.add(1, {**labels, "kind": kind})
        self.tokens.add(tokens_in, {**labels, "direction": "input"})
        self.tokens.add(tokens_out, {**labels, "direction": "output"})
        self.cost.add(usd_nanos, labels)


_lock = threading.Lock()
_current: AgentMetrics | None = None
_noop = AgentMetrics(MetricMeter.noop)


def agent_metrics() -> AgentMetrics:
    """The process's metrics (see the module docstring for where the meter comes from)."""
    global _current
    if _current is not None:
        return _current
    if not activity.in_activity():
        return _noop
    try:
        runtime = activity.client().service_client.config.runtime or Runtime.default()
    except RuntimeError:  # an activity environment without a client
        return _noop
    with _lock:
        if _current is None:
            _current = AgentMetrics(runtime.metric_meter)
        return _current


@contextmanager
def timed_step(agent: str, mode: str) -> Iterator[None]:
    """Record the attempt's wall time with its outcome: ok, failed or cancelled."""
    metrics = agent_metrics()
    started = perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        metrics.step_duration.record(
            perf_counter() - started, {"agent": agent, "mode": mode, "outcome": outcome}
        )
