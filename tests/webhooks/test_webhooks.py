"""Execution-event webhooks: signing, and durable delivery through `DeliverWebhook` against the
real dev server and a local receiver (retries, refusals, de-duplication, a worker SIGKILL)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    CallableEndpoints,
    DeliveryPolicy,
    FileEndpoints,
    InvalidSignature,
    WebhookActivities,
    WebhookEvent,
    WebhookTarget,
    event_body,
    event_id_for,
    retry_after_s,
    sign,
    verify,
)
from tests.conftest import namespace_client
from tests.support import eventually
from tests.webhooks.receiver import Answer, Receiver
from tests.worker_process import WorkerProcess
from worker.plugin import BizosPlugin
from workflows.registry import DEFAULT_SPEC_DIR
from workflows.webhooks import (
    DeliverWebhook,
    DeliveryResult,
    delivery_workflow_id,
    emit,
    emit_for,
)

NAMESPACE = "isolated-webhooks"
# In-process tests use a queue of their own: the SIGKILL test's worker processes poll the
# real workflows queue of the same namespace.
TASK_QUEUE = "bizos-webhooks-test"
TENANT = "acme"
FAST = DeliveryPolicy(initial_interval_s=0.2, max_interval_s=2, request_timeout_s=3)


def an_event(
    type: str = "completed", step: str | None = None, tenant: str = TENANT, **data: object
) -> WebhookEvent:
    return WebhookEvent.for_run(
        tenant=tenant,
        type=type,  # type: ignore[arg-type]
        workflow_id=f"report.{TENANT}.{uuid.uuid4().hex[:8]}",
        run_id=str(uuid.uuid4()),
        occurred_at=datetime.now(UTC),
        step=step,
        data=dict(data),
    )


class Endpoints:
    """The tests' endpoint table, behind the callables given to the activity at worker start."""

    def __init__(self) -> None:
        self.targets: dict[str, list[WebhookTarget]] = {}
        self.secrets: dict[tuple[str, str], str] = {}

    def add(
        self, endpoint_id: str, url: str, secret: str, *types: str, tenant: str = TENANT
    ) -> None:
        target = WebhookTarget(
            endpoint_id=endpoint_id,
            url=url,
            **({"event_types": list(types)} if types else {}),  # type: ignore[arg-type]
        )
        self.targets.setdefault(tenant, []).append(target)
        self.secrets[tenant, endpoint_id] = secret

    def resolver(self) -> CallableEndpoints:
        async def secret_for(tenant: str, endpoint_id: str) -> str | None:
            return self.secrets.get((tenant, endpoint_id))

        async def endpoints_for(tenant: str, event_type: str) -> list[WebhookTarget]:
            return [t for t in self.targets.get(tenant, []) if event_type in t.event_types]

        return CallableEndpoints(secret_for, endpoints_for)


@pytest.fixture(scope="module")
def endpoints() -> Endpoints:
    return Endpoints()


@pytest.fixture(scope="module")
async def client(temporal_env: WorkflowEnvironment, endpoints: Endpoints) -> AsyncIterator[Client]:
    """A client on the isolated namespace with an in-process delivery worker."""
    c = await namespace_client(temporal_env, NAMESPACE)
    activities = WebhookActivities(endpoints.resolver())
    async with Worker(
        c, task_queue=TASK_QUEUE, workflows=[DeliverWebhook], activities=activities.all()
    ):
        yield c
    await activities.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


# --- signing -------------------------------------------------------------------------------


