"""The words of a notification, from a `waiting_for_person` event's data and the links minted
for its recipient: a subject, a plain-text body and an HTML body (escaped), shared by the
email and Slack connectors."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str
    html: str
    prompt: str
    where: str  # "review of acme.content_creation.k1 (level 2 of 2, round 1)"
    links: dict[str, str]


def _where(data: dict[str, Any]) -> str:
    step, run = data.get("step", "?"), data.get("workflow_id", "?")
    parts = []
    levels = data.get("levels")
    if isinstance(levels, int) and levels > 1:
        parts.append(f"level {int(data.get('level') or 0) + 1} of {levels}")
    group = data.get("group")
    if group:
        parts.append(f"group {group}")
    if data.get("round"):
        parts.append(f"revision round {data['round']}")
    return f"{step} of {run}" + (f" ({', '.join(parts)})" if parts else "")


def compose(data: dict[str, Any], links: dict[str, str]) -> Notice:
    """The notice for a waiting step; ``links`` = ``{principal: url}`` of this recipient."""
    kind = str(data.get("kind") or "approval")
    prompt = str(data.get("prompt") or "A decision is needed")
    where = _where(data)
    deadline = data.get("deadline")
    lines = [prompt, "", f"Waiting for your {kind}: {where}."]
    if deadline:
        lines.append(f"Decide before {deadline}; after that the request moves on.")
    if data.get("bind"):
        lines.append(f"What you decide on: the outputs of {', '.join(map(str, data['bind']))}.")
    lines.append("")
    for principal, url in links.items():
        lines.append(f"Review and decide as {principal}: {url}")
    lines += ["", "The link opens a confirmation page; only its buttons decide. Use it once."]
    items = "".join(
        f'<li><a href="{html.escape(url)}">Review and decide as {html.escape(p)}</a></li>'
        for p, url in links.items()
    )
    body = (
        f"<p><strong>{html.escape(prompt)}</strong></p>"
        f"<p>Waiting for your {html.escape(kind)}: {html.escape(where)}.</p>"
        + (f"<p>Decide before {html.escape(str(deadline))}.</p>" if deadline else "")
        + f"<ul>{items}</ul>"
        "<p>The link opens a confirmation page; only its buttons decide. Use it once.</p>"
    )
    return Notice(
        subject=f"[BizOS] {kind} needed: {where}"[:200],
        text="\n".join(lines),
        html=body,
        prompt=prompt,
        where=where,
        links=links,
    )
