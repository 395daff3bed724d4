"""Build the CrewAI Agent, Task and Crew of one agent step from the catalog entry, the mode
and the pinned configuration version. Pure construction; nothing runs here."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.llms.base_llm import BaseLLM
from crewai.tools import BaseTool

from activities.catalog.agent_config import AgentConfig
from activities.catalog.catalog import AgentSpec
from activities.catalog.output_models import schema_hint
from activities.crew.patches import StepCrew, apply_speedups

apply_speedups()

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
NOT_GIVEN = "(not given)"
MAX_INPUT_JSON_CHARS = 20_000


def render_template(template: str, inputs: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        v = inputs.get(match.group(1))
        if v is None or v == "":
            return NOT_GIVEN
        return v if isinstance(v, str) else json.dumps(v, default=str)

    return _PLACEHOLDER.sub(value, template)


@functools.cache
def _schema(family: str) -> str:
    return schema_hint(family)


def task_text(
    agent: AgentSpec, mode: str, inputs: dict[str, Any], config: AgentConfig | None
) -> tuple[str, str]:
    """(description, expected_output) of the CrewAI task."""
    spec = agent.modes[mode]
    values = dict(inputs)
    tone = inputs.get("tone")
    if agent.tones and isinstance(tone, str):
        values["tone_guide"] = agent.tones.get(tone, "")
    template = (config.mode(mode).task if config else None) or spec.task or spec.description
    parts = [render_template(template, values)]
    extra = [config.instructions, config.mode(mode).instructions] if config else []
    parts.extend(text for text in extra if text)
    input_json = json.dumps(inputs, sort_keys=True, default=str)
    if len(input_json) > MAX_INPUT_JSON_CHARS:
        input_json = input_json[:MAX_INPUT_JSON_CHARS] + "…"
    parts.append(f"Step input (JSON): {input_json}")
    family = spec.output or "report"
    expected = (
        (spec.expected_output + "\n" if spec.expected_output else "")
        + f"A single JSON object (no prose, no code fence) for the '{family}' output model, "
        + f"matching this JSON schema: {_schema(family)}"
    )
    return "\n\n".join(parts), expected


def build_crew(
    agent: AgentSpec,
    mode: str,
    inputs: dict[str, Any],
    *,
    llm: BaseLLM,
    tools: list[BaseTool],
    config: AgentConfig | None = None,
) -> Crew:
    role, goal, backstory = agent.persona(mode)
    if config is not None:
        role, goal, backstory = (
            config.role or role,
            config.goal or goal,
            config.backstory or backstory,
        )
    max_iter = (config.max_iter if config and config.max_iter else None) or agent.max_iter
    crew_agent = Agent(
        role=role,
        goal=goal,
        backstory=backstory,
        llm=llm,
        tools=tools,
        allow_delegation=False,
        max_iter=max_iter,
        max_retry_limit=0,  # Temporal owns retries of the attempt
        verbose=False,
    )
    description, expected = task_text(agent, mode, inputs, config)
    task = Task(description=description, expected_output=expected, agent=crew_agent)
    return StepCrew(
        agents=[crew_agent],
        tasks=[task],
        process=Process.sequential,
        tracing=False,
        verbose=False,
    )
