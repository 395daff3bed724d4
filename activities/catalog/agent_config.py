"""The body of an agent configuration version (stored in the store, pinned per run).

A version overrides catalog defaults without editing YAML: the provider chain, temperature,
output tokens per model call (``max_tokens``), persona, extra instructions, per mode.
Everything is optional; an empty body means "catalog defaults". Light module (pydantic only).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from activities.catalog.catalog import MAX_TOKENS_LIMIT, AgentSpec
from activities.providers.refs import ProviderRef


class ModeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: list[ProviderRef] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS_LIMIT, description="output tokens per model call"
    )
    instructions: str | None = Field(default=None, description="appended to the mode's task")
    task: str | None = Field(
        default=None,
        max_length=8000,
        description="replaces the mode's task template ({name} = the step's input values)",
    )
    tools_off: list[str] = Field(default_factory=list, description="tools this mode goes without")


class Targets(BaseModel):
    """What the tenant expects of the agent; shown beside its measured figures."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, ge=0, description="per execution")
    error_rate: float | None = Field(default=None, ge=0, le=1)


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: list[ProviderRef] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOKENS_LIMIT,
        description="output tokens per model call, every mode (a mode's own setting wins)",
    )
    role: str | None = None
    goal: str | None = None
    backstory: str | None = None
    instructions: str | None = Field(default=None, description="appended to every task")
    max_iter: int | None = Field(default=None, ge=1, le=50)
    tools_off: list[str] = Field(default_factory=list, description="tools every mode goes without")
    targets: Targets | None = None
    modes: dict[str, ModeConfig] = Field(default_factory=dict)

    def check_against(self, agent: AgentSpec) -> None:
        """Refuse overrides for modes or tools the agent does not have (a typo would be
        ignored)."""
        unknown = sorted(set(self.modes) - set(agent.modes))
        if unknown:
            raise ValueError(
                f"configuration for agent {agent.id} names unknown modes {unknown}; "
                f"its modes: {', '.join(agent.modes)}"
            )
        every_tool = {t for m in agent.modes for t in agent.mode_tools(m)}
        for where, off in [("tools_off", self.tools_off)] + [
            (f"modes.{m}.tools_off", c.tools_off) for m, c in self.modes.items()
        ]:
            strange = sorted(set(off) - every_tool)
            if strange:
                raise ValueError(
                    f"{where}: agent {agent.id} has no tools {strange}; "
                    f"its tools: {', '.join(sorted(every_tool))}"
                )

    def tools(self, agent: AgentSpec, mode: str) -> list[str]:
        """The mode's tools less those switched off."""
        off = set(self.tools_off) | set(self.mode(mode).tools_off)
        return [t for t in agent.mode_tools(mode) if t not in off]

    def mode(self, name: str) -> ModeConfig:
        return self.modes.get(name) or ModeConfig()


def max_tokens(agent: AgentSpec, mode: str, config: AgentConfig | None) -> int:
    """Output tokens one model call of the step may generate: the configuration version's
    (mode, then agent), else the catalog's (mode, then agent, default 2048)."""
    if config is not None:
        for value in (config.mode(mode).max_tokens, config.max_tokens):
            if value is not None:
                return value
    return agent.max_tokens_for(mode)