def test_signature_verifies_and_refuses_tampering_staleness_and_wrong_secret() -> None:
    event = an_event(step="draft")
    body = event_body(event)
    header = sign("whsec_1", body, timestamp=1_000_000)
    assert verify("whsec_1", header, body, now=1_000_100) == 1_000_000
    assert verify("whsec_1", header, body.decode(), now=1_000_100) == 1_000_000
    cases = [
        ("whsec_2", header, body, 1_000_100, "does not match"),
        ("whsec_1", header, body.replace(b"completed", b"failed"), 1_000_100, "does not match"),
        ("whsec_1", header, body, 1_000_301, "away from now"),
        ("whsec_1", None, body, 1_000_100, "no Bizos-Signature"),
        ("whsec_1", "v1=abc", body, 1_000_100, "needs t="),
        ("whsec_1", "t=x,v1=abc", body, 1_000_100, "not an integer"),
    ]
    for secret, hdr, raw, now, message in cases:
        with pytest.raises(InvalidSignature, match=message):
            verify(secret, hdr, raw, now=now)
    # during a rotation the sender may sign with both secrets: either verifies
    rotated = header + "," + sign("whsec_new", body, timestamp=1_000_000).split(",")[1]
    assert verify("whsec_new", rotated, body, now=1_000_000) == 1_000_000


def test_event_id_is_stable_per_subject_and_body_is_canonical() -> None:
    a = event_id_for("wf", "run", "waiting_for_person", step="review", round=1)
    assert a == event_id_for("wf", "run", "waiting_for_person", step="review", round=1)
    assert a != event_id_for("wf", "run", "waiting_for_person", step="review", round=2)
    assert a != event_id_for("wf", "run2", "waiting_for_person", step="review", round=1)
    assert event_id_for("wf", "run", "budget_alert", level=75) != event_id_for(
        "wf", "run", "budget_alert", level=90
    )
    e1 = WebhookEvent.for_run(
        tenant="t1",
        type="budget_alert",
        workflow_id="wf",
        run_id="run",
        level=90,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        data={"b": 1, "a": "é"},
    )
    assert e1.event_id == event_id_for("wf", "run", "budget_alert", level=90)
    assert json.loads(event_body(e1)) == {
        "event_id": e1.event_id,
        "tenant": "t1",
        "type": "budget_alert",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"workflow_id": "wf", "run_id": "run", "level": 90, "b": 1, "a": "é"},
    }
    assert event_body(e1) == event_body(WebhookEvent.model_validate_json(event_body(e1)))


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_s("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_s("soon") is None
    assert retry_after_s(None) is None


async def test_file_endpoints_read_secrets_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_HOOK_SECRET", "whsec_from_env")
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(
            {
                TENANT: [
                    {"endpoint_id": "a", "url": "https://a.example/h", "secret": "whsec_a"},
                    {
                        "endpoint_id": "b",
                        "url": "https://b.example/h",
                        "event_types": ["failed"],
                        "secret_name": "ACME_HOOK_SECRET",
                    },
                ]
            }
        )
    )
    resolver = FileEndpoints(path)
    assert [t.endpoint_id for t in await resolver.endpoints_for(TENANT, "failed")] == ["a", "b"]
    assert [t.endpoint_id for t in await resolver.endpoints_for(TENANT, "started")] == ["a"]
    assert await resolver.secret_for(TENANT, "b") == "whsec_from_env"
    assert await resolver.secret_for("other", "a") is None
    assert "whsec_a" not in repr(await resolver.endpoints_for(TENANT, "failed"))
    assert await FileEndpoints(tmp_path / "missing.json").endpoints_for(TENANT, "failed") == []


# --- delivery ------------------------------------------------------------------------------


