"""Setting a tenant's own provider keys: the admin-only API route and `bizos secrets`, both
writing to the Vault test double (tests/production/vault_double.py) when the Vault backend is
installed, both refusing clearly with the env backend, neither ever showing a value."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from activities import secrets
from activities.secrets.settings import SecretsSettings
from activities.secrets.vault import VaultSecrets
from api.app import create_app
from api.settings import ApiSettings
from starters.cli import app as cli
from store import Store, StoreSettings
from tests.production.vault_double import VaultDouble

TENANT_PATH = "bizos/tenants/acme/providers"


@pytest.fixture
def vault() -> Iterator[VaultDouble]:
    double = VaultDouble().start()
    yield double
    double.stop()


@dataclass
class Api:
    http: httpx.AsyncClient
    store: Store
    keys: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    store = await Store.open(StoreSettings(home=tmp_path))
    await store.create_tenant("acme", name="Acme")
    keys = {}
    for role in ("admin", "operator"):
        _, keys[role] = await store.create_key("acme", f"{role}@acme", role)
    app = create_app(ApiSettings(), store=store, temporal=object())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield Api(http, store, keys)
    await store.close()


@pytest.fixture
def vault_backend(vault: VaultDouble) -> Iterator[VaultSecrets]:
    settings = SecretsSettings.model_validate(
        {"backend": "vault", "vault_addr": vault.addr, "vault_token": vault.add_token(0)}
    )
    backend = VaultSecrets(settings)
    previous = secrets.set_backend(backend)
    yield backend
    secrets.set_backend(previous)


async def test_admins_set_list_and_remove_their_tenants_keys_never_reading_values(
    api: Api, vault: VaultDouble, vault_backend: VaultSecrets
) -> None:
    value = f"sk-{uuid.uuid4().hex}"
    url = "/v1/secrets/providers/OPENAI_API_KEY"
    r = await api.http.put(url, json={"value": value}, headers=api.as_("operator"))
    assert r.status_code == 403 and vault.data(TENANT_PATH) is None
    r = await api.http.put(url, json={"value": value}, headers=api.as_("admin"))
    assert r.status_code == 204, r.text
    assert vault.data(TENANT_PATH) == {"OPENAI_API_KEY": value}
    assert secrets.get_secret("OPENAI_API_KEY", tenant="acme") == value  # steps see it now
    r = await api.http.get("/v1/secrets/providers", headers=api.as_("admin"))
    assert r.json() == {"backend": "vault", "writable": True, "names": ["OPENAI_API_KEY"]}
    bad = await api.http.put(
        "/v1/secrets/providers/SEMRUSH_TOKEN", json={"value": value}, headers=api.as_("admin")
    )
    assert bad.status_code == 422 and value not in bad.text
    assert (await api.http.delete(url, headers=api.as_("admin"))).status_code == 204
    again = await api.http.delete(url, headers=api.as_("admin"))
    assert again.status_code == 404 and "has no key OPENAI_API_KEY" in again.json()["detail"]
    assert vault.data(TENANT_PATH) is None
    audit = await api.store.audit_entries("acme")
    assert {(a.action, a.target) for a in audit} >= {
        ("secret.put", "OPENAI_API_KEY"),
        ("secret.delete", "OPENAI_API_KEY"),
    }
    assert value not in repr(audit)
    vault.down()
    r = await api.http.put(url, json={"value": value}, headers=api.as_("admin"))
    assert r.status_code == 503 and "is unreachable" in r.json()["detail"]
    assert value not in r.text


async def test_with_the_env_backend_writes_are_refused_saying_what_to_configure(
    api: Api,
) -> None:
    previous = secrets.set_backend(secrets.EnvSecrets())
    try:
        r = await api.http.put(
            "/v1/secrets/providers/OPENAI_API_KEY",
            json={"value": "sk-x"},
            headers=api.as_("admin"),
        )
        listed = await api.http.get("/v1/secrets/providers", headers=api.as_("admin"))
    finally:
        secrets.set_backend(previous)
    assert r.status_code == 409 and "BIZOS_SECRETS_BACKEND=vault" in r.json()["detail"]
    assert listed.json() == {"backend": "env", "writable": False, "names": []}


def test_cli_puts_lists_and_removes_a_tenants_key(
    vault: VaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIZOS_SECRETS_BACKEND", "vault")
    monkeypatch.setenv("VAULT_ADDR", vault.addr)
    monkeypatch.setenv("VAULT_TOKEN", vault.add_token(0))
    value = f"sk-ant-{uuid.uuid4().hex}"
    runner = CliRunner()
    put = runner.invoke(cli, ["secrets", "put", "ANTHROPIC_API_KEY", "--tenant", "acme"], value)
    assert put.exit_code == 0, put.output
    assert vault.data(TENANT_PATH) == {"ANTHROPIC_API_KEY": value}
    listed = runner.invoke(cli, ["secrets", "ls", "--tenant", "acme", "-o", "json"])
    assert '"ANTHROPIC_API_KEY"' in listed.output and value not in listed.output
    rm = runner.invoke(cli, ["secrets", "rm", "ANTHROPIC_API_KEY", "--tenant", "acme"])
    assert rm.exit_code == 0 and vault.data(TENANT_PATH) is None
    vault.down()
    down = runner.invoke(cli, ["secrets", "ls", "--tenant", "acme"])
    assert down.exit_code == 1 and f"Vault at {vault.addr}" in down.output


def test_cli_refuses_with_the_env_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZOS_SECRETS_BACKEND", "env")
    r = CliRunner().invoke(cli, ["secrets", "put", "OPENAI_API_KEY", "--tenant", "acme"], "k\n")
    assert r.exit_code == 1 and "BIZOS_SECRETS_BACKEND=vault" in r.output
