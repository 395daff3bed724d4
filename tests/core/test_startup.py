"""Starting up together: worker processes that open the store at the same moment on a new
SQLite file all migrate it (one of them used to die with "table … already exists", leaving
its pool without a poller), and a worker that cannot start says why and exits non-zero."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment

from store import Store, StoreSettings, migrate
from store import testing as store_testing
from store.migrate import MigrationLockTimeout, alembic_config
from tests.conftest import cli_env
from tests.core.test_dev import free_port

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 6
ROUNDS = 5

# Each child imports everything and reports ready, then blocks on the shared barrier pipe;
# the parent closes its end once all are ready, so every child reaches `Store.open` at once.
OPEN_STORE = """
import asyncio, sys
from pathlib import Path
from store import Store, StoreSettings
import alembic.command, store.engine, store.migrate  # imported before the barrier

async def main() -> None:
    print("ready", flush=True)
    sys.stdin.read()
    store = await Store.open(StoreSettings(home=Path(sys.argv[1])))
    await store.close()

asyncio.run(main())
"""


def _store_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIZOS_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def _open_together(home: Path) -> list[tuple[int, str]]:
    barrier_r, barrier_w = os.pipe()
    procs = []
    try:
        for _ in range(PROCESSES):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", OPEN_STORE, str(home)],
                    cwd=home,  # no stray .env picked up by StoreSettings
                    env=_store_env(),
                    stdin=barrier_r,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        os.close(barrier_r)
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line == "ready\n", line + p.stdout.read()
    finally:
        os.close(barrier_w)  # releases them all at once
    return [(p.wait(60), p.stdout.read() if p.stdout else "") for p in procs]


def test_processes_opening_a_new_sqlite_store_together_all_migrate_it(tmp_path: Path) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    for round_ in range(ROUNDS):
        home = tmp_path / f"round{round_}"
        home.mkdir()
        results = _open_together(home)
        failed = [out for code, out in results if code != 0]
        assert not failed, f"round {round_}: {len(failed)} failed:\n" + "\n".join(failed)
        with sqlite3.connect(home / "bizos.db") as db:
            assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "ledger_entries" in tables


async def test_a_held_migration_lock_fails_after_a_bounded_wait_naming_the_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "SQLITE_MIGRATION_LOCK_TIMEOUT_S", 0.2)
    lock_file = tmp_path / "bizos.db.migrate.lock"
    with FileLock(lock_file), pytest.raises(MigrationLockTimeout) as e:
        await Store.open(StoreSettings(home=tmp_path))
    assert f"waiting for the store's migration lock {lock_file}" in str(e.value)
    store = await Store.open(StoreSettings(home=tmp_path))  # released: it migrates
    await store.close()


def _missing_database() -> tuple[str, str]:
    """A PostgreSQL URL on the real server whose database does not exist, and its name."""
    missing = f"bizos_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(store_testing.test_database_url()).set(database=missing)
    return url.render_as_string(hide_password=False), missing


async def test_a_worker_whose_store_is_unreachable_exits_non_zero_naming_pool_and_cause(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    url, missing = _missing_database()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starters.cli",
        "worker",
        "--pool",
        "content",
        cwd=REPO,
        env=cli_env(temporal_env, BIZOS_DATABASE_URL=url, BIZOS_HOME=str(tmp_path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, text
    assert "pool(s) content cannot start: opening the store and loading the agents failed" in text
    assert f'database "{missing}" does not exist' in text
    assert "Traceback" not in text


async def test_a_worker_whose_poll_loop_dies_exits_non_zero_naming_the_pool(
    temporal_env: WorkflowEnvironment,
) -> None:
    # The client connects without checking the namespace; the worker's poll loop fails on it.
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starters.cli",
        "worker",
        "--pool",
        "system",
        cwd=REPO,
        env=cli_env(temporal_env, TEMPORAL_NAMESPACE=missing),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, text
    assert "pool system stopped polling: RuntimeError: Worker validation failed" in text
    assert f"Namespace {missing} is not found" in text
    assert "Traceback" not in text


async def test_bizos_dev_stops_naming_the_pool_whose_worker_cannot_start(tmp_path: Path) -> None:
    url, missing = _missing_database()
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BIZOS_"))}
    env |= {"BIZOS_DATABASE_URL": url, "BIZOS_HOME": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starters.cli",
        "dev",
        "--port",
        str(free_port()),
        "--ui-port",
        str(free_port()),
        "--state-dir",
        str(state),
        "--metrics-port",
        "0",
        "--api-port",
        "0",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    assert proc.returncode == 1, text
    assert "worker `agents` exited with code 1: pool(s) " in text
    assert f'database "{missing}" does not exist' in text
    assert "Ctrl-C stops everything." not in text  # it never claimed to be ready
    assert not (state / "temporal.pid").exists()  # and it stopped the server it started
