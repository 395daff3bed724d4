"""Hypothesis settings for the fuzz suites, and in-process workers (the workflow pool and
the `system` pool hosting the noop agent) on the session's Temporal dev server.

Runs are reproducible: examples are derandomized (the same draws on every machine) and a
failure prints the blob that replays it (`@reproduce_failure`). Hypothesis keeps its files
(caches) in a temporary directory, never in the work tree."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import namespace_client
from worker.pools import build_worker

_HOME = tempfile.mkdtemp(prefix="bizos-hypothesis-")
set_hypothesis_home_dir(_HOME)

FUZZ = settings(
    derandomize=True,
    print_blob=True,
    database=None,  # derandomized: nothing to remember between runs
    deadline=None,  # a compile is ~ms, but the first one warms caches; timings are printed
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
async def fuzz_client(temporal_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    """A client with the workflow pool and the noop agent's pool running in this process, on
    a namespace of its own (the session's core worker already polls the default one's
    queues from this process, and a second worker there is refused). Runs carry their plan
    (spec text + catalog slice), so the workers need no spec files."""
    client = await namespace_client(temporal_env, "isolated-fuzz")
    async with build_worker(client, "workflows"), build_worker(client, "system"):
        yield client
