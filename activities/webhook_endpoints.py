"""Where the workflow pool finds a tenant's webhook endpoints: the store's `webhook_endpoints`
table (registered over `POST /v1/webhooks`), plus the BIZOS_WEBHOOK_ENDPOINTS file when one
is configured. Both the `emit_run_event` local activity (which endpoints get an event) and
the `deliver_webhook` activity (URL and secret at each attempt) ask the same resolver, so an
endpoint disabled between the two stops receiving."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from activities.webhooks import (
    ENDPOINTS_FILE_ENV,
    EVENT_TYPES,
    EndpointResolver,
    FileEndpoints,
    WebhookTarget,
)

if TYPE_CHECKING:
    from store import Store


class StoreEndpoints:
    """Endpoints from the store. `store` is awaited at each call (the workflow pool opens
    its store lazily, on the first run that needs it)."""

    def __init__(self, store: Callable[[], Awaitable[Store]]) -> None:
        self._store = store

    async def endpoints_for(self, tenant: str, event_type: str) -> list[WebhookTarget]:
        store = await self._store()
        # list_webhooks leaves disabled endpoints out and filters by subscription
        found = await store.list_webhooks(tenant, event=event_type)
        return [
            WebhookTarget(
                endpoint_id=e.id,
                url=e.url,
                event_types=[t for t in e.events if t in EVENT_TYPES],  # type: ignore[misc]
            )
            for e in found
            if e.disabled_at is None and event_type in e.events
        ]

    async def secret_for(self, tenant: str, endpoint_id: str) -> str | None:
        from store.webhooks import WebhookNotFound

        store = await self._store()
        try:
            return await store.webhook_secret(tenant, endpoint_id) or None
        except WebhookNotFound:
            return None


class ChainedEndpoints:
    """Several resolvers as one: endpoints of all, the first secret found."""

    def __init__(self, *resolvers: EndpointResolver) -> None:
        self._resolvers = resolvers

    async def endpoints_for(self, tenant: str, event_type: str) -> list[WebhookTarget]:
        found: list[WebhookTarget] = []
        for resolver in self._resolvers:
            found.extend(await resolver.endpoints_for(tenant, event_type))
        return found

    async def secret_for(self, tenant: str, endpoint_id: str) -> str | None:
        for resolver in self._resolvers:
            secret = await resolver.secret_for(tenant, endpoint_id)
            if secret:
                return secret
        return None


def store_resolver(store: Callable[[], Awaitable[Store]]) -> EndpointResolver:
    """The store's endpoints, and the BIZOS_WEBHOOK_ENDPOINTS file's when it is set."""
    from_store = StoreEndpoints(store)
    if os.environ.get(ENDPOINTS_FILE_ENV):
        return ChainedEndpoints(from_store, FileEndpoints())
    return from_store