async def test_delivered_once_signed_with_stable_event_id(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    endpoints.add("ep-a", receiver.url("/a"), "whsec_a_secret_value")
    event = an_event(outputs={"summary": "done"})
    [handle] = await emit(client, event, ["ep-a"], policy=FAST, task_queue=TASK_QUEUE)
    assert handle.id == f"webhook.{event.event_id}.ep-a"
    result: DeliveryResult = await handle.result()
    assert result == DeliveryResult(
        event_id=event.event_id, endpoint_id="ep-a", status_code=200, attempts=1
    )
    [got] = receiver.on("/a")
    verify("whsec_a_secret_value", got.headers[SIGNATURE_HEADER], got.body)
    assert got.headers[EVENT_ID_HEADER] == event.event_id
    assert got.headers[EVENT_TYPE_HEADER] == "completed"
    assert WebhookEvent.model_validate_json(got.body) == event
    # the secret and the URL never enter the workflow's history
    history = (await handle.fetch_history()).to_json()
    assert "whsec_a_secret_value" not in history
    assert receiver.url("/a") not in history


async def test_server_errors_are_retried_until_delivered(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    endpoints.add("ep-b", receiver.url("/b"), "whsec_b")
    receiver.script("/b", Answer(500), Answer(500))
    event = an_event()
    [handle] = await emit(client, event, ["ep-b"], policy=FAST, task_queue=TASK_QUEUE)
    result = await handle.result()
    assert (result.status_code, result.attempts) == (200, 3)
    got = receiver.on("/b")
    assert [r.status for r in got] == [500, 500, 200]
    assert {r.headers[EVENT_ID_HEADER] for r in got} == {event.event_id}
    assert [r.headers["Bizos-Delivery-Attempt"] for r in got] == ["1", "2", "3"]
    for r in got:  # each attempt signed afresh
        verify("whsec_b", r.headers[SIGNATURE_HEADER], r.body)


async def test_too_many_requests_waits_for_retry_after(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    endpoints.add("ep-r", receiver.url("/r"), "whsec_r")
    receiver.script("/r", Answer(429, {"Retry-After": "2"}))
    [handle] = await emit(client, an_event(), ["ep-r"], policy=FAST, task_queue=TASK_QUEUE)
    assert (await handle.result()).attempts == 2
    first, second = receiver.on("/r")
    # the policy alone would have retried after 0.2 s
    assert second.at - first.at >= 1.8


async def test_gone_is_not_retried_and_the_failure_is_recorded(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    endpoints.add("ep-c", receiver.url("/c"), "whsec_c")
    receiver.script("/c", Answer(410))
    event = an_event(type="failed")
    [handle] = await emit(client, event, ["ep-c"], policy=FAST, task_queue=TASK_QUEUE)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "WebhookRejected"
    assert "ep-c" in cause.message and "410" in cause.message
    assert cause.details[0]["status_code"] == 410
    assert cause.details[0]["attempts"] == 1
    assert [r.status for r in receiver.on("/c")] == [410]
    desc = await handle.describe()
    assert desc.status is not None and desc.status.name == "FAILED"


async def test_unknown_endpoint_fails_without_a_request(client: Client) -> None:
    [handle] = await emit(client, an_event(), ["ep-nobody"], policy=FAST, task_queue=TASK_QUEUE)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, ApplicationError)
    assert info.value.cause.type == "WebhookEndpointUnknown"


async def test_emitting_twice_delivers_once_per_endpoint(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    tenant = "acme-dedup"  # a tenant with only these endpoints
    endpoints.add("ep-d1", receiver.url("/d1"), "s1", "waiting_for_person", tenant=tenant)
    endpoints.add("ep-d2", receiver.url("/d2"), "s2", "waiting_for_person", tenant=tenant)
    endpoints.add("ep-d3", receiver.url("/d3"), "s3", "completed", tenant=tenant)  # not subscribed
    receiver.script("/d1", Answer(503))  # still retrying when the event is emitted again
    event = an_event(type="waiting_for_person", step="review", tenant=tenant)
    resolver = endpoints.resolver()
    first = await emit_for(client, resolver, event, policy=FAST, task_queue=TASK_QUEUE)
    again = await emit_for(client, resolver, event, policy=FAST, task_queue=TASK_QUEUE)
    assert [h.id for h in first] == [
        delivery_workflow_id(event.event_id, e) for e in ("ep-d1", "ep-d2")
    ]
    for h in first:
        await h.result()
    # and once more after the deliveries completed
    late = await emit(client, event, ["ep-d1", "ep-d2"], policy=FAST, task_queue=TASK_QUEUE)
    runs = {(await h.describe()).run_id for h in [*first, *again, *late]}
    assert len(runs) == 2
    assert len(receiver.delivered("/d1")) == 1
    assert len(receiver.delivered("/d2")) == 1
    assert receiver.on("/d3") == []


async def test_delivery_survives_a_worker_sigkill(
    temporal_env: WorkflowEnvironment, client: Client, receiver: Receiver, tmp_path: Path
) -> None:
    """The first attempt is in flight (the receiver holds it) when its worker process is
    killed; another worker process delivers the event: one 2xx answered."""
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(
            {TENANT: [{"endpoint_id": "ep-k", "url": receiver.url("/k"), "secret": "whsec_k"}]}
        )
    )
    receiver.script("/k", Answer(503, hang=True))
    started: list[WorkerProcess] = []

    def spawn(log: str) -> WorkerProcess:
        w = WorkerProcess(
            temporal_env,
            NAMESPACE,
            [DEFAULT_SPEC_DIR],
            tmp_path / log,
            pools="workflows",
            extra_env={"BIZOS_WEBHOOK_ENDPOINTS": str(path)},
        )
        started.append(w)
        return w

    try:
        first = spawn("w1.log")
        event = an_event()
        policy = DeliveryPolicy(initial_interval_s=0.5, max_interval_s=2, request_timeout_s=5)
        [handle] = await emit(client, event, ["ep-k"], policy=policy)

        async def in_flight() -> bool:
            return bool(receiver.on("/k"))

        await eventually(in_flight, timeout_s=60, what="the first attempt to reach the receiver")
        killed_at = time.monotonic()
        first.kill()
        receiver.release.set()  # the held request is answered 503 to nobody
        spawn("w2.log")
        try:
            async with asyncio.timeout(90):
                result = await handle.result()
        except BaseException:
            for log in ("w1.log", "w2.log"):
                print(log, (tmp_path / log).read_text(errors="replace")[-3000:])
            raise
    finally:
        for w in started:
            w.stop()
    got = receiver.on("/k")
    assert len(receiver.delivered("/k")) == 1
    assert result.status_code == 200 and result.attempts >= 2
    assert {r.headers[EVENT_ID_HEADER] for r in got} == {event.event_id}
    # the retry waited for the dead worker's attempt to time out, not for a human
    assert receiver.delivered("/k")[0].at - killed_at < 60


async def test_delivery_histories_replay(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    """The workflow is deterministic: a retried delivery and a refused one replay cleanly."""
    endpoints.add("ep-h1", receiver.url("/h1"), "whsec_h1")
    endpoints.add("ep-h2", receiver.url("/h2"), "whsec_h2")
    receiver.script("/h1", Answer(502))
    receiver.script("/h2", Answer(404))
    handles = await emit(client, an_event(), ["ep-h1", "ep-h2"], policy=FAST, task_queue=TASK_QUEUE)
    await handles[0].result()
    with pytest.raises(WorkflowFailureError):
        await handles[1].result()
    replayer = Replayer(workflows=[DeliverWebhook], plugins=[BizosPlugin()])
    for h in handles:
        await replayer.replay_workflow(await h.fetch_history())


async def test_an_endpoint_that_does_not_answer_in_time_is_retried(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    endpoints.add("ep-t", receiver.url("/t"), "whsec_t")
    receiver.script("/t", Answer(503, hang=True))
    policy = DeliveryPolicy(initial_interval_s=0.2, request_timeout_s=1)
    [handle] = await emit(client, an_event(), ["ep-t"], policy=policy, task_queue=TASK_QUEUE)
    result = await handle.result()
    assert (result.status_code, result.attempts) == (200, 2)
    assert len(receiver.delivered("/t")) == 1


def test_events_stay_small() -> None:
    with pytest.raises(ValueError, match="send references"):
        an_event(outputs="x" * 70_000)


async def test_retries_spent_fail_the_delivery_naming_the_last_answer(
    client: Client, endpoints: Endpoints, receiver: Receiver
) -> None:
    endpoints.add("ep-x", receiver.url("/x"), "whsec_x")
    receiver.script("/x", Answer(500), Answer(500), Answer(500))
    policy = DeliveryPolicy(initial_interval_s=0.1, max_attempts=2)
    [handle] = await emit(client, an_event(), ["ep-x"], policy=policy, task_queue=TASK_QUEUE)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "WebhookNotDelivered"
    assert "HTTP 500" in cause.message
    assert cause.details[0]["attempts"] == 2
    assert cause.details[0]["retry_state"] == "MAXIMUM_ATTEMPTS_REACHED"
    assert len(receiver.on("/x")) == 2
