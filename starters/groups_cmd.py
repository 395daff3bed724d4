"""`bizos groups set|ls|rm --tenant T`: a tenant's approver groups, straight in the store (like
`bizos keys`; no Temporal). Members are principal names — the names the tenant's API keys
carry — with optional email and Slack user id for notifications::

    bizos groups set editors alice@acme bob@acme --tenant acme \\
        --email alice@acme=alice@acme.example --slack bob@acme=U0BOB --channel '#editors'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from starters.output import OutputFormat, console, emit, err_console, fail
from starters.tenants_cmd import _actor, _emit_rows, _with_store

if TYPE_CHECKING:
    from store import ApproverGroupInfo, Store

groups_app = typer.Typer(
    help="Approver groups of a tenant (who may decide at an escalation level): set, ls, rm.",
    no_args_is_help=True,
)
OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
TenantOpt = typer.Option("default", "--tenant", "-t", help="the tenant")
MembersArg = typer.Argument(..., help="principal names (the names of the tenant's API keys)")
EmailOpt = typer.Option([], "--email", help="PRINCIPAL=ADDRESS, repeatable")
SlackOpt = typer.Option([], "--slack", help="PRINCIPAL=SLACK_USER_ID, repeatable")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        principal, sep, address = value.partition("=")
        if not sep or not principal or not address:
            fail(f"--{what} takes PRINCIPAL={what.upper()}, not {value!r}")
        out[principal] = address
    return out


def _row(group: ApproverGroupInfo) -> dict[str, object]:
    return {
        "name": group.name,
        "members": [m.model_dump(exclude_none=True) for m in group.members],
        "slack_channel": group.slack_channel,
        "updated_at": group.updated_at.isoformat(),
    }


@groups_app.command("set")
def set_group(
    name: str = typer.Argument(..., help="the group's name (specs say `group: <name>`)"),
    members: list[str] = MembersArg,
    tenant: str = TenantOpt,
    email: list[str] = EmailOpt,
    slack: list[str] = SlackOpt,
    channel: str | None = typer.Option(None, "--channel", help="Slack channel for the others"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Create or replace a group (the whole member list)."""
    from pydantic import ValidationError

    from store import ApproverMember

    emails, slack_ids = _pairs(email, "email"), _pairs(slack, "slack")
    for principal in {*emails, *slack_ids} - set(members):
        fail(f"{principal} has an address but is not a member of {name}")
    try:
        group_members = [
            ApproverMember(principal=p, email=emails.get(p), slack_user=slack_ids.get(p))
            for p in members
        ]
    except ValidationError as e:
        fail("; ".join(f"{err['loc'][-1]}: {err['msg']}" for err in e.errors()))

    async def go(store: Store) -> tuple[ApproverGroupInfo, list[str]]:
        info = await store.put_approver_group(tenant, name, group_members, slack_channel=channel)
        await store.audit(
            tenant, _actor(), "approver_group.put", name, {"members": info.principals}
        )
        names = {k.name for k in await store.list_keys(tenant) if k.revoked_at is None}
        return info, [p for p in info.principals if p not in names]

    info, keyless = _with_store(go)
    if output is OutputFormat.text:
        console.print(f"{tenant}/{name}: {', '.join(info.principals)}", highlight=False)
    else:
        emit({**_row(info), "members_without_key": keyless}, output)
    if keyless:
        err_console.print(
            f"note: no API key of {tenant} names {', '.join(keyless)} (yet): check the spelling",
            highlight=False,
        )


@groups_app.command("ls")
def list_groups(tenant: str = TenantOpt, output: OutputFormat = OutputOpt) -> None:
    """The tenant's groups and their members."""

    async def go(store: Store) -> list[ApproverGroupInfo]:
        return await store.list_approver_groups(tenant)

    groups = _with_store(go)
    if output is not OutputFormat.text:
        _emit_rows([_row(g) for g in groups], output)
        return
    table = Table("group", "members", "email", "slack", title=f"approver groups of {tenant}")
    for g in groups:
        table.add_row(
            g.name,
            "\n".join(m.principal for m in g.members),
            "\n".join(m.email or "" for m in g.members),
            "\n".join(m.slack_user or "" for m in g.members)
            + (f"\n{g.slack_channel}" if g.slack_channel else ""),
        )
    console.print(table)


@groups_app.command("rm")
def remove_group(
    name: str = typer.Argument(...), tenant: str = TenantOpt, output: OutputFormat = OutputOpt
) -> None:
    """Delete a group (runs waiting on it keep the members they snapshotted)."""

    async def go(store: Store) -> None:
        await store.delete_approver_group(tenant, name)
        await store.audit(tenant, _actor(), "approver_group.delete", name)

    _with_store(go)
    if output is OutputFormat.text:
        console.print(f"deleted approver group {tenant}/{name}", highlight=False)
    else:
        emit({"tenant": tenant, "name": name, "deleted": True}, output)
