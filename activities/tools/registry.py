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
* Arguments arrive in the shapes their callers produce: a step input written by a person or
  by an expression, an earlier step's output, or a model. `ToolInput` takes the unambiguous
  variants (one string for a list of strings, a one-element list for a string) and refuses
  the rest with a `ValidationError` naming the argument and the shape it needs, before the
  tool's code sees them: a tool never meets a list where its code expects a mapping.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic.fields import FieldInfo


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    output_dir: str | None = Field(
        default=None, description="where the tool writes files; set by the agent activity"
    )

    @model_validator(mode="before")
    @classmethod
    def _caller_shapes(cls, data: Any) -> Any:
        """The unambiguous variants of an argument's shape, as callers produce them: one
        string where a list of strings is expected (``keywords: "e-bike"``), a list of one
        string where a string is expected (an expression's ``filter(...)`` without
        ``[0]``). Everything else is left to validation, which names the argument."""
        if isinstance(data, BaseModel):
            return data  # an input model already validated
        if not isinstance(data, Mapping):
            raise ValueError(
                f"the arguments must be an object of named values, not {describe_shape(data)}"
            )
        strings, lists = _string_fields(cls)
        out = dict(data)
        for key, value in data.items():
            if key in lists and isinstance(value, str):
                out[key] = [value]
            elif key in strings and _one_string(value):
                out[key] = value[0]
        return out


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


def describe_shape(value: Any) -> str:
    """A value's JSON shape in words, for messages: "a list of 2 objects", "a string"."""
    if isinstance(value, list | tuple):
        if not value:
            return "an empty list"
        kinds = {_kind(v) for v in value}
        kind = kinds.pop() if len(kinds) == 1 else "mixed value"
        return f"a list of {len(value)} {kind}{'' if len(value) == 1 else 's'}"
    kind = _kind(value)
    return kind if kind == "null" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


_SHAPES: dict[type[BaseModel], tuple[frozenset[str], frozenset[str]]] = {}


def _string_fields(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    """The argument names (field names and aliases) of ``model``'s ``str`` fields and of its
    ``list[str]`` fields (either optional), worked out once per model."""
    known = _SHAPES.get(model)
    if known is None:
        strings: set[str] = set()
        lists: set[str] = set()
        for name, field in model.model_fields.items():
            kinds = _without_none(field.annotation)
            if kinds == [str]:
                strings.update(_names(name, field))
            elif kinds == [list[str]]:
                lists.update(_names(name, field))
        known = _SHAPES[model] = (frozenset(strings), frozenset(lists))
    return known


def _without_none(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _names(name: str, field: FieldInfo) -> set[str]:
    names = {name}
    alias = field.validation_alias
    if isinstance(alias, str):
        names.add(alias)
    elif isinstance(alias, AliasChoices):
        names.update(c for c in alias.choices if isinstance(c, str))
    return names


def _one_string(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)


TOOLS: dict[str, ToolSpec] = {}

In = TypeVar("In", bound=ToolInput)
Out = TypeVar("Out", bound=ToolOutput)


def tool(name: str, description: str) -> Callable[[Callable[[In], Out]], Callable[[In], Out]]:
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
