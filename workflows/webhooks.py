"""Durable webhook delivery: one `DeliverWebhook` workflow per (event, endpoint).

Its id is `webhook.<event_id>.<endpoint_id>`, started with id-conflict policy use-existing and
id-reuse policy reject-duplicate, so an event emitted twice (an activity retried, an API call
repeated) is enqueued once per endpoint for as long as the namespace retains the closed
workflow. The workflow runs the `deliver_webhook` activity (activities/webhooks.py) with a
backoff retry policy; a worker dying mid-request only delays the next attempt. Receivers see
at-least-once delivery with a stable `Bizos-Event-Id`, so they can act once.

The workflow carries the event and the endpoint's id, never its URL or secret: the activity
resolves both at each attempt.

Outcome: the workflow completes with `DeliveryResult` when the endpoint answered 2xx; it
fails (`WebhookRejected`, `WebhookEndpointUnknown`, or `WebhookNotDelivered` once the retries
are spent) with a message naming the endpoint, the status and what the endpoint said; list
them with `WorkflowType='DeliverWebhook' AND ExecutionStatus='Failed'`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    # The activity's models and names: pure pydantic, loaded once per worker (httpx is
    # imported by the activity only when it runs, never here).
    from activities.notify.workflows import start_notifications
    from activities.webhooks import (
        DELIVER_WEBHOOK,
        REJECTED,
        UNKNOWN_ENDPOINT,
        DeliveryAttempt,
        DeliveryPolicy,
        DeliveryRequest,
        EndpointResolver,
        WebhookEvent,
    )
    from workflows import search_attributes as sa
    from workflows.models import WORKFLOWS_TASK_QUEUE

WEBHOOK_WORKFLOW_TYPE = "DeliverWebhook"
NOT_DELIVERED = "WebhookNotDelivered"


class DeliverWebhookInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: WebhookEvent
    endpoint_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class DeliveryResult(BaseModel):
    event_id: str
    endpoint_id: str
    status_code: int
    attempts: int


def delivery_workflow_id(event_id: str, endpoint_id: str) -> str:
    return f"webhook.{event_id}.{endpoint_id}"


@workflow.defn(name=WEBHOOK_WORKFLOW_TYPE)
class DeliverWebhook:
    @workflow.run
    async def run(self, inp: DeliverWebhookInput) -> DeliveryResult:
        policy = inp.policy
        try:
            attempt: DeliveryAttempt = await workflow.execute_activity(
                DELIVER_WEBHOOK,
                DeliveryRequest(
                    event=inp.event,
                    endpoint_id=inp.endpoint_id,
                    request_timeout_s=policy.request_timeout_s,
                    max_retry_after_s=policy.max_interval_s,
                ),
                result_type=DeliveryAttempt,
                # the request's own timeout plus room to sign and resolve the endpoint: an
                # attempt on a worker that died is retried this long after it started
                start_to_close_timeout=timedelta(seconds=policy.request_timeout_s + 5),
                schedule_to_close_timeout=timedelta(seconds=policy.deadline_s),
                retry_policy=policy.retry_policy(REJECTED, UNKNOWN_ENDPOINT),
            )
        except ActivityError as e:
            cause = e.cause
            last: dict[str, Any] = {}
            kind = NOT_DELIVERED
            reason = str(cause or e)
            if isinstance(cause, ApplicationError):
                if cause.type in (REJECTED, UNKNOWN_ENDPOINT):
                    kind = cause.type
                if cause.details and isinstance(cause.details[0], dict):
                    last = cause.details[0]
                reason = cause.message
            raise ApplicationError(
                f"webhook event {inp.event.event_id} ({inp.event.type}) not delivered to "
                f"endpoint {inp.endpoint_id}: {reason}",
                {
                    "event_id": inp.event.event_id,
                    "endpoint_id": inp.endpoint_id,
                    "status_code": last.get("status_code"),
                    "attempts": last.get("attempt"),
                    "retry_state": e.retry_state.name if e.retry_state else None,
                },
                type=kind,
                non_retryable=True,
            ) from e
        return DeliveryResult(
            event_id=inp.event.event_id,
            endpoint_id=inp.endpoint_id,
            status_code=attempt.status_code or 0,
            attempts=attempt.attempt,
        )


async def emit(
    client: Client,
    event: WebhookEvent,
    endpoint_ids: Iterable[str],
    *,
    policy: DeliveryPolicy | None = None,
    task_queue: str = WORKFLOWS_TASK_QUEUE,
) -> list[WorkflowHandle[Any, DeliveryResult]]:
    """Enqueue `event` for each endpoint: one `DeliverWebhook` per (event, endpoint). Safe to
    call again with the same event (returns the existing deliveries' handles): each endpoint
    receives it once. Returns the workflow handles, in `endpoint_ids` order."""
    handles: list[WorkflowHandle[Any, DeliveryResult]] = []
    for endpoint_id in dict.fromkeys(endpoint_ids):
        workflow_id = delivery_workflow_id(event.event_id, endpoint_id)
        try:
            handle = await client.start_workflow(
                DeliverWebhook.run,
                DeliverWebhookInput(
                    event=event, endpoint_id=endpoint_id, policy=policy or DeliveryPolicy()
                ),
                id=workflow_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                # a delivery that already finished is not started again: "emit twice,
                # deliver once" holds after completion too (within the namespace retention)
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(sa.TENANT, event.tenant)]
                ),
                static_summary=f"webhook {event.type} {event.event_id} → {endpoint_id}",
            )
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(workflow_id, result_type=DeliveryResult)
        handles.append(handle)
    return handles


async def emit_for(
    client: Client,
    resolver: EndpointResolver,
    event: WebhookEvent,
    *,
    policy: DeliveryPolicy | None = None,
    task_queue: str = WORKFLOWS_TASK_QUEUE,
) -> list[WorkflowHandle[Any, Any]]:
    """`emit` to every endpoint of the tenant subscribed to the event's type; a
    `waiting_for_person` event naming approvers also starts their Slack and email
    notifications (`NotifyApprovers`, activities/notify/workflows.py), last in the list."""
    targets = await resolver.endpoints_for(event.tenant, event.type)
    handles: list[WorkflowHandle[Any, Any]] = list(
        await emit(
            client,
            event,
            [t.endpoint_id for t in targets],
            policy=policy,
            task_queue=task_queue,
        )
    )
    notifying = await start_notifications(
        client,
        event,
        task_queue=task_queue,
        policy=policy,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.TENANT, event.tenant)]),
    )
    if notifying is not None:
        handles.append(notifying)
    return handles
