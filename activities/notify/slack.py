"""Slack: a notification through `chat.postMessage` with a bot token (``SLACK_BOT_TOKEN``; to
a member's Slack user id, i.e. a direct message, or to the group's channel), or through an
incoming-webhook URL (``SLACK_WEBHOOK_URL``; its own fixed channel). Credentials are read
through `activities.secrets.get_secret` at each attempt. ``BIZOS_SLACK_API_URL`` points the
Web API elsewhere (a proxy, or a test double); default ``https://slack.com/api``.

Failures say whether retrying can help: Slack's `ratelimited`, 5xx, timeouts and connection
errors are retryable (after Retry-After when given); bad auth, unknown channels and other
refusals are not."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from activities.notify.message import Notice

if TYPE_CHECKING:
    import httpx

BOT_TOKEN = "SLACK_BOT_TOKEN"
WEBHOOK_URL = "SLACK_WEBHOOK_URL"
API_URL_ENV = "BIZOS_SLACK_API_URL"
DEFAULT_API_URL = "https://slack.com/api"
WEBHOOK_ADDRESS = "webhook"
"""A recipient address meaning "the incoming webhook's channel"."""
_RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}
)


@dataclass(frozen=True)
class SlackCredentials:
    bot_token: str | None
    webhook_url: str | None

    @property
    def configured(self) -> bool:
        return bool(self.bot_token or self.webhook_url)


class SlackError(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


def credentials() -> SlackCredentials:
    """Blocking (the Vault backend): call through ``asyncio.to_thread``."""
    from activities.secrets import get_secret

    return SlackCredentials(get_secret(BOT_TOKEN), get_secret(WEBHOOK_URL))


def blocks(notice: Notice) -> list[dict[str, Any]]:
    """A section with the prompt and one URL button per principal's link."""
    out: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{notice.prompt[:2900]}*\n{notice.where}"},
        }
    ]
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": f"Review as {principal}"[:75]},
            "url": url,
        }
        for principal, url in list(notice.links.items())[:25]
    ]
    if buttons:
        out.append({"type": "actions", "elements": buttons})
    return out


async def post(
    client: httpx.AsyncClient,
    creds: SlackCredentials,
    address: str,
    notice: Notice,
    *,
    timeout_s: float = 10.0,
) -> None:
    """Send ``notice`` to ``address`` (a user id, a channel, or `WEBHOOK_ADDRESS`)."""
    import httpx

    payload: dict[str, Any] = {"text": notice.text, "blocks": blocks(notice)}
    if address == WEBHOOK_ADDRESS:
        if not creds.webhook_url:
            raise SlackError(f"{WEBHOOK_URL} is not configured", retryable=False)
        url, headers = creds.webhook_url, {}
    else:
        if not creds.bot_token:
            raise SlackError(f"{BOT_TOKEN} is not configured", retryable=False)
        base = os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        url = base.rstrip("/") + "/chat.postMessage"
        headers = {"Authorization": f"Bearer {creds.bot_token}"}
        payload["channel"] = address
        payload["unfurl_links"] = False
    try:
        async with asyncio.timeout(timeout_s):
            resp = await client.post(url, json=payload, headers=headers, timeout=timeout_s)
    except (httpx.TimeoutException, TimeoutError):
        raise SlackError(f"Slack did not answer within {timeout_s:g}s", retryable=True) from None
    except httpx.HTTPError as e:
        # the text of an httpx error names the URL, never the Authorization header
        raise SlackError(f"Slack unreachable: {type(e).__name__}", retryable=True) from None
    retry_after = resp.headers.get("Retry-After")
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    if resp.status_code == 429 or resp.status_code >= 500:
        raise SlackError(
            f"Slack answered HTTP {resp.status_code}", retryable=True, retry_after_s=delay
        )
    if resp.status_code >= 400:
        raise SlackError(
            f"Slack refused the message: HTTP {resp.status_code} {resp.text[:200]}",
            retryable=False,
        )
    if address == WEBHOOK_ADDRESS:
        return  # incoming webhooks answer 200 "ok"
    try:
        answer = resp.json()
    except ValueError:
        raise SlackError("Slack answered something that is not JSON", retryable=True) from None
    if not answer.get("ok"):
        error = str(answer.get("error") or "unknown error")
        raise SlackError(
            f"Slack refused the message: {error}",
            retryable=error in _RETRYABLE_ERRORS,
            retry_after_s=delay,
        )
