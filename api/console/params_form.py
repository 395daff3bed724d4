"""A launch form generated from a template's params (`params:` of its spec, the contract its
`params_model` enforces), and the way back: the posted text turned into typed params, with
each validation message next to its field.

Types become inputs: a string a text box (a text area when its values run long), an integer
or a number a number box with the spec's bounds, a boolean a checkbox, an `enum` a select,
an array or an object a JSON text area (an array of strings also takes one item per line).
Defaults are filled in, the spec's `example` is each field's placeholder (and the "use the
example" link fills the form with it), descriptions are hints, required fields are marked.

Every posted value comes back into the form as it was typed, valid or not, so a mistake
costs one correction, never a retyped form. Field names are ``params.<name>``, apart from the
run's own options (``budget_usd``, ``price_as``) and the session's ``csrf_token``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from workflows.compiler import CompiledDag
from workflows.spec import ParamSpec, ParamType

PREFIX = "params."
LONG_TEXT = 60  # characters: a string whose default or example runs longer gets a text area

InputKind = Literal["text", "textarea", "number", "checkbox", "select", "json"]


@dataclass
class FormField:
    """One input of the launch form, ready for the template (`params_form.html`)."""

    name: str  # the param
    input_name: str  # the form field (`params.<name>`)
    kind: InputKind
    type_label: str  # "string", "integer", "array of strings", …
    required: bool
    description: str = ""
    hint: str = ""
    value: str = ""  # the text in the box (or the selected option)
    checked: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    minimum: str = ""
    maximum: str = ""
    step: str = ""
    placeholder: str = ""
    rows: int = 3
    error: str = ""


@dataclass
class ParsedForm:
    """What a posted form gives: the params (valid only if `errors` is empty), each field's
    message, the messages that belong to no field, and the typed text to show again."""

    params: dict[str, Any]
    errors: dict[str, str]
    general: list[str]
    values: dict[str, str]
    budget_usd: float | None = None
    price_as: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.general


# ---------------------------------------------------------------- values as text


def _is_str_list(p: ParamSpec) -> bool:
    return p.type is ParamType.array and p.items in (None, ParamType.string)


def _kind(p: ParamSpec) -> InputKind:
    if p.enum:
        return "select"
    if p.type is ParamType.boolean:
        return "checkbox"
    if p.type in (ParamType.integer, ParamType.number):
        return "number"
    if p.type in (ParamType.array, ParamType.object):
        return "json"
    return "text"


def _type_label(p: ParamSpec) -> str:
    if p.enum:
        return "one of " + ", ".join(str(v) for v in p.enum)
    if p.type is ParamType.array:
        return f"array of {p.items.value}s" if p.items is not None else "array"
    return p.type.value


def as_text(p: ParamSpec, value: Any) -> str:
    """How `value` of param `p` reads in its input (the inverse of `_from_text`)."""
    if value is None:
        return ""
    if p.type is ParamType.boolean and not p.enum:
        return "true" if value else ""
    if p.type in (ParamType.array, ParamType.object) and not p.enum:
        if (
            _is_str_list(p)
            and isinstance(value, list)
            and all(isinstance(v, str) and v.strip() == v and v and "\n" not in v for v in value)
            and value
        ):
            return "\n".join(value)  # one item per line reads best in a text area
        if isinstance(value, list) and not value:
            return ""
        return json.dumps(value, indent=2 if _nested(value) else None, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _nested(value: Any) -> bool:
    items = value if isinstance(value, list) else list(value.values())
    return any(isinstance(v, (list, dict)) for v in items)


def _placeholder(p: ParamSpec, example: Any) -> str:
    if example is None:
        return ""
    text = as_text(p, example)
    return text if "\n" not in text else text.replace("\n", ", ")


class _Unparsable(ValueError):
    pass


def _from_text(p: ParamSpec, text: str) -> Any:
    """The typed value of an input's text (`_Unparsable` with a message for the field; a
    value of the wrong type is left for the params model to name)."""
    if p.enum:
        for option in p.enum:
            if str(option) == text:
                return option
        return text
    if p.type is ParamType.integer:
        try:
            return int(text.strip())
        except ValueError:
            return text  # the model says "Input should be a valid integer"
    if p.type is ParamType.number:
        s = text.strip()
        try:
            return int(s)
        except ValueError:
            pass
        try:
            number = float(s)
        except ValueError:
            return text
        if not math.isfinite(number):
            raise _Unparsable("Input should be a finite number")
        return number
    if p.type is ParamType.boolean:
        return text.strip().lower() in ("true", "on", "1", "yes")
    if p.type in (ParamType.array, ParamType.object):
        s = text.strip()
        if _is_str_list(p) and not s.startswith("["):
            return [line.strip() for line in s.splitlines() if line.strip()]
        try:
            return json.loads(s)
        except json.JSONDecodeError as e:
            what = "array" if p.type is ParamType.array else "object"
            message = f"not valid JSON ({e.msg} at line {e.lineno}): expected a {what}"
            raise _Unparsable(message) from None
    return text


# ---------------------------------------------------------------- the form


def form_fields(
    dag: CompiledDag,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    """The inputs for `dag`'s params: with `values` (a posted form's text, by param) shown
    as typed, else each default; `errors` by param."""
    example = dag.spec.example or {}
    out = []
    for name, p in dag.spec.params.items():
        kind = _kind(p)
        text = values[name] if values is not None and name in values else as_text(p, p.default)
        f = FormField(
            name=name,
            input_name=PREFIX + name,
            kind=kind,
            type_label=_type_label(p),
            required=p.required,
            description=p.description,
            value=text,
            placeholder=_placeholder(p, example.get(name)),
            error=(errors or {}).get(name, ""),
        )
        if kind == "select":
            f.options = [("", "—")] if not p.required and p.default is None else []
            f.options += [(str(v), str(v)) for v in p.enum or []]
            if p.default is None and p.required and values is None:
                f.value = ""
                f.options.insert(0, ("", "choose…"))
        elif kind == "checkbox":
            f.checked = text.strip().lower() in ("true", "on", "1", "yes")
        elif kind == "number":
            f.minimum = "" if p.minimum is None else as_text(p, p.minimum)
            f.maximum = "" if p.maximum is None else as_text(p, p.maximum)
            f.step = "1" if p.type is ParamType.integer else "any"
        elif kind == "json":
            if _is_str_list(p):
                f.hint = 'one per line, or a JSON array (["a", "b"])'
            elif p.type is ParamType.array:
                f.hint = "a JSON array" + (f" of {p.items.value}s" if p.items is not None else "")
            else:
                f.hint = 'a JSON object ({"key": "value"})'
            shown = text or f.placeholder
            f.rows = max(3, min(12, shown.count("\n") + 2))
        if kind == "text" and (
            "\n" in text
            or len(text) > LONG_TEXT
            or len(as_text(p, example.get(name))) > LONG_TEXT
            or len(as_text(p, p.default)) > LONG_TEXT
        ):
            f.kind = "textarea"
            f.rows = 4
        out.append(f)
    return out


def example_values(dag: CompiledDag) -> dict[str, str]:
    """The form filled with the spec's `example` (defaults where it says nothing)."""
    example = dag.spec.example or {}
    return {name: as_text(p, example.get(name, p.default)) for name, p in dag.spec.params.items()}


