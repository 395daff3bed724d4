"""Runs emit their execution events to the tenant's webhooks, end to end: endpoints registered
over HTTP into the API's store, a run executed and approved over HTTP, the events received
(signed) by a local receiver through the in-process workflow pool's `emit_run_event` and
`DeliverWebhook`. A tenant without endpoints emits nothing, not even a marker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.webhook_endpoints import StoreEndpoints
from activities.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    WebhookEvent,
    verify,
)
from store import Store
from tests.api.app_support import Api, running_api
from tests.support import eventually
from tests.webhooks.receiver import Received, Receiver
from workflows.engine.events import EMIT_RUN_EVENT, EVENTS_PATCH
from workflows.webhooks import delivery_workflow_id, emit_for


@pytest.fixture(scope="module")
async def api(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    home = tmp_path_factory.mktemp("webhooks-home")
    async with running_api(temporal_env, home, tenants=("acme", "globex")) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _events(receiver: Receiver, path: str, wid: str) -> list[dict[str, Any]]:
    return [
        json.loads(r.body)
        for r in receiver.delivered(path)
        if json.loads(r.body)["data"]["workflow_id"] == wid
    ]


def _of(receiver: Receiver, path: str, wid: str, type: str) -> Received | None:
    for r in receiver.delivered(path):
        body = json.loads(r.body)
        if body["type"] == type and body["data"]["workflow_id"] == wid:
            return r
    return None


async def _execute(api: Api, who: str) -> str:
    r = await api.http.post(
        "/v1/workflows/approval_flow/execute",
        json={"params": {"topic": "hooks", "channels": ["blog"]}},
        headers=api.as_(who),
    )
    assert r.status_code == 202, r.text
    return str(r.json()["execution_id"])


async def _waiting(api: Api, who: str, wid: str) -> bool:
    r = await api.http.get(f"/v1/workflows/{wid}/status", headers=api.as_(who))
    return r.status_code == 200 and "review" in r.json()["progress"]["waiting"]


async def test_webhook_endpoints_over_http_are_tenant_scoped_and_audited(
    api: Api, receiver: Receiver
) -> None:
    r = await api.http.post(
        "/v1/webhooks",
        json={"url": receiver.url("/scoped"), "events": ["completed"]},
        headers=api.as_("acme:admin"),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["events"] == ["completed"] and len(created["secret"]) >= 32
    # operators cannot manage endpoints; the list never shows a secret
    denied = await api.http.get("/v1/webhooks", headers=api.as_("acme:operator"))
    assert denied.status_code == 403
    listed = (await api.http.get("/v1/webhooks", headers=api.as_("acme:admin"))).json()
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    # another tenant neither sees nor deletes it
    assert (await api.http.get("/v1/webhooks", headers=api.as_("globex:admin"))).json() == []
    other = await api.http.delete(f"/v1/webhooks/{created['id']}", headers=api.as_("globex:admin"))
    assert other.status_code == 404
    bad = await api.http.post(
        "/v1/webhooks",
        json={"url": "ftp://nope", "events": ["completed"]},
        headers=api.as_("acme:admin"),
    )
    assert bad.status_code == 422
    gone = await api.http.delete(f"/v1/webhooks/{created['id']}", headers=api.as_("acme:admin"))
    assert gone.status_code == 204
    again = await api.http.delete(f"/v1/webhooks/{created['id']}", headers=api.as_("acme:admin"))
    assert again.status_code == 404
    assert (await api.http.get("/v1/webhooks", headers=api.as_("acme:admin"))).json() == []
    actions = [e.action for e in await api.store.audit_entries("acme") if e.target == created["id"]]
    assert sorted(actions) == ["webhook.create", "webhook.delete"]
    # the resolver the workers use: disabled endpoints are gone, unknown ones have no secret
    resolver = StoreEndpoints(lambda: _value(api.store))
    assert await resolver.endpoints_for("acme", "completed") == []
    assert await resolver.secret_for("acme", "wh_nope") is None
    assert await resolver.secret_for("globex", created["id"]) is None


async def _value(store: Store) -> Store:
    return store


async def test_a_run_emits_signed_events_to_its_tenants_webhooks(
    api: Api, receiver: Receiver
) -> None:
    r = await api.http.post(
        "/v1/webhooks",
        json={"url": receiver.url("/acme")},  # every event type
        headers=api.as_("acme:admin"),
    )
    assert r.status_code == 201, r.text
    endpoint_id, secret = r.json()["id"], r.json()["secret"]
    skipped = await api.http.post(
        "/v1/webhooks",
        json={"url": receiver.url("/only-failed"), "events": ["failed"]},
        headers=api.as_("acme:admin"),
    )
    assert skipped.status_code == 201
    try:
        wid = await _execute(api, "acme:operator")
        waiting = await eventually(
            lambda: _async(_of(receiver, "/acme", wid, "waiting_for_person")),
            what="the waiting_for_person event",
        )
        started = _of(receiver, "/acme", wid, "started")
        assert started is not None
        for request in (started, waiting):
            verify(secret, request.headers[SIGNATURE_HEADER], request.body)
        event = WebhookEvent.model_validate_json(waiting.body)
        assert waiting.headers[EVENT_ID_HEADER] == event.event_id
        assert waiting.headers[EVENT_TYPE_HEADER] == "waiting_for_person"
        assert event.tenant == "acme"
        assert event.data["step"] == "review"
        assert event.data["kind"] == "approval" and event.data["prompt"] == "Publish this post?"
        assert json.loads(started.body)["data"]["template"] == "approval_flow"

        decided = await api.http.post(
            f"/v1/executions/{wid}/decisions",
            json={"step": "review", "decision": "approve"},
            headers=api.as_("acme:approver"),
        )
        assert decided.status_code == 200, decided.text
        completed = await eventually(
            lambda: _async(_of(receiver, "/acme", wid, "completed")),
            what="the completed event",
        )
        verify(secret, completed.headers[SIGNATURE_HEADER], completed.body)
        body = json.loads(completed.body)
        assert body["data"]["steps"] == {"succeeded": 3}

        # each event once; the endpoint subscribed to `failed` only got nothing
        got = _events(receiver, "/acme", wid)
        assert sorted(e["type"] for e in got) == ["completed", "started", "waiting_for_person"]
        assert len({e["event_id"] for e in got}) == 3
        assert receiver.on("/only-failed") == []

        # emitting an event again (an activity retried) delivers nothing new
        again = await emit_for(api.temporal, StoreEndpoints(lambda: _value(api.store)), event)
        assert [h.id for h in again] == [delivery_workflow_id(event.event_id, endpoint_id)]
        await again[0].result()
        assert len(receiver.on("/acme")) == len(got)

        markers = await _markers(api, wid)
        assert EVENTS_PATCH in markers and EMIT_RUN_EVENT in markers
    finally:
        for ep in (endpoint_id, skipped.json()["id"]):
            await api.http.delete(f"/v1/webhooks/{ep}", headers=api.as_("acme:admin"))


async def test_budget_alerts_budget_waits_and_failures_are_emitted(
    api: Api, receiver: Receiver
) -> None:
    r = await api.http.post(
        "/v1/webhooks",
        json={
            "url": receiver.url("/money"),
            "events": ["budget_alert", "waiting_for_person", "failed"],
        },
        headers=api.as_("acme:admin"),
    )
    assert r.status_code == 201, r.text
    endpoint_id, secret = r.json()["id"], r.json()["secret"]
    try:
        started = await api.http.post(
            "/v1/workflows/budgeted/execute", json={}, headers=api.as_("acme:operator")
        )
        assert started.status_code == 202, started.text
        wid = started.json()["execution_id"]
        waiting = await eventually(
            lambda: _async(_of(receiver, "/money", wid, "waiting_for_person")),
            what="the budget wait's event",
        )
        data = json.loads(waiting.body)["data"]
        assert data["step"] == "second" and data["kind"] == "budget"
        # emitted beside the wait, each event on its own: either may arrive first
        alert = await eventually(
            lambda: _async(_of(receiver, "/money", wid, "budget_alert")),
            what="the budget alert's event",
        )
        verify(secret, alert.headers[SIGNATURE_HEADER], alert.body)
        assert json.loads(alert.body)["data"]["threshold_percent"] == 75
        decided = await api.http.post(
            f"/v1/executions/{wid}/decisions",
            json={"step": "second", "decision": "reject"},
            headers=api.as_("acme:approver"),
        )
        assert decided.status_code == 200, decided.text
        failed = await eventually(
            lambda: _async(_of(receiver, "/money", wid, "failed")), what="the failed event"
        )
        body = json.loads(failed.body)["data"]
        assert body["step"] == "second" and body["error_type"] == "BudgetExceeded"
        assert "rejected" in body["message"]
        types = sorted(e["type"] for e in _events(receiver, "/money", wid))
        assert types == ["budget_alert", "failed", "waiting_for_person"]  # nothing unsubscribed
    finally:
        await api.http.delete(f"/v1/webhooks/{endpoint_id}", headers=api.as_("acme:admin"))


async def test_a_tenant_without_webhooks_pays_nothing(api: Api, receiver: Receiver) -> None:
    assert (await api.http.get("/v1/webhooks", headers=api.as_("globex:admin"))).json() == []
    wid = await _execute(api, "globex:operator")
    await eventually(lambda: _waiting(api, "globex:viewer", wid), what="the run waiting")
    await api.http.post(
        f"/v1/executions/{wid}/decisions",
        json={"step": "review", "decision": "approve"},
        headers=api.as_("globex:approver"),
    )
    handle = api.temporal.get_workflow_handle(wid)
    await handle.result()
    markers = await _markers(api, wid)
    assert EVENTS_PATCH not in markers and EMIT_RUN_EVENT not in markers
    assert receiver.requests == []


async def _markers(api: Api, wid: str) -> str:
    """The run's markers (patches, local activities) with their payloads decoded."""
    history = await api.temporal.get_workflow_handle(wid).fetch_history()
    found = []
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            found.append(marker.marker_name)
            for payloads in marker.details.values():
                found.extend(p.data.decode() for p in payloads.payloads)
    return "\n".join(found)


async def _async(value: Received | None) -> Received | None:
    return value
