"""Durable notifications, in the pattern of `DeliverWebhook` (workflows/webhooks.py):

* `NotifyApprovers` (id ``notify.<event_id>``), one per `waiting_for_person` event that names
  approvers: resolves the recipients (an activity), then starts one `DeliverNotification`
  per recipient and waits for them;
* `DeliverNotification` (id ``notify.<event_id>.<channel>.<recipient key>``): one message,
  sent by the `send_notification` activity with a backoff retry policy, so a worker dying
  mid-send only delays the next attempt.

Both ids derive from the event id (run, step, level, round), and starts use id-conflict
policy use-existing and id-reuse policy reject-duplicate: a repeated emission is one
delivery. Recipient keys are hashes: no address appears in a workflow id.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    # pure pydantic models and names, loaded once per worker
    from activities.notify.links import approvers_of
    from activities.notify.models import (
        NOT_DELIVERABLE,
        RESOLVE_RECIPIENTS,
        SEND_NOTIFICATION,
        NotificationRequest,
        NotificationSent,
        NotifyInput,
        NotifyResult,
        Recipient,
        Recipients,
    )
    from activities.webhooks import DeliveryPolicy, WebhookEvent

NOTIFY_WORKFLOW_TYPE = "NotifyApprovers"
NOTIFICATION_WORKFLOW_TYPE = "DeliverNotification"


def notify_workflow_id(event_id: str) -> str:
    return f"notify.{event_id}"


def notification_workflow_id(event_id: str, recipient: Recipient) -> str:
    return f"notify.{event_id}.{recipient.channel}.{recipient.key}"


@workflow.defn(name=NOTIFICATION_WORKFLOW_TYPE)
class DeliverNotification:
    @workflow.run
    async def run(self, req: NotificationRequest) -> NotificationSent:
        policy = req.policy
        sent: NotificationSent = await workflow.execute_activity(
            SEND_NOTIFICATION,
            req,
            result_type=NotificationSent,
            start_to_close_timeout=timedelta(seconds=policy.request_timeout_s + 15),
            schedule_to_close_timeout=timedelta(seconds=policy.deadline_s),
            retry_policy=policy.retry_policy(NOT_DELIVERABLE),
            summary=f"{req.recipient.channel} {req.recipient.key}",
        )
        return sent


@workflow.defn(name=NOTIFY_WORKFLOW_TYPE)
class NotifyApprovers:
    @workflow.run
    async def run(self, inp: NotifyInput) -> NotifyResult:
        event = inp.event
        recipients: Recipients = await workflow.execute_activity(
            RESOLVE_RECIPIENTS,
            event,
            result_type=Recipients,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=20),
            summary="who to tell",
        )
        result = NotifyResult(event_id=event.event_id, skipped=recipients.skipped)
        ids = [notification_workflow_id(event.event_id, r) for r in recipients.items]
        children = [
            await workflow.start_child_workflow(
                DeliverNotification.run,
                NotificationRequest(event=event, recipient=r, policy=inp.policy),
                id=child_id,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=f"{r.channel} notification {event.event_id}",
            )
            for r, child_id in zip(recipients.items, ids, strict=True)
        ]
        outcomes = await asyncio.gather(*children, return_exceptions=True)
        for child_id, outcome in zip(ids, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                cause = getattr(outcome, "cause", None) or outcome
                result.failed.append(f"{child_id}: {getattr(cause, 'message', cause)}")
            else:
                result.sent.append(child_id)
        if result.failed and not result.sent:
            raise ApplicationError(
                f"no notification of {event.event_id} was delivered: {'; '.join(result.failed)}",
                result.model_dump(),
                type="NotificationsNotDelivered",
                non_retryable=True,
            )
        return result


async def start_notifications(
    client: Any,
    event: WebhookEvent,
    *,
    task_queue: str,
    policy: DeliveryPolicy | None = None,
    search_attributes: TypedSearchAttributes | None = None,
) -> Any | None:
    """Start `NotifyApprovers` for a `waiting_for_person` event naming approvers (None for any
    other event). Safe to call again with the same event: one notification run per event."""
    if event.type != "waiting_for_person" or not approvers_of(event.data):
        return None
    workflow_id = notify_workflow_id(event.event_id)
    try:
        return await client.start_workflow(
            NotifyApprovers.run,
            NotifyInput(event=event, policy=policy or DeliveryPolicy()),
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search_attributes,
            static_summary=f"notify approvers {event.event_id}",
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id, result_type=NotifyResult)
