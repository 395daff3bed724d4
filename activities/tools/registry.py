"""The tool registry: one `ToolSpec` per tool, by unique snake_case name.

Contract every tool keeps (the offline provider and the CrewAI wrappers rely on it):

* The input model subclasses `ToolInput`: unknown keys are ignored and every field has a
  default, so a tool runs on any step input (`with:` of the step). Where data is not
  provided, the tool derives deterministic sample data from the input it was given (a seed
  from a hash of the input), so different input gives different output.
* Big data travels by reference: file paths (CSV/Parquet/HTML/...) in `*_ref`/`*_path`
  fields, never megabytes inline. Files a tool writes go under `output_dir`.
* The output model subclasses `ToolOutput`: `headline` is one sentence with the key
  numbers; `metrics` holds the key figures; `recommendations` what to do next;
  `artifacts` the files written.
* Tools are pure Python on wheel-only libraries; no network. Connectors to SaaS APIs say
  clearly when no credentials are configured and never fake data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    output_dir: str | None = Field(
        default=None, description="where the tool writes files; set by the agent activity"
    )


class ToolOutput(BaseModel):
    headline: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    recommendations: list[str] = Field(default_factory=list)
    artifacts: list[str] = Field(default_factory=list)


class ToolError(RuntimeError):
    """A tool could not do its work with the input it was given (message says why)."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_model: type[ToolInput]
    output_model: type[ToolOutput]
    func: Callable[[Any], ToolOutput]

    def run(self, arguments: dict[str, Any]) -> ToolOutput:
        return self.func(self.input_model.model_validate(arguments))


TOOLS: dict[str, ToolSpec] = {}

In = TypeVar("In", bound=ToolInput)
Out = TypeVar("Out", bound=ToolOutput)


def tool(
    name: str, description: str
) -> Callable[[Callable[[In], Out]], Callable[[In], Out]]:
    """Register a function `f(InputModel) -> OutputModel` as a tool (types from annotations)."""

    def decorate(func: Callable[[In], Out]) -> Callable[[In], Out]:
        import typing

        hints = typing.get_type_hints(func)
        params = [v for k, v in hints.items() if k != "return"]
        if len(params) != 1 or "return" not in hints:
            raise TypeError(f"tool {name}: annotate exactly one input model and the return model")
        if name in TOOLS:
            raise ValueError(f"tool {name!r} registered twice")
        TOOLS[name] = ToolSpec(name, description, params[0], hints["return"], func)
        return func

    return decorate
