"""The registry's tools as CrewAI tools, bound to one step attempt.

Each wrapper validates the arguments the agent wrote against the tool's input model (the
platform sets ``output_dir``: files go under ``$BIZOS_HOME/artifacts/<workflow_id>/<step_id>/``),
runs the tool, records a `ToolCallRecord`, and hands the agent the tool's output as compact
JSON. A tool that fails
(bad input, missing connector credentials) becomes an observation the agent can read —
``{"error": ..., "error_type": ...}`` — rather than an exception that ends the step.
"""

from __future__ import annotations

import activities.crewai_env  # noqa: F401  (must precede the first crewai import)

# isort: split

import functools
import json
import threading
import time
from pathlib import Path
from typing import Any

from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from activities.contract import ToolCallRecord
from activities.providers.step_context import StepContext
from activities.tools.registry import TOOLS, ToolSpec

MAX_RECORDED_ARG_CHARS = 2000


@functools.cache
def agent_args_model(name: str) -> type[BaseModel]:
    """What CrewAI validates the agent's arguments with: anything goes through (the tool's
    own model validates in `StepToolbox.run`, so a bad argument becomes a recorded tool
    failure the agent can read), while the schema the agent is shown is the tool's input
    model without ``output_dir``."""
    real = TOOLS[name].input_model
    cache: dict[str, str] = {}

    class AgentArgs(BaseModel):
        model_config = ConfigDict(extra="allow")

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
            # CrewAI renders every tool's schema into every prompt; generating a pydantic
            # JSON schema costs milliseconds, so it is made once per tool and variant.
            key = repr((args, sorted(kwargs.items())))
            if key not in cache:
                schema = real.model_json_schema(*args, **kwargs)
                schema.get("properties", {}).pop("output_dir", None)
                if "required" in schema:
                    schema["required"] = [f for f in schema["required"] if f != "output_dir"]
                cache[key] = json.dumps(schema)
            return json.loads(cache[key])  # a fresh copy: callers rewrite schemas in place

    AgentArgs.__name__ = AgentArgs.__qualname__ = f"{real.__name__}ForAgent"
    return AgentArgs


class StepToolbox:
    """Tool calls of one step attempt: where files go, and what was called."""

    def __init__(self, output_dir: Path, ctx: StepContext):
        self.output_dir = output_dir
        self.ctx = ctx
        self.records: list[ToolCallRecord] = []
        self._lock = threading.Lock()

    def run(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        self.ctx.check_cancelled()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        ok, summary = True, ""
        try:
            output = spec.run({**arguments, "output_dir": str(self.output_dir)})
            text = output.model_dump_json()
            summary = output.headline
        except (ValidationError, ValueError, LookupError, RuntimeError, OSError) as exc:
            # ToolError, ConnectorNotConfigured and input errors all land here; the agent
            # reads the message and can try something else.
            ok = False
            summary = f"{type(exc).__name__}: {exc}"[:500]
            text = json.dumps({"error": str(exc)[:2000], "error_type": type(exc).__name__})
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self.ctx.tool_ms += elapsed_ms
            self.records.append(
                ToolCallRecord(
                    tool=spec.name,
                    arguments=_bounded(arguments),
                    ok=ok,
                    duration_ms=round(elapsed_ms, 3),
                    summary=summary,
                )
            )
        return text

    def crew_tools(self, names: list[str]) -> list[BaseTool]:
        return [RegistryTool.bind(TOOLS[name], self) for name in names]


class RegistryTool(BaseTool):
    name: str
    description: str
    _spec: ToolSpec | None = PrivateAttr(default=None)
    _toolbox: StepToolbox | None = PrivateAttr(default=None)

    @classmethod
    def bind(cls, spec: ToolSpec, toolbox: StepToolbox) -> RegistryTool:
        tool = cls(
            name=spec.name, description=spec.description, args_schema=agent_args_model(spec.name)
        )
        tool._spec = spec
        tool._toolbox = toolbox
        return tool

    def _run(self, *args: Any, **kwargs: Any) -> str:
        assert self._spec is not None and self._toolbox is not None, "unbound RegistryTool"
        return self._toolbox.run(self._spec, kwargs)


def _bounded(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as recorded in the step result: big values are cut (the result travels in
    workflow history)."""
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        text = json.dumps(value, default=str)
        short = len(text) <= MAX_RECORDED_ARG_CHARS
        out[key] = value if short else text[:MAX_RECORDED_ARG_CHARS] + "…"
    return out
