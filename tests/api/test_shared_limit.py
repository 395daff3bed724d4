"""A rate limit shared by two API processes (separate `bizos api` on their own ports, one
Redis): together they admit the limit, within 2 %, and refuse the rest with 429 and
Retry-After."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from store import Store, StoreSettings
from tests.conftest import server_address
from tests.support import eventually

REPO = Path(__file__).resolve().parents[2]
LIMIT = 100
ATTEMPTS_PER_PROCESS = 150


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_two_api_processes_share_one_limit(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    store = await Store.open(StoreSettings(home=tmp_path))
    await store.create_tenant("shared")
    _, key = await store.create_key("shared", "load@shared", "viewer")
    await store.close()
    env = dict(
        os.environ,
        BIZOS_HOME=str(tmp_path),
        TEMPORAL_ADDRESS=server_address(temporal_env),
        BIZOS_REDIS_URL="redis://127.0.0.1:6379/0",
        BIZOS_REDIS_KEY_PREFIX=f"bizos-test-{uuid.uuid4().hex[:10]}",
        BIZOS_RATE_LIMIT_KEY_PER_MINUTE=str(LIMIT),
        BIZOS_RATE_LIMIT_TENANT_PER_MINUTE=str(LIMIT * 10),
    )
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
            [sys.executable, "-m", "starters.cli", "api", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=(tmp_path / f"api-{port}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        async with httpx.AsyncClient(timeout=10) as http:

            async def up(port: int) -> bool:
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            for port in ports:
                await eventually(lambda port=port: up(port), timeout_s=60, what=f"api on {port}")

            async def hammer(port: int) -> list[httpx.Response]:
                url = f"http://127.0.0.1:{port}/v1/templates"
                auth = {"Authorization": f"Bearer {key}"}
                return [await http.get(url, headers=auth) for _ in range(ATTEMPTS_PER_PROCESS)]

            answers = [r for rs in await asyncio.gather(*map(hammer, ports)) for r in rs]
        admitted = sum(r.status_code == 200 for r in answers)
        refused = [r for r in answers if r.status_code == 429]
        print(f"two API processes, limit {LIMIT}/min: admitted {admitted}, refused {len(refused)}")
        assert abs(admitted - LIMIT) <= LIMIT * 0.02
        assert admitted + len(refused) == len(answers)
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
