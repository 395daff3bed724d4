"""Signed decision links, the API side: read a link's token, check it still applies to the
run as it is now, and decide with it once.

A link is refused — before anything is decided or marked used — when it is not ours (404),
used already (410), when the request has moved on: the step is no longer waiting, waits at
another escalation level or revise round, or what it asks to judge has changed (409, naming
where it is now), or when it expired at its level's deadline (410). Only a POST decides,
through the run's `decide` update with ``by`` = the link's principal, ``digest`` = the
link's digest and ``via`` = ``link``; its token id is inserted into the used-links table
first (a unique insert: of two concurrent POSTs one decides, the other is told the link was
used). A use whose decision the run refused, or that no worker answered, is released so the
person can try again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Request
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.notify.links import (
    InvalidLink,
    LinkClaims,
    LinkSecretMissing,
    LinkSettings,
    read,
    signing_secret,
)
from workflows.models import Decision, DecisionReceipt, Progress, StepProgress

DECISIONS = ("approve", "reject", "revise", "choose")


@dataclass
class LinkRefused(Exception):
    """Why a link cannot be used now; `status` is the page's HTTP status."""

    status: int
    title: str
    message: str
    claims: LinkClaims | None = None


@dataclass
class OpenLink:
    claims: LinkClaims
    step: StepProgress
    bound: list[StepProgress] = field(default_factory=list)
    template: str = ""


def _rpc(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.rpc_timeout_s)


def _level(step: StepProgress) -> str:
    level = (step.level or 0) + 1
    where = f"level {level} of {step.levels}" if step.levels else f"level {level}"
    if step.group:
        where += f" (group {step.group})"
    return where + _round(step.round)


def _round(n: int) -> str:
    return f", revision round {n}" if n else ""


async def _claims(token: str) -> LinkClaims:
    try:
        secret = await asyncio.to_thread(signing_secret, LinkSettings())
    except LinkSecretMissing as e:
        raise LinkRefused(503, "Links unavailable", str(e)) from None
    try:
        claims = read(token, secret)
    except InvalidLink as e:
        raise LinkRefused(404, "Unknown link", str(e)) from None
    if not claims.workflow_id.startswith(f"{claims.tenant}."):
        raise LinkRefused(404, "Unknown link", "this link is not one of ours")
    return claims


async def open_link(request: Request, token: str) -> OpenLink:
    """The link's claims and the step it decides, if the link may be used right now."""
    claims = await _claims(token)
    if await request.app.state.store.link_token_used(claims.jti):
        raise LinkRefused(
            410, "Link already used", "this link has decided once already", claims=claims
        )
    handle = request.app.state.temporal.get_workflow_handle(claims.workflow_id)
    try:
        progress = await handle.query("progress", result_type=Progress, rpc_timeout=_rpc(request))
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise LinkRefused(
                404, "Unknown run", f"run {claims.workflow_id} no longer exists", claims=claims
            ) from None
        raise LinkRefused(
            503, "Try again shortly", "no workflow worker answered in time", claims=claims
        ) from None
    except WorkflowQueryFailedError as e:
        raise LinkRefused(503, "Try again shortly", str(e), claims=claims) from None
    step = next((s for s in progress.steps if s.id == claims.step), None)
    if step is None:
        raise LinkRefused(
            404, "Unknown step", f"run {claims.workflow_id} has no step {claims.step}"
        )
    # where the request is now comes first: a link of a level that escalated says where to go
    _check_still_applies(claims, step)
    if claims.expired():
        raise LinkRefused(
            410,
            "Link expired",
            f"this link expired at {claims.expires_at:%Y-%m-%d %H:%M} UTC, when its level's "
            "time to decide ran out",
            claims=claims,
        )
    bound = [s for s in progress.steps if s.id in set(step.bind or [])]
    return OpenLink(claims=claims, step=step, bound=bound, template=progress.template)


