"""`bizos secrets put|rm|ls --tenant T`: a tenant's own model-provider keys, in Vault.

Write-only like the API route: `ls` lists names, never values. `put` reads the key from
stdin when it is piped, else from a hidden prompt — never from the command line, where shell
history and `ps` would keep it. Refuses clearly unless ``BIZOS_SECRETS_BACKEND=vault``.
No Temporal, no store, no crewai import.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from starters.output import OutputFormat, console, emit, fail

if TYPE_CHECKING:
    from activities.secrets.vault import VaultSecrets

T = TypeVar("T")

secrets_app = typer.Typer(
    help="A tenant's own model-provider keys in Vault: put, rm, ls (names only).",
    no_args_is_help=True,
)
OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
TenantOpt = typer.Option(..., "--tenant", help="the tenant whose key this is")
NameArg = typer.Argument(..., help="the key's name, e.g. OPENAI_API_KEY")


def _vault(fn: Callable[[VaultSecrets], T]) -> T:
    """Run ``fn`` on the configured Vault; every expected failure → one line, exit 1."""
    from pydantic import ValidationError

    from activities.secrets import SecretsError
    from activities.secrets.settings import SecretsSettings
    from activities.secrets.vault import VaultSecrets
    from activities.secrets.vault_auth import VaultUnreachable

    try:
        settings = SecretsSettings()
    except ValidationError as e:
        fail(f"secrets settings: {e.errors()[0]['msg']}")
    if settings.backend != "vault":
        fail(
            "the secrets backend is `env` (environment and .env), which keeps no per-tenant "
            "keys: set BIZOS_SECRETS_BACKEND=vault with VAULT_ADDR and VAULT_TOKEN (or "
            "VAULT_ROLE_ID and VAULT_SECRET_ID)"
        )
    try:
        return fn(VaultSecrets(settings))
    except VaultUnreachable as e:
        fail(f"Vault at {settings.vault_addr}: {e}")
    except SecretsError as e:
        fail(str(e))
    raise AssertionError("unreachable")


def _read_value(name: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.read().strip()
    return str(typer.prompt(f"{name} (input hidden)", hide_input=True)).strip()


@secrets_app.command("put")
def put(name: str = NameArg, tenant: str = TenantOpt, output: OutputFormat = OutputOpt) -> None:
    """Set or rotate a tenant's provider key (value from stdin or a hidden prompt)."""
    from activities.secrets import tenant_keys

    value = _read_value(name)
    _vault(lambda vault: tenant_keys.put_key(tenant, name, value, backend=vault))
    _say({"tenant": tenant, "name": name, "stored": True}, f"stored {name} for {tenant}", output)


@secrets_app.command("rm")
def rm(name: str = NameArg, tenant: str = TenantOpt, output: OutputFormat = OutputOpt) -> None:
    """Remove a tenant's provider key (its steps fall back to the platform's key)."""
    from activities.secrets import tenant_keys

    found = _vault(lambda vault: tenant_keys.delete_key(tenant, name, backend=vault))
    if not found:
        fail(f"tenant {tenant} has no key {name}")
    _say({"tenant": tenant, "name": name, "removed": True}, f"removed {name} of {tenant}", output)


@secrets_app.command("ls")
def ls(tenant: str = TenantOpt, output: OutputFormat = OutputOpt) -> None:
    """The names of a tenant's own provider keys (never their values)."""
    from activities.secrets import tenant_keys

    names = _vault(lambda vault: tenant_keys.key_names(tenant, backend=vault))
    text = "\n".join(names) if names else f"tenant {tenant} has no keys of its own"
    _say({"tenant": tenant, "names": names}, text, output)


def _say(doc: dict[str, object], text: str, output: OutputFormat) -> None:
    if output is OutputFormat.text:
        console.print(text, highlight=False)
    else:
        emit(doc, output)
