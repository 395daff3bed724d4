"""The agent catalog: which agents exist, their category (= worker pool) and modes.

Loaded from ``activities/agents/*.yaml`` once per process. The compiler uses it to check
`agent`/`mode` and to price steps for `budget_usd`; the agent activity uses it to build the
CrewAI agent. This module stays light (pydantic + yaml): the CLI's fast paths import it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workflows.yaml_loader import SpecFileError, load_yaml_file

AGENTS_DIR = Path(__file__).parent / "agents"
CATEGORIES = (
    "intelligence",
    "content",
    "marketing",
    "technical",
    "customer",
    "finance",
    "gaming",
    "commerce",
    "orchestration",
    "system",
)
_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class CatalogError(ValueError):
    """A catalog file is invalid; the message names file, agent and mode."""


class ModeSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    description: str = ""
    cost_estimate_usd: float = Field(default=0.0, ge=0)


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str = ""
    category: str
    description: str = ""
    modes: dict[str, ModeSpec]

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"agent id {v!r} must be snake_case")
        return v

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str) -> str:
        if v not in CATEGORIES:
            raise ValueError(f"unknown category {v!r}; expected one of {', '.join(CATEGORIES)}")
        return v

    @field_validator("modes")
    @classmethod
    def _has_modes(cls, v: dict[str, ModeSpec]) -> dict[str, ModeSpec]:
        if not v:
            raise ValueError("an agent needs at least one mode")
        bad = [m for m in v if not _ID.match(m)]
        if bad:
            raise ValueError(f"mode names must be snake_case: {bad}")
        return v


def task_queue_for(category: str) -> str:
    return f"bizos-agents-{category}"


class AgentCatalog:
    """All agents, keyed by id. Immutable after load."""

    def __init__(self, agents: dict[str, AgentSpec]):
        self._agents = dict(agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._agents.values())

    def __len__(self) -> int:
        return len(self._agents)

    def get(self, agent_id: str) -> AgentSpec:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise KeyError(
                f"unknown agent {agent_id!r}; known agents: {', '.join(sorted(self._agents))}"
            ) from None

    def categories(self) -> list[str]:
        return sorted({a.category for a in self._agents.values()})

    def cost_estimate(self, agent_id: str, mode: str) -> float:
        return self.get(agent_id).modes[mode].cost_estimate_usd


def _format_validation(path: Path, agent: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        where = f"agent {agent}"
        parts = [str(p) for p in e["loc"]]
        if len(parts) >= 2 and parts[0] == "modes":
            where += f", mode {parts[1]}"
        lines.append(f"{path}: {where}: {loc}: {e['msg']}")
    return "\n".join(lines)


def load_catalog(directory: Path = AGENTS_DIR) -> AgentCatalog:
    agents: dict[str, AgentSpec] = {}
    errors: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            raw: Any = load_yaml_file(path)
        except SpecFileError as e:
            errors.append(str(e))
            continue
        if not isinstance(raw, dict):
            errors.append(f"{path}: an agent file must be a mapping")
            continue
        agent_id = str(raw.get("id", path.stem))
        try:
            spec = AgentSpec.model_validate(raw)
        except ValidationError as e:
            errors.append(_format_validation(path, agent_id, e))
            continue
        if spec.id != path.stem:
            errors.append(f"{path}: agent {spec.id}: id must equal the file name {path.stem!r}")
            continue
        agents[spec.id] = spec
    if errors:
        raise CatalogError("\n".join(errors))
    return AgentCatalog(agents)


@functools.cache
def default_catalog() -> AgentCatalog:
    """The packaged catalog, loaded once per process."""
    return load_catalog()
