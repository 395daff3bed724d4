"""Which provider chain a step uses, and whether it runs offline.

Precedence, first found wins: ``BIZOS_PROVIDERS_<AGENT_ID>`` (env, per agent) >
``BIZOS_PROVIDERS`` (env, all agents) > the pinned configuration version (mode, then agent)
> the catalog (mode, then agent). Links without credentials are dropped; when none is left
the step runs on the ``offline`` policy and says so. ``offline`` first in a chain forces it.
The offline policy is never a failover target: a failing real provider must not turn into
made-up output.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pydantic import BaseModel

from activities.catalog import AgentSpec
from activities.catalog.agent_config import AgentConfig
from activities.providers.refs import ProviderRef, parse_chain


class ResolvedChain(BaseModel):
    links: list[ProviderRef]
    source: str
    offline: bool
    offline_reason: str = ""


def _env_chain(agent_id: str) -> tuple[list[ProviderRef], str] | None:
    for name in (f"BIZOS_PROVIDERS_{agent_id.upper()}", "BIZOS_PROVIDERS"):
        value = os.environ.get(name, "").strip()
        if value:
            return parse_chain(value), f"env {name}"
    return None


def resolve_chain(
    agent: AgentSpec,
    mode: str,
    config: AgentConfig | None = None,
    *,
    configured: Callable[[ProviderRef], bool] | None = None,
) -> ResolvedChain:
    """``configured(ref)`` says whether a link has credentials (default: the secrets store)."""
    from activities.providers.credentials import is_configured

    check = configured or is_configured
    env = _env_chain(agent.id)
    if env is not None:
        chain, source = env
    elif config is not None and config.mode(mode).providers:
        chain, source = list(config.mode(mode).providers or []), "configuration (mode)"
    elif config is not None and config.providers:
        chain, source = list(config.providers), "configuration (agent)"
    else:
        chain, source = agent.provider_chain(mode), "catalog"
    if chain and chain[0].provider == "offline":
        return ResolvedChain(
            links=[], source=source, offline=True, offline_reason=f"{source} says offline"
        )
    usable = [ref for ref in chain if ref.provider != "offline" and check(ref)]
    if usable:
        return ResolvedChain(links=usable, source=source, offline=False)
    names = ", ".join(ref.label for ref in chain if ref.provider != "offline") or "none"
    return ResolvedChain(
        links=[],
        source=source,
        offline=True,
        offline_reason=f"no provider keys configured (chain from {source}: {names})",
    )