def values_of(dag: CompiledDag, params: Mapping[str, Any]) -> dict[str, str]:
    """The form's text for typed `params` (an earlier run's, an estimate's)."""
    return {name: as_text(p, params.get(name, p.default)) for name, p in dag.spec.params.items()}


def parse_form(dag: CompiledDag, form: Mapping[str, Any]) -> ParsedForm:
    """A posted launch form: typed params checked with the template's params model, the
    run's options, and a message per field for whatever is wrong."""
    values: dict[str, str] = {}
    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, p in dag.spec.params.items():
        raw = form.get(PREFIX + name)
        text = "" if raw is None else str(raw)
        if p.type is ParamType.boolean and not p.enum:
            text = "true" if text.strip().lower() in ("true", "on", "1", "yes") else ""
            values[name] = text
            params[name] = bool(text)
            continue
        values[name] = text
        if not text.strip():
            continue  # the default applies (a required param is then missing)
        try:
            params[name] = _from_text(p, text)
        except _Unparsable as e:
            errors[name] = str(e)
    general: list[str] = []
    try:
        dag.params_model.model_validate(params)
    except ValidationError as e:
        for err in e.errors():
            loc = err["loc"]
            name = str(loc[0]) if loc else ""
            if name not in dag.spec.params:
                general.append(f"{'.'.join(str(x) for x in loc) or 'params'}: {err['msg']}")
                continue
            if name in errors:
                continue
            if err["type"] == "missing":
                message = "required: fill this in"
            else:
                where = ".".join(str(x) for x in loc[1:])
                message = (f"item {where}: " if where else "") + err["msg"]
            errors[name] = message
    parsed = ParsedForm(params=params, errors=errors, general=general, values=values)
    _run_options(form, parsed)
    return parsed


def _run_options(form: Mapping[str, Any], parsed: ParsedForm) -> None:
    budget = str(form.get("budget_usd") or "").strip()
    parsed.values["budget_usd"] = budget
    if budget:
        try:
            value = float(budget)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            parsed.errors["budget_usd"] = "a positive amount in USD, e.g. 5 or 2.50"
        else:
            parsed.budget_usd = value
    price_as = str(form.get("price_as") or "").strip()
    parsed.values["price_as"] = price_as
    if price_as and price_as != "none":
        from starters.runs import check_price_as

        try:
            check_price_as(price_as)
        except ValueError as e:
            parsed.errors["price_as"] = str(e).removeprefix("--price-as: ")
        else:
            parsed.price_as = price_as


def price_as_choices() -> list[tuple[str, str]]:
    """`price_as` options: each step as its chain's first provider, or one listed model."""
    from activities.providers.estimates import PRICE_AS_CHAIN
    from activities.providers.prices import PRICES

    return [(PRICE_AS_CHAIN, "each step as its agent's first provider (chain)")] + [
        (label, label) for label in PRICES
    ]
