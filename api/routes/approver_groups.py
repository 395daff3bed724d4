"""A tenant's approver groups: who may decide at an escalation level that names the group
(`approvers: [{group: editors, timeout: 4h}, …]` in a spec), and where notifications reach
them. Operators read them; only admins change them, since a group is who may approve.

Members are principal names (the names the tenant's API keys carry, the `by` of decisions).
A name without a usable key is accepted — groups are set up before keys are issued, and a
rotated key keeps its name — and reported in `members_without_key`, so a typo shows at once.
Another tenant's group is 404. A run snapshots a level's group when the level opens:
changing or deleting a group never changes who may decide a wait already open."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Admin, Operator
from api.problems import Problem
from store.records import APPROVER_GROUP_PATTERN, MAX_GROUP_MEMBERS, ApproverMember
from store.tables import utcnow

router = APIRouter(tags=["approver groups"])

GroupName = Path(pattern=APPROVER_GROUP_PATTERN, description="the group's name")


class PutApproverGroup(BaseModel):
    """Body of `PUT /approver-groups/{name}`: the whole group (it replaces the old one)."""

    model_config = ConfigDict(extra="forbid")

    members: list[ApproverMember] = Field(min_length=1, max_length=MAX_GROUP_MEMBERS)
    slack_channel: str | None = Field(
        default=None,
        pattern=r"^#?[A-Za-z0-9_.-]{1,80}$",
        description="Slack channel for members without a Slack user id (bot token)",
    )


class ApproverGroup(BaseModel):
    name: str
    members: list[ApproverMember]
    slack_channel: str | None = None
    created_at: datetime
    updated_at: datetime


class PutApproverGroupAnswer(ApproverGroup):
    members_without_key: list[str] = Field(
        default_factory=list,
        description="members no usable API key of the tenant names (yet): check the spelling",
    )


def _view(info: object) -> ApproverGroup:
    return ApproverGroup.model_validate(info, from_attributes=True)


@router.put("/approver-groups/{name}", response_model=PutApproverGroupAnswer)
async def put_group(
    body: PutApproverGroup, request: Request, who: Admin, name: str = GroupName
) -> PutApproverGroupAnswer:
    """Create or replace a group."""
    store = request.app.state.store
    try:
        info = await store.put_approver_group(
            who.tenant, name, list(body.members), slack_channel=body.slack_channel
        )
    except ValueError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-approver-group") from None
    now = utcnow()
    usable = {k.name for k in await store.list_keys(who.tenant) if k.usable(now)}
    await store.audit(
        who.tenant,
        who.name,
        "approver_group.put",
        name,
        {"members": info.principals, "slack_channel": info.slack_channel},
    )
    return PutApproverGroupAnswer(
        **_view(info).model_dump(),
        members_without_key=[p for p in info.principals if p not in usable],
    )


@router.get("/approver-groups", response_model=list[ApproverGroup])
async def list_groups(request: Request, who: Operator) -> list[ApproverGroup]:
    return [_view(g) for g in await request.app.state.store.list_approver_groups(who.tenant)]


@router.get("/approver-groups/{name}", response_model=ApproverGroup)
async def get_group(request: Request, who: Operator, name: str = GroupName) -> ApproverGroup:
    found = await request.app.state.store.get_approver_group(who.tenant, name)
    if found is None:
        raise Problem(404, "Not found", f"no approver group `{name}`")
    return _view(found)


@router.delete("/approver-groups/{name}", status_code=204)
async def delete_group(request: Request, who: Admin, name: str = GroupName) -> Response:
    """Delete a group (waits that snapshotted it keep their snapshot)."""
    from store.approvers import ApproverGroupNotFound

    store = request.app.state.store
    try:
        await store.delete_approver_group(who.tenant, name)
    except ApproverGroupNotFound:
        raise Problem(404, "Not found", f"no approver group `{name}`") from None
    await store.audit(who.tenant, who.name, "approver_group.delete", name)
    return Response(status_code=204)
