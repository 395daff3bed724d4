"""One-click decision links from the webhook's payload, against the real API, Temporal and
store: the page (GET) decides nothing; its POST decides once; a used link, a link of a level
the request has left, and a link from before a revision are refused with the reason."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from activities.notify.links import LinkSecretMissing
from api.app import create_app
from api.settings import ApiSettings
from tests.hitl.conftest import HOOK, Hitl
from tests.hitl.support import DIRECTOR, EDITOR, link_from_webhook, start, step_state, waiting_at
from tests.support import eventually


async def test_a_links_page_decides_nothing_and_its_post_decides_once(hitl: Hitl) -> None:
    api = hitl.api
    handle = await start(api.temporal, hitl.reg)
    await waiting_at(handle)
    link = await link_from_webhook(hitl.receiver, HOOK, handle.id, EDITOR)

    page = await api.http.get(link)
    assert page.status_code == 200, page.text
    assert "Publish this draft?" in page.text
    assert "draft" in page.text and EDITOR in page.text
    assert 'method="post"' in page.text and "Opening this page decided nothing" in page.text
    # Looking twice changes nothing: the run still waits, nothing is logged or used.
    assert (await api.http.get(link)).status_code == 200
    state = await step_state(handle)
    assert state.status == "waiting" and state.decision is None
    assert await api.store.list_decisions("acme", workflow_id=handle.id) == []

    # Two POSTs at once (a double click): one decides, the other is told it was used.
    first, second = await asyncio.gather(
        api.http.post(link, data={"decision": "approve", "comment": "ship it"}),
        api.http.post(link, data={"decision": "approve", "comment": "ship it"}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 410]
    done = first if first.status_code == 200 else second
    assert "Recorded: approve" in done.text
    await handle.result()
    state = await step_state(handle)
    assert state.status == "succeeded" and state.decision is not None
    assert state.decision.approved and state.decision.by == EDITOR
    assert state.decision.via == "link"

    again = await api.http.post(link, data={"decision": "reject"})
    assert again.status_code == 410 and "already used" in again.text
    assert (await api.http.get(link)).status_code == 410
    logged = await eventually(
        lambda: api.store.list_decisions("acme", workflow_id=handle.id, step="review"),
        what="the decision in the log",
    )
    assert [(d.kind, d.by, d.via, d.comment) for d in logged] == [
        ("approve", EDITOR, "link", "ship it")
    ]


async def test_a_link_for_level_0_is_refused_once_the_request_escalated(hitl: Hitl) -> None:
    api = hitl.api
    handle = await start(api.temporal, hitl.reg, "hitl_escalating")
    early = await link_from_webhook(hitl.receiver, HOOK, handle.id, EDITOR, level=0)
    state = await waiting_at(handle, level=1)  # level 0's 2 s passed: the directors' turn
    assert state.group == "directors" and state.approvers == [DIRECTOR]

    refused = await api.http.post(early, data={"decision": "approve"})
    assert refused.status_code == 409, refused.text
    assert "moved on" in refused.text and "level 2 of 2 (group directors)" in refused.text
    assert (await api.http.get(early)).status_code == 409
    assert (await step_state(handle)).status == "waiting"

    later = await link_from_webhook(hitl.receiver, HOOK, handle.id, DIRECTOR, level=1)
    decided = await api.http.post(later, data={"decision": "reject", "comment": "not now"})
    assert decided.status_code == 200, decided.text
    await handle.result()
    kinds = [d.kind for d in await api.store.list_decisions("acme", workflow_id=handle.id)]
    assert "escalated" in kinds and "reject" in kinds


async def test_a_link_from_before_a_revision_is_refused(hitl: Hitl) -> None:
    api = hitl.api
    handle = await start(api.temporal, hitl.reg)
    first = await waiting_at(handle)
    link = await link_from_webhook(hitl.receiver, HOOK, handle.id, EDITOR, round=0)
    revise = await api.http.post(
        f"/v1/executions/{handle.id}/decisions",
        json={
            "step": "review",
            "decision": "revise",
            "comment": "shorter, please",
            "digest": first.digest,
        },
        headers=api.as_("acme:approver"),
    )
    assert revise.status_code == 200, revise.text
    second = await waiting_at(handle, round=1)
    assert second.digest != first.digest  # round 1's draft is another output

    stale = await api.http.post(link, data={"decision": "approve"})
    assert stale.status_code == 409 and "round 1" in stale.text
    fresh = await link_from_webhook(hitl.receiver, HOOK, handle.id, EDITOR, round=1)
    assert (await api.http.post(fresh, data={"decision": "approve"})).status_code == 200
    await handle.result()


async def test_forged_and_altered_links_are_unknown(hitl: Hitl) -> None:
    api = hitl.api
    assert (await api.http.get("/v1/links/not-a-token")).status_code == 404
    handle = await start(api.temporal, hitl.reg)
    link = await link_from_webhook(hitl.receiver, HOOK, handle.id, EDITOR)
    altered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    r = await api.http.post(altered, data={"decision": "approve"})
    assert r.status_code == 404 and "not one of ours" in r.text
    assert (await step_state(handle)).status == "waiting"
    await handle.cancel()


async def test_production_refuses_to_serve_links_without_a_signing_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BIZOS_LINK_SIGNING_SECRET", raising=False)
    settings = ApiSettings(production=True, webhook_signing_secret="a-real-webhook-secret")
    unused: Any = object()  # the check comes before anything of these is used
    app = create_app(settings, store=unused, temporal=unused, limiter=unused, idempotency=unused)
    with pytest.raises(LinkSecretMissing, match="BIZOS_LINK_SIGNING_SECRET"):
        async with app.router.lifespan_context(app):
            pass
    monkeypatch.setenv("BIZOS_LINK_SIGNING_SECRET", "changeme")  # a placeholder is no secret
    with pytest.raises(LinkSecretMissing):
        async with app.router.lifespan_context(app):
            pass