def _check_still_applies(claims: LinkClaims, step: StepProgress) -> None:
    if step.status != "waiting":
        decided = step.decision
        who = f" by {decided.by}" if decided is not None and decided.by else ""
        raise LinkRefused(
            409,
            "No longer waiting",
            f"step {step.id} is no longer waiting for a decision: it is {step.status}{who}",
            claims=claims,
        )
    if (step.level or 0) != claims.level or step.round != claims.round:
        raise LinkRefused(
            409,
            "The request has moved on",
            f"this link was for level {claims.level + 1}{_round(claims.round)}; step "
            f"{step.id} now waits at {_level(step)}",
            claims=claims,
        )
    if step.approvers is not None and claims.principal not in step.approvers:
        raise LinkRefused(
            409,
            "Not an approver here",
            f"{claims.principal} is not among the approvers of step {step.id} at {_level(step)}",
            claims=claims,
        )
    if step.digest != claims.digest:
        raise LinkRefused(
            409,
            "What you would judge has changed",
            f"the outputs step {step.id} asks about changed since this link was sent (digest "
            f"{(claims.digest or 'none')[:19]}… is now {(step.digest or 'none')[:19]}…): open "
            "the newer request",
            claims=claims,
        )


def parse_choice(link: OpenLink, decision: str, comment: str) -> tuple[str, str | None]:
    """The form's ``decision`` (``approve``, ``reject``, ``revise`` or ``choose:<option>``)
    as (decision, option); `LinkRefused` 422 when it cannot apply to this step."""
    kind, _, option = decision.partition(":")
    if kind not in DECISIONS:
        raise LinkRefused(422, "Unknown decision", f"{decision[:40]!r} is not a decision")
    if kind == "choose":
        options = link.step.options or link.claims.options
        if option not in options:
            raise LinkRefused(
                422, "Unknown option", f"choose one of: {', '.join(options) or '(none)'}"
            )
        return kind, option
    if kind == "revise" and not comment.strip():
        raise LinkRefused(
            422, "Feedback needed", "a revision needs feedback: say what should change"
        )
    return kind, None


async def decide(
    request: Request, link: OpenLink, decision: str, option: str | None, comment: str
) -> DecisionReceipt:
    """Mark the link used, then decide; released again when nothing was decided."""
    claims = link.claims
    store = request.app.state.store
    if not await store.use_link_token(claims.jti, claims.tenant, claims.principal):
        raise LinkRefused(
            410, "Link already used", "this link has decided once already", claims=claims
        )
    handle = request.app.state.temporal.get_workflow_handle(claims.workflow_id)
    body = Decision(
        step=claims.step,
        decision=decision,  # type: ignore[arg-type]
        option=option,
        by=claims.principal,
        comment=comment,
        digest=claims.digest,
        via="link",
    )
    try:
        receipt: DecisionReceipt = await handle.execute_update(
            "decide", body, result_type=DecisionReceipt, rpc_timeout=_rpc(request)
        )
    except WorkflowUpdateFailedError as e:
        await store.release_link_token(claims.jti)
        reason = getattr(e.cause, "message", None) or str(e.cause)
        raise LinkRefused(409, "Decision refused", reason, claims=claims) from None
    except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
        await store.release_link_token(claims.jti)
        raise LinkRefused(
            503, "Try again shortly", "no workflow worker answered in time", claims=claims
        ) from None
    await store.audit(
        claims.tenant,
        claims.principal,
        "decision",
        claims.workflow_id,
        {
            "step": claims.step,
            "decision": decision,
            "option": option,
            "via": "link",
            "level": claims.level,
            "round": claims.round,
        },
    )
    return receipt


def page_context(link: OpenLink) -> dict[str, Any]:
    step, claims = link.step, link.claims
    can_revise = (
        step.waiting_for == "approval"
        and step.max_revisions is not None
        and step.round < step.max_revisions
    )
    return {
        "claims": claims,
        "step": step,
        "template": link.template,
        "bound": link.bound,
        "where": _level(step),
        "can_revise": can_revise,
        "options": step.options or claims.options,
    }
