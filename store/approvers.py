"""People in the loop: a tenant's approver groups, the decision log, and used link tokens.

* **Approver groups** are named lists of principals (the names API keys carry, i.e. the
  ``by`` of decisions) with where notifications reach them (email, Slack user id) and an
  optional Slack channel. A workflow snapshots a level's group when the level opens
  (`group_members`), so editing a group never changes who may decide a wait already open.
* **The decision log** keeps every decision, timeout and escalation of a run's steps, written
  by a local activity that may run twice: one row per (run, step, round, level, kind).
* **Used link tokens**: a signed decision link decides once; its token id is inserted when it
  is used, and only the insert that created the row may decide.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import (
    APPROVER_GROUP_PATTERN,
    MAX_GROUP_MEMBERS,
    ApproverGroupInfo,
    ApproverMember,
    DecisionInfo,
)
from store.tables import (
    ApproverGroup,
    DecisionLogRecord,
    UsedLinkToken,
    as_utc,
    utcnow,
)
from store.tenants import require_tenant
from store.upsert import insert_ignore

_GROUPS = ApproverGroup.__table__  # type: ignore[attr-defined]
_DECISIONS = DecisionLogRecord.__table__  # type: ignore[attr-defined]
_USED = UsedLinkToken.__table__  # type: ignore[attr-defined]
_GROUP_NAME = re.compile(APPROVER_GROUP_PATTERN)
_SLACK_CHANNEL = re.compile(r"^[#]?[A-Za-z0-9_.-]{1,80}$")
MAX_DECISIONS_PAGE = 1000


class ApproverGroupNotFound(LookupError):
    """No approver group with this name in this tenant."""


def check_group_name(name: str) -> str:
    if not _GROUP_NAME.match(name):
        raise ValueError(
            f"invalid approver group name {name!r}: lowercase letters, digits, '_', '.' and "
            "'-', starting with a letter or digit, at most 64 characters"
        )
    return name


def _check_members(members: list[ApproverMember]) -> list[ApproverMember]:
    if not members:
        raise ValueError("an approver group needs at least one member")
    if len(members) > MAX_GROUP_MEMBERS:
        raise ValueError(f"an approver group has at most {MAX_GROUP_MEMBERS} members")
    seen: set[str] = set()
    for member in members:
        if member.principal in seen:
            raise ValueError(f"principal {member.principal!r} is listed twice")
        seen.add(member.principal)
    return members


def _group(row: Any) -> ApproverGroupInfo:
    return ApproverGroupInfo(
        tenant=row.tenant,
        name=row.name,
        members=[ApproverMember.model_validate(m) for m in json.loads(row.members)],
        slack_channel=row.slack_channel,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


async def put_group(
    engine: AsyncEngine,
    tenant: str,
    name: str,
    members: list[ApproverMember],
    *,
    slack_channel: str | None = None,
) -> ApproverGroupInfo:
    """Create or replace a group (its members in the order given)."""
    check_group_name(name)
    _check_members(members)
    if slack_channel is not None and not _SLACK_CHANNEL.match(slack_channel):
        raise ValueError(f"invalid Slack channel {slack_channel!r}: a name (#ops) or an id")
    await require_tenant(engine, tenant)
    now = utcnow()
    body = json.dumps([m.model_dump() for m in members])
    async with write_transaction(engine) as conn:
        created = await insert_ignore(
            conn,
            _GROUPS,
            {
                "tenant": tenant,
                "name": name,
                "members": body,
                "slack_channel": slack_channel,
                "created_at": now,
                "updated_at": now,
            },
        )
        if not created:
            # One row per group: concurrent PUTs serialise on it and the last one wins.
            await conn.execute(
                update(_GROUPS)
                .where(_GROUPS.c.tenant == tenant, _GROUPS.c.name == name)
                .values(members=body, slack_channel=slack_channel, updated_at=now)
            )
    found = await get_group(engine, tenant, name)
    assert found is not None
    return found


async def get_group(engine: AsyncEngine, tenant: str, name: str) -> ApproverGroupInfo | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(_GROUPS).where(_GROUPS.c.tenant == tenant, _GROUPS.c.name == name)
            )
        ).first()
    return None if row is None else _group(row)


async def list_groups(engine: AsyncEngine, tenant: str) -> list[ApproverGroupInfo]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(_GROUPS).where(_GROUPS.c.tenant == tenant).order_by(_GROUPS.c.name)
            )
        ).all()
    return [_group(r) for r in rows]


async def delete_group(engine: AsyncEngine, tenant: str, name: str) -> None:
    """Delete a group (`ApproverGroupNotFound` when the tenant has none of that name).
    Waits that snapshotted it keep their snapshot."""
    async with write_transaction(engine) as conn:
        result = await conn.execute(
            delete(_GROUPS).where(_GROUPS.c.tenant == tenant, _GROUPS.c.name == name)
        )
    if not result.rowcount:
        raise ApproverGroupNotFound(f"tenant {tenant!r} has no approver group {name!r}")


async def group_members(engine: AsyncEngine, tenant: str, name: str) -> list[str] | None:
    """The principal names of a group; None when the tenant has no such group."""
    group = await get_group(engine, tenant, name)
    return None if group is None else group.principals


# -- the decision log -------------------------------------------------------------------


async def record_decision(engine: AsyncEngine, entry: BaseModel) -> bool:
    """Log a decision, timeout or escalation (a `workflows.models.DecisionLogEntry`, or any
    model with its fields). Idempotent: True when this call wrote the row."""
    info = DecisionInfo.model_validate(entry.model_dump())
    async with write_transaction(engine) as conn:
        return await insert_ignore(
            conn,
            _DECISIONS,
            {
                "tenant": info.tenant,
                "workflow_id": info.workflow_id,
                "run_id": info.run_id,
                "template": info.template,
                "step": info.step,
                "kind": info.kind,
                "option": info.option,
                "decided_by": info.by[:200],
                "via": info.via,
                "comment": info.comment,
                "digest": info.digest,
                "level": info.level,
                "round": info.round,
                "group_name": info.group,
                "at": as_utc(info.at),
            },
        )


def _decision(row: Any) -> DecisionInfo:
    return DecisionInfo(
        id=row.id,
        tenant=row.tenant,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        template=row.template,
        step=row.step,
        kind=row.kind,
        option=row.option,
        by=row.decided_by,
        via=row.via,
        comment=row.comment,
        digest=row.digest,
        level=row.level,
        round=row.round,
        group=row.group_name,
        at=as_utc(row.at),
    )


async def list_decisions(
    engine: AsyncEngine,
    tenant: str,
    *,
    workflow_id: str | None = None,
    by: str | None = None,
    step: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[DecisionInfo]:
    """A tenant's decision log, newest first, filtered by run, principal, step and time."""
    query = select(_DECISIONS).where(_DECISIONS.c.tenant == tenant)
    if workflow_id is not None:
        query = query.where(_DECISIONS.c.workflow_id == workflow_id)
    if by is not None:
        query = query.where(_DECISIONS.c.decided_by == by)
    if step is not None:
        query = query.where(_DECISIONS.c.step == step)
    if since is not None:
        query = query.where(_DECISIONS.c.at >= as_utc(since))
    if until is not None:
        query = query.where(_DECISIONS.c.at < as_utc(until))
    limit = max(1, min(limit, MAX_DECISIONS_PAGE))
    query = query.order_by(_DECISIONS.c.at.desc(), _DECISIONS.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_decision(r) for r in rows]


# -- single-use decision links ----------------------------------------------------------


async def use_link_token(engine: AsyncEngine, jti: str, tenant: str, by: str) -> bool:
    """Mark a link token used; False when it was used before. A unique insert, so of two
    concurrent uses exactly one gets True."""
    async with write_transaction(engine) as conn:
        return await insert_ignore(
            conn,
            _USED,
            {"jti": jti[:64], "tenant": tenant, "used_by": by[:200], "used_at": utcnow()},
        )


async def release_link_token(engine: AsyncEngine, jti: str) -> None:
    """Forget a use whose decision the workflow refused before applying anything, so the
    person can try the link again once the refusal's cause is gone (e.g. no worker)."""
    async with write_transaction(engine) as conn:
        await conn.execute(delete(_USED).where(_USED.c.jti == jti[:64]))


async def link_token_used(engine: AsyncEngine, jti: str) -> bool:
    """Whether a link token was used (a confirmation page says so before anyone clicks)."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(_USED.c.jti).where(_USED.c.jti == jti[:64]))).first()
    return row is not None
