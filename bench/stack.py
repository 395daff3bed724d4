"""A whole stack of its own for one benchmark: the Temporal dev server tuned as `bizos dev`,
the workflow pool and the agent pools as separate `bizos worker` processes, and the HTTP API
as a `bizos api` process (uvicorn) — each on a free port, with its own environment.

Nothing is shared with other runs on the machine: state lives in a temporary BIZOS_HOME,
the store in a PostgreSQL schema of its own (dropped at the end), Redis keys under a prefix
of their own (deleted at the end); a tenant and an admin API key are made through the store.
Provider keys and the caller's BIZOS_* settings are not passed on, so agent steps run on the
offline policy whatever the shell holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import free_port
from starters.devserver import DevServer
from starters.stack import (
    API_READY_MARK,
    POLLING_MARK,
    Stack,
    WorkerProcess,
    stop_processes,
)
from store.settings import StoreSettings
from store.testing import temporary_pg_schema

ROOT = Path(__file__).resolve().parents[1]
BENCH_SPECS = ROOT / "bench" / "specs"
REDIS_URL = "redis://127.0.0.1:6379/0"
# The bench tenant's requests must never meet a rate limit: the limits are the API's
# defaults for every tenant, so the API process gets these (requests per minute).
UNLIMITED_PER_MINUTE = "10000000"
DEFAULT_POOLS = ("workflows", "agents")


def clean_environ() -> dict[str, str]:
    """This process's environment without provider keys or BIZOS_* settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("BIZOS_") or k.endswith("_API_KEY") or k.startswith("TEMPORAL_"))
    }


@dataclass
class BenchStack:
    home: Path
    server: DevServer
    db: StoreSettings
    redis_prefix: str
    api_url: str
    api_key: str
    tenant: str
    env: dict[str, str]  # what every process got (plus its own overrides)
    stack: Stack
    processes: dict[str, WorkerProcess] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        """Each process of the stack by name: `temporal`, `worker-<pool>`, `api`."""
        found = {name: w.proc.pid for name, w in self.processes.items()}
        server_pid = self.server.owned_pid()
        if server_pid is not None:
            found["temporal"] = server_pid
        return found

    def check_alive(self) -> None:
        """Raise naming the process (and its last log line) when one has died."""
        problem = self.stack.dead_worker()
        if problem:
            raise RuntimeError(problem)


def _spawn(
    name: str, args: list[str], env: Mapping[str, str], home: Path, mark: bytes
) -> WorkerProcess:
    log_path = home / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "starters.cli", *args],
            env=dict(env),
            cwd=str(ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return WorkerProcess(name, proc, log_path, 0, mark)


async def _make_tenant(db: StoreSettings, tenant: str) -> str:
    """The bench tenant and an admin key (start, approve, read costs); the raw key."""
    from store import Store

    store = await Store.open(db)  # migrates the fresh schema
    try:
        await store.create_tenant(tenant, name="load benchmark")
        _info, raw = await store.create_key(tenant, f"bench@{tenant}", "admin")
    finally:
        await store.close()
    return raw


async def _drop_redis_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.delete(*batch)
                batch = []
        if batch:
            await client.delete(*batch)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def bench_stack(
    *,
    pools: Sequence[str] = DEFAULT_POOLS,
    spec_dirs: Sequence[Path] = (BENCH_SPECS,),
    tenant: str = "bench",
    env: Mapping[str, str] | None = None,
    pool_env: Mapping[str, Mapping[str, str]] | None = None,
    agent_threads: int = 8,
    replicas: Mapping[str, int] | None = None,
    keep_logs: Path | None = None,
) -> AsyncIterator[BenchStack]:
    """Start the stack; yield once every worker polls and the API listens; stop all of it
    and drop its schema, Redis keys and home on exit. `env` goes to every process;
    `pool_env[name]` to one (`workflows`, `agents`, …, `api`); `keep_logs`: a directory
    the processes' logs are copied to first (an error type in the figures is explained
    there); `replicas[name]`: that many processes of one pool (`worker-<pool>`,
    `worker-<pool>-2`, …), as a deployment scales a pool."""
    home = Path(tempfile.mkdtemp(prefix="bizos-bench-"))
    prefix = f"bizos-bench-{uuid.uuid4().hex[:8]}"
    try:
        async with temporary_pg_schema("bizos_bench") as db:
            raw_key = await _make_tenant(db, tenant)
            server = DevServer(state_dir=home / "temporal", port=free_port(), ui_port=free_port())
            started = await asyncio.to_thread(server.start)
            api_port = free_port()
            base = clean_environ()
            base.update(
                BIZOS_HOME=str(home),
                BIZOS_DATABASE_URL=str(db.database_url),
                BIZOS_DATABASE_SCHEMA=str(db.database_schema),
                BIZOS_REDIS_URL=REDIS_URL,
                BIZOS_REDIS_KEY_PREFIX=prefix,
                BIZOS_SPEC_DIRS=os.pathsep.join(str(p) for p in spec_dirs),
                BIZOS_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
                BIZOS_AGENT_THREADS=str(agent_threads),
                TEMPORAL_ADDRESS=server.address,
                BIZOS_RATE_LIMIT_TENANT_PER_MINUTE=UNLIMITED_PER_MINUTE,
                BIZOS_RATE_LIMIT_KEY_PER_MINUTE=UNLIMITED_PER_MINUTE,
                CREWAI_DISABLE_TELEMETRY="true",  # never phone home from a benchmark
                CREWAI_DISABLE_TRACKING="true",
                CREWAI_TRACING_ENABLED="false",
                OTEL_SDK_DISABLED="true",
                **(env or {}),
            )
            stack = Stack(server, started)
            procs: dict[str, WorkerProcess] = {}
            try:
                for pool in pools:
                    penv = dict(base, **(pool_env or {}).get(pool, {}))
                    args = ["worker", "--pool", pool, "--metrics-port", "0"]
                    for i in range((replicas or {}).get(pool, 1)):
                        name = f"worker-{pool}" + (f"-{i + 1}" if i else "")
                        procs[name] = _spawn(name, args, penv, home, POLLING_MARK)
                aenv = dict(base, **(pool_env or {}).get("api", {}))
                procs["api"] = _spawn(
                    "api", ["api", "--port", str(api_port)], aenv, home, API_READY_MARK
                )
                stack.workers = list(procs.values())
                await asyncio.to_thread(stack.wait_until_polling)
                yield BenchStack(
                    home=home,
                    server=server,
                    db=db,
                    redis_prefix=prefix,
                    api_url=f"http://127.0.0.1:{api_port}",
                    api_key=raw_key,
                    tenant=tenant,
                    env=base,
                    stack=stack,
                    processes=procs,
                )
            finally:
                await asyncio.to_thread(stop_processes, [w.proc for w in procs.values()], 10.0)
                if started:
                    await asyncio.to_thread(server.stop)
                with contextlib.suppress(Exception):  # best effort: Redis may be gone
                    await _drop_redis_keys(prefix)
    finally:
        if keep_logs is not None:
            _copy_logs(home, keep_logs)
        shutil.rmtree(home, ignore_errors=True)


def _copy_logs(home: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for log in [*home.glob("*.log"), *home.glob("temporal/*.log")]:
        shutil.copy(log, dest / log.name)
