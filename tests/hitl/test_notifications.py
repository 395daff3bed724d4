"""Slack and email notifications of a waiting approval, delivered durably by the workflow pool
(`NotifyApprovers` → one `DeliverNotification` per recipient) to test doubles of Slack's Web
API and of an SMTP server: each approver gets their own one-click link, the links work, a
failed Slack call is retried, and emitting the same event again sends nothing twice."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

from activities.notify.delivery import NotifyActivities
from activities.notify.links import data_with_links
from activities.notify.models import Channel, NotificationRequest, Recipient
from activities.notify.workflows import (
    DeliverNotification,
    NotifyApprovers,
    notification_workflow_id,
    start_notifications,
)
from activities.webhooks import WebhookEvent
from store import Store
from tests.hitl.conftest import HOOK, Hitl
from tests.hitl.doubles import SlackDouble, SmtpDouble
from tests.hitl.support import DIRECTOR, EDITOR, OUTSIDER, start, waiting_at, waiting_events
from tests.support import eventually
from worker.plugin import BizosPlugin
from workflows.models import WORKFLOWS_TASK_QUEUE

TOKEN = "xoxb-test-double-token"


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SlackDouble, SmtpDouble]]:
    slack, smtp = SlackDouble(TOKEN), SmtpDouble()
    # credentials as the secrets store gives them (environment backend)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("BIZOS_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("SMTP_TLS", "none")
    monkeypatch.setenv("SMTP_FROM", "bizos@acme.example")
    try:
        yield slack, smtp
    finally:
        slack.close()
        smtp.close()


def _path(url: str) -> str:
    return urlsplit(url).path


async def test_slack_and_email_carry_each_approvers_working_link(
    hitl: Hitl, doubles: tuple[SlackDouble, SmtpDouble]
) -> None:
    slack, smtp = doubles
    api = hitl.api
    group = {
        "members": [
            {"principal": EDITOR, "email": "ann@acme.example"},
            {"principal": DIRECTOR, "slack_user": "U0DIRECTOR"},
            {"principal": OUTSIDER},  # no address of their own: the group's channel
        ],
        "slack_channel": "#reviews",
    }
    r = await api.http.put(
        "/v1/approver-groups/reviewers", json=group, headers=api.as_("acme:admin")
    )
    assert r.status_code == 200, r.text
    slack.failures.append((500, {"ok": False, "error": "internal_error"}))  # retried

    handle = await start(api.temporal, hitl.reg, "hitl_notify")
    await waiting_at(handle)

    async def all_sent() -> bool:
        return bool(smtp.to("ann@acme.example") and slack.to("U0DIRECTOR") and slack.to("#reviews"))

    await eventually(all_sent, timeout_s=30, what="the email and both Slack messages")
    [mail] = smtp.to("ann@acme.example")
    assert mail["From"] == "bizos@acme.example" and "review" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Publish this draft?" in text
    [ann_link] = re.findall(r"Review and decide as approver@acme: (\S+)", text)

    [dm] = slack.to("U0DIRECTOR")
    buttons = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == [f"Review as {DIRECTOR}"]
    [channel] = slack.to("#reviews")
    assert OUTSIDER in channel["text"] and EDITOR not in channel["text"]

    page = await api.http.get(_path(ann_link))
    assert page.status_code == 200 and "Publish this draft?" in page.text
    decided = await api.http.post(_path(buttons[0]["url"]), data={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    await handle.result()

    # The same event emitted again (a retried emission) starts nothing new: one delivery.
    body = await eventually(
        lambda: _first(waiting_events(hitl.receiver, HOOK, handle.id)), what="the webhook"
    )
    data = {k: v for k, v in body["data"].items() if k not in ("links", "links_error")}
    event = WebhookEvent.model_validate({**body, "data": data})
    again = await start_notifications(api.temporal, event, task_queue=WORKFLOWS_TASK_QUEUE)
    assert again is not None
    result = await again.result()
    assert len(result.sent) == 3 and not result.failed
    assert notification_workflow_id(event.event_id, _recipient("email", "ann@acme.example")) in (
        result.sent
    )
    assert len(smtp.to("ann@acme.example")) == 1 and len(slack.to("U0DIRECTOR")) == 1
    assert len(slack.to("#reviews")) == 1

    # deterministic: the fan-out and a delivery that was retried replay cleanly
    replayer = Replayer(workflows=[NotifyApprovers, DeliverNotification], plugins=[BizosPlugin()])
    await replayer.replay_workflow(await again.fetch_history())
    for child in result.sent:
        await replayer.replay_workflow(
            await api.temporal.get_workflow_handle(child).fetch_history()
        )


async def _first(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    return items[0] if items else None


def _recipient(channel: Channel, address: str) -> Recipient:
    return Recipient(channel=channel, address=address, principals=["x"])


def test_the_webhook_payload_links_are_the_same_at_every_delivery_attempt() -> None:
    """Links are minted from the event id and the principal: a retried delivery sends the
    same link, so one person never holds two live links for one request."""
    data = {
        "workflow_id": "acme.hitl_review.k",
        "step": "review",
        "level": 0,
        "round": 0,
        "approvers": [EDITOR, DIRECTOR],
        "deadline": "2099-01-01T00:00:00+00:00",
    }
    at = datetime.now(UTC)
    one = asyncio.run(data_with_links("evt_" + "a" * 32, "acme", at, data))
    two = asyncio.run(data_with_links("evt_" + "a" * 32, "acme", at, data))
    other = asyncio.run(data_with_links("evt_" + "b" * 32, "acme", at, data))
    assert one["links"] == two["links"] and set(one["links"]) == {EDITOR, DIRECTOR}
    assert one["links"][EDITOR] != other["links"][EDITOR]
    assert json.dumps(one["links"]).count("/v1/links/") == 2


async def test_with_only_an_incoming_webhook_one_slack_message_carries_every_link(
    hitl: Hitl, doubles: tuple[SlackDouble, SmtpDouble], monkeypatch: pytest.MonkeyPatch
) -> None:
    slack, _ = doubles
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.delenv("SMTP_HOST")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook_url)
    event = WebhookEvent.for_run(
        tenant="acme",
        type="waiting_for_person",
        workflow_id="acme.hitl_review.hooked",
        run_id="r1",
        occurred_at=datetime.now(UTC),
        step="review",
        level=1,
        round=0,
        data={"prompt": "Publish?", "group": "directors", "approvers": [DIRECTOR]},
    )
    activities = NotifyActivities(_store(hitl))
    try:
        found = await activities.notification_recipients(event)
        assert [(r.channel, r.address, r.principals) for r in found.items] == [
            ("slack", "webhook", [DIRECTOR])
        ]
        sent = await ActivityEnvironment().run(
            activities.send_notification,
            NotificationRequest(event=event, recipient=found.items[0]),
        )
    finally:
        await activities.close()
    assert sent.links == 1
    [message] = slack.hooked
    assert "channel" not in message and f"Review and decide as {DIRECTOR}" in message["text"]
    assert "/v1/links/" in message["text"]


def _store(hitl: Hitl) -> Callable[[], Awaitable[Store]]:
    async def store() -> Store:
        return hitl.api.store

    return store
