"""What crosses the Temporal boundary for notifications: who is told where, and the outcome.
Pure pydantic (the notification workflows import it in their sandbox)."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from activities.webhooks import DeliveryPolicy, WebhookEvent

RESOLVE_RECIPIENTS = "notification_recipients"
SEND_NOTIFICATION = "send_notification"
NOT_DELIVERABLE = "NotificationNotDeliverable"
"""Retrying cannot help: the channel is not configured, the address is refused, bad auth."""
CHANNEL_UNAVAILABLE = "NotificationChannelUnavailable"
"""A timeout, a connection error, 5xx or a rate limit: retried with backoff."""

Channel = Literal["email", "slack"]


class Recipient(BaseModel):
    """One message to send: an email address, a Slack user or channel (or the incoming
    webhook's channel, address ``webhook``), carrying the links of ``principals``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel
    address: str = Field(max_length=320)
    principals: list[str] = Field(min_length=1)

    @property
    def key(self) -> str:
        """A stable name for workflow ids that does not spell out an address (workflow ids
        are not encrypted: no personal data there)."""
        return hashlib.sha256(f"{self.channel}\n{self.address}".encode()).hexdigest()[:16]


class Recipients(BaseModel):
    items: list[Recipient] = Field(default_factory=list)
    skipped: list[str] = Field(
        default_factory=list, description="why some approvers get no message (no address…)"
    )


class NotifyInput(BaseModel):
    """Input of `NotifyApprovers`: the `waiting_for_person` event (ids and summaries only)."""

    model_config = ConfigDict(extra="forbid")

    event: WebhookEvent
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class NotificationRequest(BaseModel):
    """Input of `DeliverNotification` and of the `send_notification` activity."""

    model_config = ConfigDict(extra="forbid")

    event: WebhookEvent
    recipient: Recipient
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class NotificationSent(BaseModel):
    channel: Channel
    recipient: str = Field(description="the recipient's key (not its address)")
    attempt: int
    links: int = Field(description="how many decision links the message carried")


class NotifyResult(BaseModel):
    event_id: str
    sent: list[str] = Field(default_factory=list, description="delivery workflow ids")
    failed: list[str] = Field(default_factory=list, description="id: why")
    skipped: list[str] = Field(default_factory=list)
