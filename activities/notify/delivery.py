"""The notification activities the workflow pool hosts:

* `notification_recipients`: who gets which message for a `waiting_for_person` event — the
  event's approver snapshot, their addresses from the tenant's approver group (store), and
  the channels configured (secrets). Email: one message per member with an address. Slack
  with a bot token: a direct message per member with a Slack user id, and one message to the
  group's channel for the members nothing else reaches; with only an incoming-webhook URL:
  one message to its channel. A member the group no longer lists keeps the right to decide
  (the snapshot) but gets no message.
* `send_notification`: one message, its links minted at this attempt (never in history).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http_client import LazyHttpClient
from activities.notify import email, slack
from activities.notify.links import LinkSecretMissing, LinkSettings, approvers_of, links_for
from activities.notify.message import compose
from activities.notify.models import (
    CHANNEL_UNAVAILABLE,
    NOT_DELIVERABLE,
    RESOLVE_RECIPIENTS,
    SEND_NOTIFICATION,
    NotificationRequest,
    NotificationSent,
    Recipient,
    Recipients,
)
from activities.webhooks import WebhookEvent

if TYPE_CHECKING:
    import httpx

    from store import Store


class NotifyActivities:
    """Bound to the store the approver groups are read from (awaited per call: the workflow
    pool opens its store lazily) and one httpx client for Slack."""

    def __init__(
        self,
        store: Callable[[], Awaitable[Store]],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._store = store
        self._http = LazyHttpClient(transport)

    def all(self) -> list[Callable[..., Any]]:
        return [self.notification_recipients, self.send_notification]

    @activity.defn(name=RESOLVE_RECIPIENTS)
    async def notification_recipients(self, event: WebhookEvent) -> Recipients:
        data = event.data
        approvers = approvers_of(data)
        group_name = data.get("group")
        if not approvers or not isinstance(group_name, str):
            return Recipients(skipped=["the wait names no approver group: nobody to tell"])
        store = await self._store()
        group = await store.get_approver_group(event.tenant, group_name)
        if group is None:
            return Recipients(skipped=[f"approver group {group_name} no longer exists"])
        members = {m.principal: m for m in group.members if m.principal in approvers}
        smtp, creds = await asyncio.gather(
            asyncio.to_thread(_smtp_settings), asyncio.to_thread(slack.credentials)
        )
        found: list[Recipient] = []
        skipped = [
            f"{p}: not in group {group_name} any more" for p in approvers if p not in members
        ]
        if smtp is not None:
            found += [
                Recipient(channel="email", address=m.email, principals=[m.principal])
                for m in members.values()
                if m.email
            ]
        if creds.bot_token:
            direct = [m for m in members.values() if m.slack_user]
            found += [
                Recipient(channel="slack", address=m.slack_user, principals=[m.principal])
                for m in direct
                if m.slack_user
            ]
            # the channel is for members no message reaches otherwise: a link in a shared
            # channel is visible to all of it
            reached = {r.principals[0] for r in found}
            rest = [p for p in members if p not in reached]
            if rest and group.slack_channel:
                found.append(
                    Recipient(channel="slack", address=group.slack_channel, principals=rest)
                )
        elif creds.webhook_url and members:
            found.append(
                Recipient(channel="slack", address=slack.WEBHOOK_ADDRESS, principals=list(members))
            )
        if smtp is None and not creds.configured:
            skipped.append("no notification channel is configured (SMTP_HOST, SLACK_*)")
        return Recipients(items=found, skipped=skipped)

    @activity.defn(name=SEND_NOTIFICATION)
    async def send_notification(self, req: NotificationRequest) -> NotificationSent:
        event, to = req.event, req.recipient
        attempt = activity.info().attempt
        settings = LinkSettings()
        try:
            from activities.notify.links import signing_secret

            secret = await asyncio.to_thread(signing_secret, settings)
        except LinkSecretMissing as e:
            raise _refused(str(e)) from None
        links = links_for(
            event_id=event.event_id,
            tenant=event.tenant,
            occurred_at=event.occurred_at,
            data=event.data,
            secret=secret,
            public_url=settings.public_url,
            principals=to.principals,
        )
        notice = compose(event.data, links)
        if to.channel == "email":
            await self._email(event, to, notice)
        else:
            creds = await asyncio.to_thread(slack.credentials)
            try:
                await slack.post(
                    await self._http.get(),
                    creds,
                    to.address,
                    notice,
                    timeout_s=req.policy.request_timeout_s,
                )
            except slack.SlackError as e:
                if not e.retryable:
                    raise _refused(f"Slack: {e}") from None
                raise ApplicationError(
                    f"Slack: {e} (attempt {attempt})",
                    type=CHANNEL_UNAVAILABLE,
                    next_retry_delay=(
                        timedelta(seconds=min(e.retry_after_s, req.policy.max_interval_s))
                        if e.retry_after_s is not None
                        else None
                    ),
                ) from None
        activity.logger.info(
            "notification of %s sent by %s to recipient %s (attempt %d)",
            event.event_id,
            to.channel,
            to.key,
            attempt,
        )
        return NotificationSent(
            channel=to.channel, recipient=to.key, attempt=attempt, links=len(links)
        )

    @staticmethod
    async def _email(event: WebhookEvent, to: Recipient, notice: Any) -> None:
        try:
            smtp = await asyncio.to_thread(_smtp_settings)
            if smtp is None:
                raise email.EmailError(f"{email.HOST} is not configured", retryable=False)
            message = email.build(
                notice, smtp.sender, to.address, f"<{event.event_id}.{to.key}@bizos>"
            )
            await asyncio.to_thread(email.send, smtp, message)
        except email.EmailError as e:
            if not e.retryable:
                raise _refused(f"email: {e}") from None
            raise ApplicationError(f"email: {e}", type=CHANNEL_UNAVAILABLE) from None

    async def close(self) -> None:
        await self._http.close()


def _smtp_settings() -> email.SmtpSettings | None:
    return email.settings()


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=NOT_DELIVERABLE, non_retryable=True)
