"""A tenant's webhook endpoints: register (`POST /webhooks`, the signing secret is shown once),
list, delete. Runs the tenant starts while it has an endpoint emit their execution events
(started, waiting_for_person, completed, failed, budget_alert) to the endpoints subscribed to
them, signed with `Bizos-Signature` (see activities/webhooks.py). Admins only: an endpoint's
URL may itself carry a credential. Another tenant's endpoint is 404."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from activities.webhooks import EVENT_TYPES
from api.auth import Admin
from api.problems import Problem

router = APIRouter(tags=["webhooks"])

EventName = Literal["started", "waiting_for_person", "completed", "failed", "budget_alert"]


class CreateWebhook(BaseModel):
    """Body of `POST /webhooks`."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)
    events: list[EventName] = Field(
        default_factory=lambda: list(EVENT_TYPES),  # type: ignore[arg-type]
        min_length=1,
        description="event types to receive (default: all)",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="the signing secret; generated when left out",
    )


class Webhook(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime


class CreatedWebhook(Webhook):
    secret: str = Field(description="the signing secret: shown this once, keep it")


def _not_found(endpoint_id: str) -> Problem:
    return Problem(404, "Not found", f"no webhook endpoint `{endpoint_id}`")


@router.post("/webhooks", status_code=201, response_model=CreatedWebhook)
async def create_webhook(body: CreateWebhook, request: Request, who: Admin) -> CreatedWebhook:
    store = request.app.state.store
    try:
        info, secret = await store.create_webhook(
            who.tenant, body.url, list(body.events), secret=body.secret
        )
    except ValueError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-webhook") from None
    await store.audit(
        who.tenant, who.name, "webhook.create", info.id, {"url": info.url, "events": info.events}
    )
    return CreatedWebhook(
        id=info.id, url=info.url, events=info.events, created_at=info.created_at, secret=secret
    )


@router.get("/webhooks", response_model=list[Webhook])
async def list_webhooks(request: Request, who: Admin) -> list[Webhook]:
    found = await request.app.state.store.list_webhooks(who.tenant)
    return [Webhook(id=e.id, url=e.url, events=e.events, created_at=e.created_at) for e in found]


@router.delete(
    "/webhooks/{endpoint_id}", status_code=204, response_class=Response, response_model=None
)
async def delete_webhook(endpoint_id: str, request: Request, who: Admin) -> Response:
    from store.webhooks import WebhookNotFound

    store = request.app.state.store
    try:
        info = await store.get_webhook(who.tenant, endpoint_id)
    except WebhookNotFound:
        raise _not_found(endpoint_id) from None
    if info.disabled_at is not None:
        raise _not_found(endpoint_id)
    # disabled, not erased: its deliveries stay explainable; it receives nothing more
    await store.disable_webhook(who.tenant, endpoint_id)
    await store.audit(who.tenant, who.name, "webhook.delete", endpoint_id, {"url": info.url})
    return Response(status_code=204)
