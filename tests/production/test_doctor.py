"""`bizos doctor` against real services: the session's Temporal dev server, PostgreSQL and
Redis on 127.0.0.1, and the Vault test double (tests/production/vault_double.py: a local
server speaking Vault's HTTP API, not Vault). Healthy, it passes with exit 0; with a dead
or silent dependency it fails non-zero, names the command that fixes it, and returns within
its per-check deadline."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from store import Store, StoreSettings
from store.testing import temporary_pg_schema
from store.testing import test_database_url as pg_url
from tests.conftest import cli_env
from tests.production.vault_double import VaultDouble
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(temporal_env: WorkflowEnvironment, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test server plus ``extra``; nothing of this machine's own bizos, Vault or provider
    settings leaks in."""
    env = {
        k: v
        for k, v in cli_env(temporal_env).items()
        if not k.startswith(("BIZOS_", "VAULT_")) and k not in PROVIDER_KEYS
    }
    env.update(BIZOS_HOME=str(tmp_path / "home"), BIZOS_ENV_FILE=str(tmp_path / "no.env"))
    env.update(extra)
    return env


async def _doctor(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str, float]:
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starters.cli",
        "doctor",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode(), time.monotonic() - start


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


@pytest.fixture
async def migrated_pg() -> AsyncIterator[StoreSettings]:
    async with temporary_pg_schema("bizos_doctor") as settings:
        store = await Store.open(settings)  # what a worker does at start
        await store.close()
        yield settings


@pytest.fixture
def vault() -> Iterator[VaultDouble]:
    double = VaultDouble().start()
    try:
        yield double
    finally:
        double.down()


