"""Shared by the human-in-the-loop tests: small inline templates (an escalation chain, a revise
loop and outputs bound to the decision, on the noop agent), starting them for a tenant as
the API would (the run carries its plan; `notify` on), and reading the webhook events and
their one-click links."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from temporalio.client import Client, WorkflowHandle

from starters.runs import start_run
from tests.api.app_support import Api
from tests.support import eventually
from tests.webhooks.receiver import Receiver
from workflows.models import Progress, RunInput, StepProgress
from workflows.plans import build_plan
from workflows.registry import SpecRegistry, load_registry

REVIEW = """name: hitl_review
version: 1
description: a draft reviewed by editors, then directors; revisable twice; bound to the draft
params:
  topic: {type: string, required: true}
steps:
  - id: draft
    agent: noop
    mode: echo
    with: {topic: "${params.topic}"}
  - id: review
    approval:
      prompt: "Publish this draft?"
      approvers: [{group: editors, timeout: 1h}, {group: directors, timeout: 1h}]
      revise: draft
      max_revisions: 2
      bind: [draft]
      on_timeout: reject
    after: [draft]
  - id: publish
    agent: noop
    mode: echo
    after: [review]
    when: "approvals.review.approved"
    with: {topic: "${params.topic}"}
"""

ESCALATING = REVIEW.replace("hitl_review", "hitl_escalating").replace(
    "{group: editors, timeout: 1h}", "{group: editors, timeout: 2s}"
)

NOTIFYING = REVIEW.replace("hitl_review", "hitl_notify").replace(
    "[{group: editors, timeout: 1h}, {group: directors, timeout: 1h}]",
    "[{group: reviewers, timeout: 1h}]",
)

EDITOR = "approver@acme"  # the `editors` group: tenant acme's approver key
DIRECTOR = "admin@acme"  # the `directors` group
OUTSIDER = "operator@acme"  # may approve by role, but is in no group


def registry(tmp: Path) -> SpecRegistry:
    (tmp / "hitl_review.yaml").write_text(REVIEW)
    (tmp / "hitl_escalating.yaml").write_text(ESCALATING)
    (tmp / "hitl_notify.yaml").write_text(NOTIFYING)
    return load_registry([tmp])


async def set_groups(api: Api, tenant: str = "acme") -> None:
    for name, member in (("editors", EDITOR), ("directors", DIRECTOR)):
        r = await api.http.put(
            f"/v1/approver-groups/{name}",
            json={"members": [{"principal": member.replace("acme", tenant)}]},
            headers=api.as_(f"{tenant}:admin"),
        )
        assert r.status_code == 200, r.text


async def start(
    client: Client, reg: SpecRegistry, template: str = "hitl_review", tenant: str = "acme"
) -> WorkflowHandle[Any, Any]:
    """A run started as the API starts it (plan carried, events on)."""
    dag = reg.by_name(template)
    run_input = RunInput(
        params={"topic": "durable reviews"},
        tenant=tenant,
        notify=True,
        plan=build_plan(dag, reg),
    )
    return await start_run(client, dag, run_input, key=uuid.uuid4().hex[:10])


async def step_state(handle: WorkflowHandle[Any, Any], step: str = "review") -> StepProgress:
    progress = await handle.query("progress", result_type=Progress)
    return next(s for s in progress.steps if s.id == step)


async def waiting_at(
    handle: WorkflowHandle[Any, Any], *, level: int = 0, round: int = 0, step: str = "review"
) -> StepProgress:
    """The step once it waits at `level` and `round`."""

    async def check() -> StepProgress | None:
        s = await step_state(handle, step)
        ok = s.status == "waiting" and (s.level or 0) == level and s.round == round
        return s if ok else None

    return await eventually(check, timeout_s=30, what=f"{step} waiting at {level}/{round}")


def waiting_events(receiver: Receiver, path: str, workflow_id: str) -> list[dict[str, Any]]:
    found = []
    for r in receiver.delivered(path):
        body = json.loads(r.body)
        if body["type"] == "waiting_for_person" and body["data"]["workflow_id"] == workflow_id:
            found.append(body)
    return found


async def link_from_webhook(
    receiver: Receiver,
    path: str,
    workflow_id: str,
    principal: str,
    *,
    level: int = 0,
    round: int = 0,
) -> str:
    """The path of `principal`'s one-click link in the waiting event of `level`/`round`."""

    async def check() -> str | None:
        for body in waiting_events(receiver, path, workflow_id):
            data = body["data"]
            if data.get("level") == level and data.get("round") == round:
                url = data.get("links", {}).get(principal)
                if url:
                    return urlsplit(url).path
        return None

    return await eventually(check, timeout_s=30, what=f"a link for {principal} at {level}/{round}")
