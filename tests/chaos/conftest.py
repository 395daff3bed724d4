"""The chaos suite's stack (tests/chaos/stack.py), one for the suite (each test leaves it
whole), and its size.

CI runs a size that still meets every fault at least once; `BIZOS_CHAOS_FULL=1` runs the
issue's sizes: ≥ 20 runs with random worker SIGKILLs, a 60 s Vault outage, a 30 s agent-pool
outage. Random points come from one seed, printed, and taken from
`BIZOS_CHAOS_SEED` when set, so a failure can be replayed."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from store import Store, StoreSettings
from tests.agents.openai_double import OpenAIDouble, Recorded
from tests.chaos.stack import TENANT, ChaosStack, Proc
from tests.production.vault_double import VaultDouble
from tests.support import eventually
from worker.plugin import BizosPlugin


@dataclass(frozen=True)
class Size:
    full: bool
    kill_runs: int  # runs of chaos_chain under worker SIGKILLs
    kills: int  # SIGKILLs across them
    outage_s: float  # how long Vault / an agent pool stays down
    load_runs: int  # runs in flight while a dependency restarts


CI_SIZE = Size(full=False, kill_runs=6, kills=3, outage_s=10, load_runs=3)
FULL_SIZE = Size(full=True, kill_runs=20, kills=10, outage_s=60, load_runs=8)
POOL_OUTAGE_FULL_S = 30.0


@pytest.fixture(scope="session")
def size() -> Size:
    return FULL_SIZE if os.environ.get("BIZOS_CHAOS_FULL", "") not in ("", "0") else CI_SIZE


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = int(os.environ.get("BIZOS_CHAOS_SEED") or time.time_ns() % 1_000_000)
    print(f"\n{request.node.name}: BIZOS_CHAOS_SEED={seed}")
    return random.Random(seed)


async def ready(p: Proc) -> None:
    """Until the process says it serves (a process that exits first fails)."""

    async def serving() -> bool:
        return await asyncio.to_thread(p.is_ready)

    await eventually(serving, timeout_s=180, what=f"{p.name} ready")


@dataclass
class Chaos:
    stack: ChaosStack
    store: Store  # the test's own view of the cluster's database
    client: Client  # on the stack's Temporal
    key: str  # an operator key of tenant `chaos`
    vault: VaultDouble  # where the agent pool reads its model key
    model: OpenAIDouble  # the model it calls, for runs not priced offline


FINAL = {
    "title": "Market picture",
    "summary": "sized top-down and bottom-up",
    "findings": [{"title": "size", "detail": "large", "source": "estimate"}],
}


def model_double() -> OpenAIDouble:
    """The agent's model: a final answer at once, with the double's usage (billed)."""
    double = OpenAIDouble().start()

    def final(_: Recorded) -> str:
        return "Thought: I now know the final answer\nFinal Answer: " + json.dumps(FINAL)

    double.configure("chaos", replier=final)
    return double


def agent_env(vault: VaultDouble, model: OpenAIDouble) -> dict[str, str]:
    """The agent pool on Vault, asking it at every read (refresh 0 s; the last-known-good
    cache as by default), with the model double as market_research's provider. Runs
    started with `price_as` stay on the offline provider (no model call, no key read)."""
    link = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": model.base_url("chaos"),
        "timeout_s": 10,
    }
    return {
        "BIZOS_SECRETS_BACKEND": "vault",
        "VAULT_ADDR": vault.addr,
        "VAULT_TOKEN": vault.add_token(0),
        "BIZOS_SECRETS_REFRESH_SECONDS": "0",
        "BIZOS_VAULT_TIMEOUT_SECONDS": "2",
        "BIZOS_PROVIDERS_MARKET_RESEARCH": json.dumps([link]),
    }


@pytest.fixture(scope="session")
async def chaos(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chaos]:
    stack = ChaosStack(Path(tmp_path_factory.mktemp("chaos")))
    vault = VaultDouble().start()
    vault.put("bizos/platform", {"OPENAI_API_KEY": "chaos-openai-key"})
    model = model_double()
    try:
        await asyncio.to_thread(stack.start, agent_env(vault, model))
        store = await Store.open(StoreSettings(database_url=stack.pg.url))
        await store.create_tenant(TENANT, name="Chaos")
        _, key = await store.create_key(TENANT, "ops@chaos", "operator")
        client = await Client.connect(stack.server.address, plugins=[BizosPlugin()])
        for p in (stack.workflows, stack.agents, stack.api):
            await ready(p)
        try:
            yield Chaos(stack, store, client, key, vault, model)
        finally:
            await store.close()
    finally:
        await asyncio.to_thread(stack.close)
        model.stop()
        vault.stop()
