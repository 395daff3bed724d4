"""A tenant's own model-provider keys (bring your own LLM keys): set one, remove one, list
their names. Write-only: no route ever answers a key's value. Admins only; always the
caller's own tenant. Stored in Vault at `<prefix>/tenants/<tenant>/providers`, where agent
steps of that tenant find them before the platform's keys (docs/secrets.md). With the env
secrets backend nothing can be stored: writes answer 409 saying what to configure."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from activities.secrets import (
    InvalidSecretName,
    SecretsError,
    SecretsReadOnly,
    SecretsUnavailable,
    TenantSecretsBackend,
    get_backend,
    tenant_keys,
)
from api.auth import Admin
from api.problems import Problem

router = APIRouter(tags=["secrets"])

KeyName = Annotated[
    str,
    Path(
        pattern=tenant_keys.PROVIDER_KEY_NAME.pattern,
        description="the provider key's secret name, e.g. OPENAI_API_KEY",
    ),
]


class ProviderKey(BaseModel):
    """Body of `PUT /secrets/providers/{name}`."""

    model_config = ConfigDict(extra="forbid")

    value: SecretStr = Field(
        min_length=1,
        max_length=tenant_keys.MAX_VALUE_CHARS,
        description="the API key; stored in Vault and never shown again",
    )


class ProviderKeys(BaseModel):
    backend: str = Field(description="the secrets backend: `vault` or `env`")
    writable: bool = Field(description="whether this tenant's keys can be stored here")
    names: list[str] = Field(description="names of the tenant's own keys (never values)")


def _problem(e: SecretsError) -> Problem:
    if isinstance(e, SecretsReadOnly):
        return Problem(409, "Secrets backend is read-only", str(e))
    if isinstance(e, InvalidSecretName):
        return Problem(422, "Invalid request", str(e))
    if isinstance(e, SecretsUnavailable):
        return Problem(503, "Secrets store unavailable", str(e))
    return Problem(503, "Secrets store unavailable", str(e))


@router.get("/secrets/providers", response_model=ProviderKeys)
async def list_provider_keys(who: Admin) -> ProviderKeys:
    """The names of the caller's tenant's own provider keys; values are never returned."""
    backend = get_backend()
    kind = str(getattr(backend, "kind", type(backend).__name__))
    if not isinstance(backend, TenantSecretsBackend):
        return ProviderKeys(backend=kind, writable=False, names=[])
    try:  # hvac blocks: off the event loop
        names = await asyncio.to_thread(tenant_keys.key_names, who.tenant, backend=backend)
    except SecretsError as e:
        raise _problem(e) from None
    return ProviderKeys(backend=kind, writable=True, names=names)


@router.put("/secrets/providers/{name}", status_code=204, response_class=Response)
async def put_provider_key(
    name: KeyName, body: ProviderKey, request: Request, who: Admin
) -> Response:
    """Set (or rotate) one of the tenant's own provider keys. Its steps use it from their
    next model call on (within the workers' refresh interval)."""
    try:
        await asyncio.to_thread(
            tenant_keys.put_key, who.tenant, name, body.value.get_secret_value()
        )
    except SecretsError as e:
        raise _problem(e) from None
    await request.app.state.store.audit(who.tenant, who.name, "secret.put", name)
    return Response(status_code=204)


@router.delete("/secrets/providers/{name}", status_code=204, response_class=Response)
async def delete_provider_key(name: KeyName, request: Request, who: Admin) -> Response:
    """Remove one of the tenant's own provider keys: its steps fall back to the platform's."""
    try:
        found = await asyncio.to_thread(tenant_keys.delete_key, who.tenant, name)
    except SecretsError as e:
        raise _problem(e) from None
    if not found:
        raise Problem(404, "Not found", f"tenant {who.tenant} has no key {name}")
    await request.app.state.store.audit(who.tenant, who.name, "secret.delete", name)
    return Response(status_code=204)