async def test_doctor_passes_against_the_running_services(
    temporal_env: WorkflowEnvironment,
    migrated_pg: StoreSettings,
    vault: VaultDouble,
    tmp_path: Path,
) -> None:
    vault.put("bizos/platform", {"OPENAI_API_KEY": "sk-doctor-test-key"})
    env = _env(
        temporal_env,
        tmp_path,
        BIZOS_DATABASE_URL=pg_url(),
        BIZOS_DATABASE_SCHEMA=migrated_pg.database_schema or "",
        BIZOS_REDIS_URL="redis://127.0.0.1:6379/0",
        BIZOS_SECRETS_BACKEND="vault",
        VAULT_ADDR=vault.addr,
        VAULT_TOKEN=vault.add_token(),
    )
    code, out, err, _ = await _doctor(env, tmp_path, "-o", "json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] is True and report["failed"] == []
    checks = _by_name(report)
    for name in ("temporal", "search attributes", "database", "migrations", "blob store"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "postgresql" in checks["database"]["detail"]
    assert checks["redis"]["status"] == "ok" and checks["vault"]["status"] == "ok"
    # The key is only in Vault: found there, and never printed.
    assert checks["provider openai"]["status"] == "ok"
    assert "key present" in checks["provider openai"]["detail"]
    assert checks["provider anthropic"]["status"] == "skip"
    assert "sk-doctor-test-key" not in out + err
    for check in report["checks"]:
        assert set(check) == {"name", "status", "detail", "fix", "seconds"}
        assert check["status"] in ("ok", "warn", "skip", "fail")


@pytest.fixture
def model_server() -> Iterator[str]:
    """An OpenAI-compatible model server's model list (a test double: no model runs here):
    answers 200 to the key `good`, 401 to any other. Yields its base URL."""

    class Models(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            good = self.headers.get("Authorization") == "Bearer good"
            body = json.dumps({"data": [{"id": "llama3.1"}]} if good else {"error": "bad key"})
            self.send_response(200 if good and self.path.endswith("/models") else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_dead_services_and_refused_keys_fail_naming_the_fix(
    temporal_env: WorkflowEnvironment, model_server: str, tmp_path: Path
) -> None:
    temporal_port, redis_port = _free_port(), _free_port()
    chain = [
        {
            "provider": "openai_compatible",
            "model": "llama3.1",
            "base_url": f"{model_server}/a/v1",
            "api_key_secret": "TEAM_A_KEY",
        },
        {
            "provider": "openai_compatible",
            "model": "llama3.1",
            "base_url": f"{model_server}/b/v1",
            "api_key_secret": "TEAM_B_KEY",
        },
        "anthropic:claude-3-5-haiku-latest",
    ]
    env = _env(
        temporal_env,
        tmp_path,
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        BIZOS_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        BIZOS_PROVIDERS=json.dumps(chain),
        TEAM_A_KEY="good",
        TEAM_B_KEY="revoked",
    )
    code, out, err, took = await _doctor(env, tmp_path, "--timeout", "3", "--online")
    assert code == 1, out + err
    assert "FAIL temporal" in out and "FAIL redis" in out
    assert f"fix: start the embedded server and workers: `bizos dev --port {temporal_port}`" in out
    assert f"fix: start Redis at redis://127.0.0.1:{redis_port}/0" in out
    # A key named by BIZOS_PROVIDERS must be there and must be accepted (--online).
    assert f"ok   provider openai_compatible at {model_server}/a/v1" in out
    assert f"FAIL provider openai_compatible at {model_server}/b/v1" in out
    assert "refused the key (HTTP 401)" in out
    assert "FAIL provider anthropic" in out and "fix: set ANTHROPIC_API_KEY" in out
    assert out.rstrip().endswith(
        f"4 failed: temporal, redis, provider anthropic, provider openai_compatible at "
        f"{model_server}/b/v1"
    )
    assert "good" not in out and "revoked" not in out and "Traceback" not in err
    assert took < 20


async def test_silent_dependencies_cost_one_deadline_not_a_hang(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Ports that accept connections and never answer (a black-holed Temporal and Vault,
    the latter with a 30 s client timeout of its own): doctor answers within its deadline."""
    silent = [socket.socket(), socket.socket()]
    for s in silent:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # the kernel completes handshakes; nobody ever reads or answers
    temporal_port, vault_port = (s.getsockname()[1] for s in silent)
    try:
        env = _env(
            temporal_env,
            tmp_path,
            TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
            BIZOS_SECRETS_BACKEND="vault",
            VAULT_ADDR=f"http://127.0.0.1:{vault_port}",
            VAULT_TOKEN="hvs.doctor-test-token",
            BIZOS_VAULT_TIMEOUT_SECONDS="30",
        )
        code, out, err, took = await _doctor(env, tmp_path, "--timeout", "1.5", "-o", "json")
    finally:
        for s in silent:
            s.close()
    assert code == 1, out + err
    checks = _by_name(json.loads(out))
    assert checks["temporal"]["detail"] == "no answer within 1.5 s"
    assert "bizos dev --port" in checks["temporal"]["fix"]
    assert checks["vault"]["detail"] == "no answer within 1.5 s"
    assert "VAULT_ADDR" in checks["vault"]["fix"]
    assert checks["providers"]["status"] == "skip"
    assert checks["redis"]["status"] == "ok"  # the rest is still checked
    assert took < 15


async def test_the_printed_fixes_for_a_namespace_and_its_search_attributes_work(
    temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A namespace that does not exist, then one without the platform's search attributes:
    each time doctor prints a command, running it with the `temporal` CLI fixes it."""
    from starters.doctor import check_temporal
    from tests.conftest import server_address
    from worker.binaries import temporal_cli

    address = server_address(temporal_env)
    namespace = f"doctor-{uuid.uuid4().hex[:8]}"  # new, on the session's server
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", namespace)
    for name in ("TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    path = f"{Path(temporal_cli()).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    async def run_fix(fix: str | None) -> None:
        assert fix is not None and fix.startswith("temporal operator ")
        proc = await asyncio.create_subprocess_shell(
            fix, env={**os.environ, "PATH": path}, stdout=asyncio.subprocess.DEVNULL
        )
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0, fix

    [missing] = await check_temporal(5)
    assert (missing.name, missing.status) == ("temporal", "fail")
    assert missing.detail.startswith(f"namespace {namespace} does not exist at {address}")
    await run_fix(missing.fix)

    async def lacks_attributes() -> Any:
        # A new namespace reaches every service of the server within seconds.
        reachable, attributes = await check_temporal(5)
        assert reachable.status == "ok" and attributes.status == "fail"
        return attributes if "BizosPendingApprovals is missing" in attributes.detail else None

    attributes = await eventually(lacks_attributes, what=f"{namespace} known everywhere")
    await run_fix(attributes.fix)

    async def healthy() -> bool:
        return all(r.status == "ok" for r in await check_temporal(5))

    await eventually(healthy, what=f"doctor to pass on {namespace} after its fixes")
