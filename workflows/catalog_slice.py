"""The slice of the agent catalog a template decides on, taken from the full catalog: what
the compiler prices, routes and times steps with, and what a run records at start."""

from __future__ import annotations

from collections.abc import Iterable

from activities.catalog import AgentCatalog
from workflows.models import AgentSlice, CatalogSlice, ModeSlice


def slice_catalog(catalog: AgentCatalog, agents: Iterable[str] | None = None) -> CatalogSlice:
    """`agents` of the catalog (every agent when None); unknown ids are left out, so the
    compiler reports them against the slice."""
    wanted = set(agents) if agents is not None else None
    out: dict[str, AgentSlice] = {}
    for agent in catalog:
        if wanted is not None and agent.id not in wanted:
            continue
        modes = {}
        for name in agent.modes:
            timeout = catalog.default_timeout(agent.id, name)
            modes[name] = ModeSlice(
                cost_estimate_usd=catalog.cost_estimate(agent.id, name),
                timeout_s=timeout.total_seconds() if timeout is not None else None,
            )
        out[agent.id] = AgentSlice(category=agent.category, modes=modes)
    return CatalogSlice(agents=out)
