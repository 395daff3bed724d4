"""The agent catalog: which agents exist, their pools, modes, tools, output models and
configuration overrides (``catalog``, ``output_models``, ``agent_config``), loaded from
``agents/*.yaml`` with the safe YAML loader (``safe_yaml``).

Light (pydantic + yaml, no crewai): the CLI's fast paths, the compiler and the workflow
sandbox (passed through) import it.
"""

from activities.catalog.catalog import (
    AGENTS_DIR,
    CATEGORIES,
    CONNECTORS,
    MODES_PER_AGENT,
    AgentCatalog,
    AgentSpec,
    CatalogError,
    ModeSpec,
    PlanStepSpec,
    default_catalog,
    load_catalog,
    task_queue_for,
)

__all__ = [
    "AGENTS_DIR",
    "CATEGORIES",
    "CONNECTORS",
    "MODES_PER_AGENT",
    "AgentCatalog",
    "AgentSpec",
    "CatalogError",
    "ModeSpec",
    "PlanStepSpec",
    "default_catalog",
    "load_catalog",
    "task_queue_for",
]
