"""The registry's tools as CrewAI tools, bound to one step attempt.

Each wrapper fetches the ``blob://`` refs among the arguments the agent wrote into the
attempt's scratch directory (`StepFiles`), validates them against the tool's input model (the
platform sets ``output_dir`` to that directory), runs the tool, stores the files it wrote in
the blob store, records a `ToolCallRecord`, and hands the agent the tool's output as compact
JSON with refs in place of local paths. A tool that fails becomes an observation the agent
can read — ``{"error": ..., "error_type": ...}`` — so a model can correct its arguments or
try another tool; the record keeps the failure and whether another attempt could succeed
(`retryable_tool_error`). Whether the step may pass with failed tools is decided after the
crew finishes (``activities.agent_step.tool_failures``).

A tool refuses arguments it cannot use with a `ToolError` or a pydantic `ValidationError`
that names them. Anything else it raises is a crash, not a refusal: the observation then
also says the shape of each argument it was given, and the worker log has the traceback, so
a crash on an argument of a shape nobody expected can be traced to its caller.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from activities.contract import ToolCallRecord
from activities.providers.step_context import StepCancelled, StepContext
from activities.tools.connectors import ConnectorNotConfigured
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import TOOLS, ToolError, ToolSpec, describe_shape

if TYPE_CHECKING:
    from activities.agent_step.files import StepFiles

log = logging.getLogger(__name__)
MAX_RECORDED_ARG_CHARS = 2000
MAX_ERROR_CHARS = 2000
# The same arguments fail the same way on every attempt (and ConnectorNotConfigured waits
# for someone to set credentials): retrying cannot help.
_INPUT_ERRORS = (
    ValidationError,
    ValueError,
    LookupError,
    InvalidToolInput,
    ConnectorNotConfigured,
)


def retryable_tool_error(exc: Exception) -> bool:
    """False for input problems; True for I/O and anything unexpected, which another attempt
    (later, maybe on another host) may get past."""
    return not isinstance(exc, _INPUT_ERRORS)


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
    """Tool calls of one step attempt: its files (refs in, refs out), and what was called."""

    def __init__(self, files: StepFiles, ctx: StepContext):
        self.files = files
        self.output_dir = files.output_dir
        self.ctx = ctx
        self.records: list[ToolCallRecord] = []
        self._lock = threading.Lock()

    def run(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        self.ctx.check_cancelled()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        error_type: str | None = None
        retryable: bool | None = None
        try:
            staged = self.files.stage(arguments)  # blob:// refs -> files in the scratch dir
            output = spec.run({**staged, "output_dir": str(self.output_dir)})
            # the files it wrote -> blob refs: no local path leaves the attempt
            data = self.files.publish(json.loads(output.model_dump_json()))
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            summary = str(data.get("headline", ""))
        except Exception as exc:
            # Every failure, expected (ToolError, bad input) or not, reaches the agent as an
            # observation it can act on, and the record says what kind it was.
            error_type, retryable = type(exc).__name__, retryable_tool_error(exc)
            message = str(exc)
            if not isinstance(exc, ToolError | ValidationError | StepCancelled):
                shapes = argument_shapes(arguments)
                log.warning("tool %s crashed on arguments %s", spec.name, shapes, exc_info=True)
                message = f"{message[:300]} (arguments: {shapes})"
            summary = f"{error_type}: {message}"[:500]
            text = json.dumps({"error": message[:MAX_ERROR_CHARS], "error_type": error_type})
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self.ctx.tool_ms += elapsed_ms
            self.records.append(
                ToolCallRecord(
                    tool=spec.name,
                    arguments=_bounded(arguments),
                    ok=error_type is None,
                    duration_ms=round(elapsed_ms, 3),
                    summary=summary,
                    error_type=error_type,
                    retryable=retryable,
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


def argument_shapes(arguments: Any) -> str:
    """``table_path: a string, group_by: a list of 2 strings`` — what a tool was given, in
    words (values left out: they may be long or private)."""
    if not isinstance(arguments, dict):
        return describe_shape(arguments)
    return ", ".join(f"{k}: {describe_shape(v)}" for k, v in arguments.items()) or "none"


def _bounded(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as recorded in the step result: big values are cut (the result travels in
    workflow history)."""
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        text = json.dumps(value, default=str)
        short = len(text) <= MAX_RECORDED_ARG_CHARS
        out[key] = value if short else text[:MAX_RECORDED_ARG_CHARS] + "…"
    return out
