"""`bizos tenants create|list` and `bizos keys create|list|revoke`: the HTTP service's
tenants and API keys, straight in the store (no Temporal, no crewai import).

A key's raw value is printed once, by `keys create`; the store keeps only its hash. Every
change is in the tenant's audit log, by ``cli:<os user>``.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.table import Table

from starters.output import OutputFormat, console, emit, err_console, fail

if TYPE_CHECKING:
    from store import Store

T = TypeVar("T")

tenants_app = typer.Typer(help="Tenants of the HTTP service: create, list.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys of a tenant: create (shown once), list, revoke.", no_args_is_help=True
)

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
SHOWN_ONCE = (
    "this key is shown once: store it now (only its hash is kept; revoke and create "
    "another if it is lost)"
)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name (containers)
        return "cli"


def _with_store(fn: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store (migrating it), run ``fn``, close; expected errors → one line."""
    from store import Store

    async def go() -> T:
        store = await Store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except (ValueError, LookupError) as e:
        fail(str(e.args[0]) if e.args else str(e))
    raise AssertionError("unreachable")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _emit_rows(rows: list[Any], output: OutputFormat) -> None:
    if output is OutputFormat.jsonl:
        for row in rows:
            emit(row, output)
    else:
        emit(rows, output)


@tenants_app.command("create")
def create_tenant(
    tenant_id: str = typer.Argument(..., help="lowercase id, e.g. acme (first segment of ids)"),
    name: str | None = typer.Option(None, "--name", help="display name (default: the id)"),
    monthly_budget: float | None = typer.Option(
        None, "--monthly-budget", help="most the tenant's runs may spend per month (USD)"
    ),
    max_running: int | None = typer.Option(
        None, "--max-running", help="most runs of the tenant at once"
    ),
    output: OutputFormat = OutputOpt,
) -> None:
    """Create a tenant (then give it keys: `bizos keys create --tenant <id> …`)."""

    async def go(store: Store) -> Any:
        info = await store.create_tenant(
            tenant_id, name=name, monthly_budget_usd=monthly_budget, max_running=max_running
        )
        await store.audit(
            tenant_id,
            _actor(),
            "tenant.create",
            tenant_id,
            {"monthly_budget_usd": monthly_budget, "max_running": max_running},
        )
        return info

    info = _with_store(go)
    if output is OutputFormat.text:
        console.print(f"created tenant [bold]{info.id}[/] ({info.name})", highlight=False)
    else:
        emit(info, output)


@tenants_app.command("list")
def list_tenants(output: OutputFormat = OutputOpt) -> None:
    """Every tenant with its limits."""

    async def go(store: Store) -> Any:
        return await store.list_tenants()

    rows = _with_store(go)
    if output is not OutputFormat.text:
        _emit_rows(rows, output)
        return
    table = Table("tenant", "name", "monthly budget", "max running", "created")
    for t in rows:
        table.add_row(
            t.id,
            t.name,
            f"${t.monthly_budget_usd:,.2f}" if t.monthly_budget_usd is not None else "-",
            str(t.max_running) if t.max_running is not None else "-",
            _when(t.created_at),
        )
    console.print(table)


@keys_app.command("create")
def create_key(
    tenant: str = typer.Option(..., "--tenant", help="the key's tenant (must exist)"),
    name: str = typer.Option(..., "--name", help="principal name: the `by` of its decisions"),
    role: str = typer.Option(..., "--role", help="admin, operator, approver or viewer"),
    expires: str | None = typer.Option(None, "--expires", help="lifetime, e.g. 30d, 12h"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Create an API key and print it ONCE (only its hash is stored)."""
    from activities.catalog.durations import parse_duration
    from store.tables import utcnow

    expires_at = None
    if expires is not None:
        try:
            expires_at = utcnow() + parse_duration(expires)
        except ValueError as e:
            fail(f"--expires: {e}")

    async def go(store: Store) -> Any:
        info, raw = await store.create_key(tenant, name, role, expires_at)
        await store.audit(
            tenant,
            _actor(),
            "key.create",
            info.id,
            {"name": name, "role": role, "expires_at": expires_at},
        )
        return info, raw

    info, raw = _with_store(go)
    if output is OutputFormat.text:
        err_console.print(
            f"created key [bold]{info.id}[/] for {info.name} ({info.role}) in tenant "
            f"{info.tenant}" + (f", expires {_when(info.expires_at)}" if info.expires_at else ""),
            highlight=False,
        )
        err_console.print(f"[bold yellow]warning:[/] {SHOWN_ONCE}", highlight=False)
        console.print(raw, highlight=False, soft_wrap=True)
    else:
        err_console.print(f"warning: {SHOWN_ONCE}", highlight=False)
        emit({**info.model_dump(mode="json"), "key": raw, "warning": SHOWN_ONCE}, output)


@keys_app.command("list")
def list_keys(
    tenant: str = typer.Option(..., "--tenant"),
    output: OutputFormat = OutputOpt,
) -> None:
    """A tenant's keys (ids, principals, roles, state; never the keys themselves)."""

    async def go(store: Store) -> Any:
        from store.tenants import require_tenant

        await require_tenant(store.engine, tenant)
        return await store.list_keys(tenant)

    rows = _with_store(go)
    if output is not OutputFormat.text:
        _emit_rows(rows, output)
        return
    from store.tables import utcnow

    now = utcnow()
    table = Table("key", "name", "role", "state", "created", "expires", "last used")
    for k in rows:
        state = "revoked" if k.revoked_at else ("expired" if not k.usable(now) else "active")
        table.add_row(
            k.id,
            k.name,
            k.role,
            state,
            _when(k.created_at),
            _when(k.expires_at) or "never",
            _when(k.last_used_at) or "never",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: str = typer.Argument(..., help="the key's id, e.g. bk_1a2b3c4d"),
    tenant: str = typer.Option(..., "--tenant"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Revoke a key: requests with it are refused from now on."""

    async def go(store: Store) -> Any:
        info = await store.revoke_key(tenant, key_id)
        await store.audit(tenant, _actor(), "key.revoke", key_id, {"name": info.name})
        return info

    info = _with_store(go)
    if output is OutputFormat.text:
        console.print(f"revoked key {info.id} ({info.name}, {info.role})", highlight=False)
    else:
        emit(info, output)
