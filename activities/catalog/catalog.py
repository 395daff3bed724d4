"""The agent catalog: which agents exist, their category (= worker pool) and modes.

Loaded from ``activities/catalog/agents/*.yaml`` once per process. The compiler uses it to
check `agent`/`mode`, to price steps for `budget_usd` and for their default attempt timeout;
the agent activity uses it to build the CrewAI agent. This module stays light (pydantic +
yaml): the CLI's fast paths import it.

Schema of one agent file (every key is checked; unknown keys are errors)::

    id: market_research              # = file stem
    name: Market Research
    category: intelligence           # worker pool / task queue bizos-agents-<category>
    description: ...
    role: / goal: / backstory:       # the CrewAI persona (a mode may override each)
    tools: [page_analysis, ...]      # toolbox shared by every mode
    providers: [openai:gpt-4o-mini, anthropic:claude-3-5-haiku-latest]   # failover order
    temperature: 0.2
    max_tokens: 2048                 # output tokens per model call (default 2048; a mode may
                                     # override): what a call's worst-case cost is priced at
    max_iter: 8                      # CrewAI loop bound (tool calls + answer)
    timeout: 10m                     # optional: default start-to-close of one attempt
                                     # (30s, 5m, 1h30m, ...; a step's own timeout wins)
    tones: {professional: "..."}     # optional: allowed `tone` input values and their guides
    modes:
      marketing_research:
        description: ...
        output: report               # report | plan | table | creative | decision
        cost_estimate_usd: 0.40      # what the workflow adds to its budget before the step
        task: "Research {topic} ..." # {name} = the step's `with:` value (missing: "not given")
        expected_output: ...         # optional extra guidance; the JSON schema is added
        tools: [market_sizing]       # extra tools for this mode
        offline_plan:                # what the offline policy calls, in order
          - tool: market_sizing
            args: {market: "{topic}"}   # merged over the step input; {name} as in `task`;
                                        # {tool.field} = an earlier tool's result in this plan
        providers: [...]             # optional override of the agent's chain
        timeout: 20m                 # optional override of the agent's attempt timeout

Agents of category ``system`` (the built-in ``noop``) need no persona, task or plan.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from activities.catalog.durations import Duration
from activities.catalog.output_models import OutputFamily
from activities.catalog.safe_yaml import SpecFileError, load_yaml_file
from activities.providers.refs import ProviderRef

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
MODES_PER_AGENT = 4
DEFAULT_MAX_TOKENS = 2048
"""Output tokens one model call may generate unless the mode, agent or configuration says."""
MAX_TOKENS_LIMIT = 200_000
CONNECTORS = frozenset(
    {
        "google_ads",
        "meta_ads",
        "linkedin_ads",
        "mailchimp",
        "semrush",
        "ahrefs",
        "ga4",
        "mixpanel",
        "crm",
    }
)
"""SaaS connector tools: they need credentials and never run in an offline plan."""

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class CatalogError(ValueError):
    """A catalog file is invalid; the message names file, agent and mode."""


class PlanStepSpec(BaseModel):
    """One tool call of a mode's offline plan."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class ModeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    cost_estimate_usd: float = Field(default=0.0, ge=0)
    output: OutputFamily | None = None
    task: str | None = None
    expected_output: str = ""
    tools: list[str] = Field(default_factory=list)
    offline_plan: list[PlanStepSpec] = Field(default_factory=list)
    providers: list[ProviderRef] | None = None
    role: str | None = None
    goal: str | None = None
    backstory: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOKENS_LIMIT,
        description="most output tokens one model call may generate; overrides the agent's",
    )
    timeout: Duration | None = Field(
        default=None, description="start-to-close of one attempt; overrides the agent's"
    )

    @field_validator("tools")
    @classmethod
    def _tool_names(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not _ID.match(t)]
        if bad:
            raise ValueError(f"tool names must be snake_case: {bad}")
        return v

    @field_validator("offline_plan")
    @classmethod
    def _plan_has_no_connectors(cls, v: list[PlanStepSpec]) -> list[PlanStepSpec]:
        connectors = [s.tool for s in v if s.tool in CONNECTORS]
        if connectors:
            raise ValueError(
                f"offline_plan calls SaaS connectors {connectors}: they need credentials and "
                "the offline provider must run with none; use a local tool"
            )
        seen: set[str] = set()
        for step in v:
            key = f"{step.tool}:{sorted(step.args.items())}"
            if key in seen:
                # CrewAI caches a repeated call and stops an agent repeating one 5 times.
                raise ValueError(f"offline_plan calls {step.tool} twice with the same args")
            seen.add(key)
        return v


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = ""
    category: str
    description: str = ""
    role: str | None = None
    goal: str | None = None
    backstory: str | None = None
    tools: list[str] = Field(default_factory=list)
    providers: list[ProviderRef] = Field(default_factory=list)
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(
        default=DEFAULT_MAX_TOKENS,
        ge=1,
        le=MAX_TOKENS_LIMIT,
        description="most output tokens one model call may generate (every mode's default): "
        "bounds a runaway generation and makes a call's worst-case cost known",
    )
    max_iter: int = Field(default=8, ge=1, le=50)
    timeout: Duration | None = Field(
        default=None, description="default start-to-close of one attempt of any mode"
    )
    tones: dict[str, str] = Field(default_factory=dict)
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

    @model_validator(mode="after")
    def _complete_for_real_agents(self) -> AgentSpec:
        if self.category == "system":
            return self
        problems: list[str] = []
        if len(self.modes) != MODES_PER_AGENT:
            problems.append(f"has {len(self.modes)} modes; every agent has {MODES_PER_AGENT}")
        for name, mode in self.modes.items():
            where = f"mode {name}"
            for field in ("role", "goal", "backstory"):
                if not (getattr(mode, field) or getattr(self, field)):
                    problems.append(f"{where}: no {field} (set it on the agent or the mode)")
            if not mode.task:
                problems.append(f"{where}: no task template")
            if mode.output is None:
                problems.append(f"{where}: no output family (report|plan|table|creative|decision)")
            if not mode.offline_plan:
                problems.append(f"{where}: empty offline_plan (the offline provider needs one)")
            if not (mode.providers or self.providers):
                problems.append(f"{where}: no provider chain (set providers on agent or mode)")
            available = set(self.tools) | set(mode.tools)
            missing = [s.tool for s in mode.offline_plan if s.tool not in available]
            if missing:
                problems.append(f"{where}: offline_plan uses tools not in its toolbox: {missing}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def mode_tools(self, mode: str) -> list[str]:
        """The agent's toolbox plus the mode's own tools, in order, without repeats."""
        return list(dict.fromkeys([*self.tools, *self.modes[mode].tools]))

    def persona(self, mode: str) -> tuple[str, str, str]:
        m = self.modes[mode]
        return (
            m.role or self.role or self.name or self.id,
            m.goal or self.goal or self.description,
            m.backstory or self.backstory or self.description,
        )

    def provider_chain(self, mode: str) -> list[ProviderRef]:
        return list(self.modes[mode].providers or self.providers)

    def max_tokens_for(self, mode: str) -> int:
        """The mode's output-token limit per model call, else the agent's."""
        own = self.modes[mode].max_tokens
        return own if own is not None else self.max_tokens


def task_queue_for(category: str) -> str:
    return f"bizos-agents-{category}"


class AgentCatalog:
    """All agents, keyed by id. Immutable after load."""

    def __init__(self, agents: dict[str, AgentSpec], files: dict[str, Path] | None = None):
        self._agents = dict(agents)
        self._files = dict(files or {})

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

    def mode(self, agent_id: str, mode: str) -> ModeSpec:
        agent = self.get(agent_id)
        try:
            return agent.modes[mode]
        except KeyError:
            raise KeyError(
                f"agent {agent_id!r} has no mode {mode!r}; its modes: {', '.join(agent.modes)}"
            ) from None

    def file_of(self, agent_id: str) -> Path:
        return self._files.get(agent_id, AGENTS_DIR / f"{agent_id}.yaml")

    def categories(self) -> list[str]:
        return sorted({a.category for a in self._agents.values()})

    def cost_estimate(self, agent_id: str, mode: str) -> float:
        return self.mode(agent_id, mode).cost_estimate_usd

    def default_timeout(self, agent_id: str, mode: str) -> timedelta | None:
        """The attempt timeout the catalog suggests (the mode's, else the agent's); None when
        neither sets one and the caller's own default applies."""
        spec = self.mode(agent_id, mode)
        return spec.timeout if spec.timeout is not None else self.get(agent_id).timeout

    def unknown_tools(self, known: set[str] | frozenset[str]) -> list[str]:
        """Problems (file, agent, mode, tool) for tool names outside ``known`` — checked at
        worker start against the tool registry, which this light module does not import."""
        problems = []
        for agent in self._agents.values():
            for mode_name in agent.modes:
                for tool in agent.mode_tools(mode_name):
                    if tool not in known:
                        problems.append(
                            f"{self.file_of(agent.id)}: agent {agent.id}, mode {mode_name}: "
                            f"unknown tool {tool!r}"
                        )
        return sorted(set(problems))


def _format_validation(path: Path, agent: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        where = f"agent {agent}"
        parts = [str(p) for p in e["loc"]]
        if len(parts) >= 2 and parts[0] == "modes":
            where += f", mode {parts[1]}"
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {where}: {loc + ': ' if loc else ''}{msg}")
    return "\n".join(lines)


def load_catalog(directory: Path = AGENTS_DIR) -> AgentCatalog:
    agents: dict[str, AgentSpec] = {}
    files: dict[str, Path] = {}
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
        files[spec.id] = path
    if errors:
        raise CatalogError("\n".join(errors))
    return AgentCatalog(agents, files)


AGENTS_DIR_ENV = "BIZOS_AGENTS_DIR"


@functools.cache
def default_catalog() -> AgentCatalog:
    """The packaged catalog (or the directory in $BIZOS_AGENTS_DIR), loaded once per
    process."""
    override = os.environ.get(AGENTS_DIR_ENV)
    return load_catalog(Path(override) if override else AGENTS_DIR)
