"""`bizos tenants …` and `bizos keys …` as a user runs them: subprocesses on a SQLite store
in a temporary BIZOS_HOME. The raw key is printed once and is nowhere in the database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from store import Store, StoreSettings

ROOT = Path(__file__).resolve().parents[2]
EXP = ("--expires", "30d", "-o", "json")
SOON = ("--expires", "soon")


def _bizos(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BIZOS_HOME=str(home), COLUMNS="200")
    env.pop("BIZOS_DATABASE_URL", None)
    env.pop("BIZOS_DATABASE_SCHEMA", None)
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _ok(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = _bizos(home, *args)
    assert done.returncode == 0, done.stderr
    return done


async def _all(home: Path, *calls: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands at once (each process opens the store; a CLI start is slow)."""
    return list(await asyncio.gather(*(asyncio.to_thread(_bizos, home, *c) for c in calls)))


async def test_tenants_and_keys_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = json.loads(
        _ok(
            home,
            *("tenants", "create", "acme", "--name", "Acme Inc."),
            *("--monthly-budget", "100", "--max-running", "2", "-o", "json"),
        ).stdout
    )
    assert created["id"] == "acme" and created["monthly_budget_usd"] == 100.0

    made, text_made = await _all(
        home,
        ("keys", "create", "--tenant", "acme", "--name", "alice", "--role", "operator", *EXP),
        ("keys", "create", "--tenant", "acme", "--name", "bob", "--role", "viewer"),
    )
    assert made.returncode == 0 and text_made.returncode == 0, made.stderr + text_made.stderr
    doc = json.loads(made.stdout)
    raw = doc["key"]
    assert raw.startswith(f"bizos_{doc['id']}_") and doc["expires_at"]
    assert "shown once" in made.stderr
    raw_b = text_made.stdout.strip()
    assert raw_b.startswith("bizos_bk_") and len(text_made.stdout.splitlines()) == 1
    assert "shown once" in text_made.stderr and raw_b not in text_made.stderr

    again, listed, table, keys, listing, other, bad_role, bad_expiry = await _all(
        home,
        ("tenants", "create", "acme"),
        ("tenants", "list", "-o", "jsonl"),
        ("tenants", "list"),
        ("keys", "list", "--tenant", "acme", "-o", "json"),
        ("keys", "list", "--tenant", "acme"),
        ("keys", "revoke", "--tenant", "default", doc["id"]),  # another tenant's key
        ("keys", "create", "--tenant", "acme", "--name", "x", "--role", "root"),
        ("keys", "create", "--tenant", "acme", "--name", "x", "--role", "viewer", *SOON),
    )
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["acme", "default"]
    assert "Acme Inc." in table.stdout
    assert sorted(k["name"] for k in json.loads(keys.stdout)) == ["alice", "bob"]
    assert doc["id"] in listing.stdout and raw not in listing.stdout + keys.stdout
    assert other.returncode == 1 and "no API key" in other.stderr
    assert bad_role.returncode == 1 and "unknown role" in bad_role.stderr
    assert bad_expiry.returncode == 1 and "--expires" in bad_expiry.stderr

    secrets_ = [raw.split("_", 3)[3], raw_b.split("_", 3)[3]]
    for path in home.rglob("*"):  # the database, its WAL, anything else
        if path.is_file():
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets_), path

    store = await Store.open(StoreSettings(home=home))
    try:
        principal = await store.principal_for_key(raw)
        assert principal is not None
        assert (principal.tenant, principal.role, principal.name) == ("acme", "operator", "alice")
    finally:
        await store.close()

    revoked = json.loads(
        _ok(home, "keys", "revoke", "--tenant", "acme", doc["id"], "-o", "json").stdout
    )
    assert revoked["revoked_at"]
    store = await Store.open(StoreSettings(home=home))
    try:
        assert await store.principal_for_key(raw) is None
        assert await store.principal_for_key(raw_b) is not None
        actions = [e.action for e in await store.audit_entries("acme")]
        assert sorted(actions) == ["key.create", "key.create", "key.revoke", "tenant.create"]
    finally:
        await store.close()
