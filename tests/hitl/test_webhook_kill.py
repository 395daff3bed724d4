"""A `waiting_for_person` event reaches the tenant's webhook although the worker delivering it
is SIGKILLed mid-request: another worker process delivers it, once answered 2xx, under one
stable event id, with the same one-click links at every attempt (minted at delivery time
from the event id, never stored in the workflow's history)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.webhooks import EVENT_ID_HEADER, DeliveryPolicy, WebhookEvent
from tests.conftest import namespace_client
from tests.hitl.conftest import LINK_ENV
from tests.hitl.support import DIRECTOR, EDITOR
from tests.support import eventually
from tests.webhooks.receiver import Answer, Receiver
from tests.worker_process import WorkerProcess
from workflows.registry import DEFAULT_SPEC_DIR
from workflows.webhooks import emit

NAMESPACE = "isolated-webhooks"  # worker processes of their own: tests/conftest.py


def _waiting_event() -> WebhookEvent:
    """The event as the engine emits it when a level opens."""
    at = datetime.now(UTC)
    return WebhookEvent.for_run(
        tenant="acme",
        type="waiting_for_person",
        workflow_id=f"acme.hitl_review.{uuid.uuid4().hex[:8]}",
        run_id=str(uuid.uuid4()),
        occurred_at=at,
        step="review",
        level=0,
        round=0,
        data={
            "kind": "approval",
            "prompt": "Publish this draft?",
            "options": [],
            "levels": 2,
            "group": "editors",
            "approvers": [EDITOR, DIRECTOR],
            "deadline": (at + timedelta(hours=1)).isoformat(),
            "digest": "sha256:" + "ab" * 32,
            "max_revisions": 2,
            "bind": ["draft"],
        },
    )


async def test_a_waiting_event_survives_a_worker_sigkill_with_one_id_and_the_same_links(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = await namespace_client(temporal_env, NAMESPACE)
    endpoints = tmp_path / "endpoints.json"
    started: list[WorkerProcess] = []
    with Receiver() as receiver:
        endpoints.write_text(
            json.dumps(
                {"acme": [{"endpoint_id": "ep-w", "url": receiver.url("/w"), "secret": "whsec_w"}]}
            )
        )
        receiver.script("/w", Answer(503, hang=True))

        def spawn(log: str) -> WorkerProcess:
            w = WorkerProcess(
                temporal_env,
                NAMESPACE,
                [DEFAULT_SPEC_DIR],
                tmp_path / log,
                pools="workflows",
                extra_env={
                    "BIZOS_WEBHOOK_ENDPOINTS": str(endpoints),
                    "BIZOS_HOME": str(tmp_path / "home"),
                    **LINK_ENV,
                },
            )
            started.append(w)
            return w

        try:
            first = spawn("w1.log")
            event = _waiting_event()
            policy = DeliveryPolicy(initial_interval_s=0.5, max_interval_s=2, request_timeout_s=5)
            [handle] = await emit(client, event, ["ep-w"], policy=policy)

            async def in_flight() -> bool:
                return bool(receiver.on("/w"))

            await eventually(in_flight, timeout_s=60, what="the first attempt at the receiver")
            first.kill()
            receiver.release.set()  # the held request is answered to nobody
            spawn("w2.log")
            try:
                async with asyncio.timeout(60):
                    result = await handle.result()
            except BaseException:
                for log in ("w1.log", "w2.log"):
                    print(log, (tmp_path / log).read_text(errors="replace")[-3000:])
                raise
        finally:
            for w in started:
                w.stop()
        got = receiver.on("/w")
    assert len(receiver.delivered("/w")) == 1 and result.attempts >= 2
    assert {r.headers[EVENT_ID_HEADER] for r in got} == {event.event_id}
    bodies = [json.loads(r.body) for r in got]
    links = [b["data"]["links"] for b in bodies]
    assert set(links[0]) == {EDITOR, DIRECTOR} and all(x == links[0] for x in links)
    assert all(url.startswith("http://api/v1/links/") for url in links[0].values())
    assert bodies[-1]["data"]["level"] == 0 and bodies[-1]["data"]["group"] == "editors"
    # the links exist only in what was sent: the delivery's history holds none of them
    history = await handle.fetch_history()
    assert "/v1/links/" not in history.to_json()
