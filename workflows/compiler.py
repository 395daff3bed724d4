"""Spec compiler: YAML file -> validated, frozen, hashed `CompiledDag`.

Runs outside the workflow sandbox, once per process (the worker compiles every template at
start). Every problem is reported as `file: step <id>: <problem>`, all of them at once,
never as a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)
from temporalio.common import RetryPolicy

from activities.agent_step.heartbeat import MIN_HEARTBEAT_TIMEOUT
from activities.catalog import AgentCatalog, default_catalog, task_queue_for
from activities.catalog.safe_yaml import (
    MAX_SPEC_BYTES,
    SpecFileError,
    load_yaml_file,
    load_yaml_text,
)
from activities.contract import (
    AGGREGATE_INLINE_BYTES,
    INLINE_OUTPUT_LIMIT_BYTES,
    MIN_VIEW_BYTES,
    OUTPUT_VIEW_LIMIT_BYTES,
)
from workflows.branch_checks import reject_branch_problems
from workflows.catalog_slice import slice_catalog
from workflows.expressions import (
    FOREACH_ROOTS,
    ROOTS,
    Expr,
    ExpressionError,
    Template,
    compile_cel,
    compile_template,
)
from workflows.models import CatalogSlice
from workflows.people_checks import People, compile_people
from workflows.spec import DagSpec, ParamSpec, ParamType, StepSpec, workflow_type_for

# Temporal's hard limits (a run is terminated past them) and warning thresholds.
HISTORY_EVENTS_LIMIT = 51_200
HISTORY_EVENTS_WARN = 10_240
HISTORY_BYTES_LIMIT = 50 * 1024 * 1024
HISTORY_BYTES_WARN = 10 * 1024 * 1024
PENDING_ACTIVITIES_LIMIT = 2_000
# Worst-case events each construct adds (scheduled/started/completed + its workflow task).
EVENTS_PER_ACTIVITY = 6
EVENTS_PER_CHILD = 6
EVENTS_PER_DECISION = 12  # update/signal + timer + workflow task + search-attribute upserts
EVENTS_BASE = 8
EVENTS_PER_LOCAL_ACTIVITY = 2  # a marker and the task that records it
INPUT_BYTES_ESTIMATE = 8 * 1024
PAYLOAD_BUDGET_BYTES = 3 * 512 * 1024  # of Temporal's 2 MB per payload, with room for the rest

DEFAULT_AGENT_TIMEOUT = timedelta(minutes=10)
DEFAULT_HEARTBEAT = timedelta(seconds=30)
DEFAULT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=3,
)


class CompileError(ValueError):
    """One or more problems in spec files; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class SizeEstimate:
    events: int
    history_bytes: int
    pending_activities: int


@dataclass(frozen=True, eq=False)
class CompiledStep:
    id: str
    spec: StepSpec
    kind: str
    after: tuple[str, ...]
    upstream: frozenset[str]
    when: Expr | None
    inputs: Template
    foreach: Template | None
    choice_by: Expr | None = None
    gated_by: tuple[str, frozenset[str]] | None = None  # (choice step, options that run it)
    task_queue: str | None = None
    cost_estimate_usd: float = 0.0
    retry_policy: RetryPolicy | None = None
    timeout: timedelta | None = None
    deadline: timedelta | None = None
    heartbeat: timedelta | None = None
    child_type: str | None = None
    summary: str = ""
    inline_limit_bytes: int = INLINE_OUTPUT_LIMIT_BYTES  # per call (a foreach item's share)
    view_limit_bytes: int = OUTPUT_VIEW_LIMIT_BYTES  # the view of an output sent by reference
    people: People = field(
        default_factory=People
    )  # approvals and choices: levels, revise loop, bound outputs


@dataclass(frozen=True, eq=False)
class CompiledDag:
    spec: DagSpec
    source: str
    hash: str
    steps: dict[str, CompiledStep]  # topological order
    params_model: type[BaseModel]
    outputs: tuple[str, ...]
    size: SizeEstimate
    warnings: tuple[str, ...] = field(default=())
    text: str = field(default="", repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def workflow_type(self) -> str:
        return workflow_type_for(self.spec.name)

    @property
    def pin(self) -> dict[str, Any]:
        """What a run records (memo `bizos_spec`) to stay on this exact spec."""
        return {"name": self.name, "version": self.version, "hash": self.hash}


def spec_hash(raw: Any) -> str:
    """What pins a run to its spec. `schedules` only say when runs start, not how they run,
    so they are left out: changing a cron needs no version bump."""
    if isinstance(raw, dict) and "schedules" in raw:
        raw = {k: v for k, v in raw.items() if k != "schedules"}
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- cron

CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    ("day-of-week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)


def _cron_value(text: str, low: int, names: tuple[str, ...]) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + (1 if low == 1 else 0)
    if not text.isdigit():
        raise ValueError(f"`{text}` is not a number{' or a name' if names else ''}")
    return int(text)


def cron_problem(expr: str) -> str | None:
    """Why a cron expression would be refused (None = it is fine). Five fields in UTC
    (minute hour day-of-month month day-of-week: `*`, `a`, `a-b`, lists, `/step`, month and
    weekday names) or a macro such as @daily: what Temporal schedules accept."""
    text = expr.strip()
    if text.startswith("@"):
        if text.lower() in CRON_MACROS:
            return None
        return f"unknown macro `{text}` (use one of {', '.join(sorted(CRON_MACROS))})"
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    for field_text, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in field_text.split(","):
            base, _, step = item.partition("/")
            try:
                if step and (not step.isdigit() or int(step) == 0):
                    raise ValueError(f"step `{step}` must be a positive number")
                if base in ("*", "?"):
                    if base == "?" and label not in ("day-of-month", "day-of-week"):
                        raise ValueError("`?` only fits day-of-month and day-of-week")
                    continue
                first, _, last = base.partition("-")
                values = [_cron_value(first, low, names)]
                if last:
                    values.append(_cron_value(last, low, names))
                for v in values:
                    if not low <= v <= high:
                        raise ValueError(f"{v} is outside {low}-{high}")
                if len(values) == 2 and values[0] > values[1]:
                    raise ValueError(f"range `{base}` runs backwards")
            except ValueError as e:
                return f"{label} `{item}`: {e}"
    return None


# ---------------------------------------------------------------- pydantic errors -> lines


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    from workflows import spec as s

    model: type[BaseModel] | None = DagSpec
    path = list(loc)
    nested: dict[tuple[str], type[BaseModel]] = {
        ("steps",): StepSpec,
        ("params",): ParamSpec,
        ("approval",): s.ApprovalSpec,
        ("choice",): s.ChoiceSpec,
        ("retry",): s.RetrySpec,
        ("schedules",): s.ScheduleSpec,
    }
    while path and model is not None:
        key = path.pop(0)
        if isinstance(key, int):
            continue
        nxt = nested.get((str(key),))
        if nxt is None:
            return model if not path else None
        if nxt is ParamSpec and path:
            path.pop(0)  # the param's name
        model = nxt
    return model


def _is_union_tag(part: Any) -> bool:
    """pydantic names the member of a union an error is about (`str`, `list[any]`,
    `dict[str,any]`, `function-before[…]`): not a key the author wrote."""
    if not isinstance(part, str) or part == "[key]":
        return False
    return part in ("str", "int", "float", "bool", "none") or ("[" in part and part.endswith("]"))


def _key_part(part: Any) -> str:
    return "(a key)" if part == "[key]" else str(part)


def _merged(described: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One line per place: a union's members each report why they refused the value
    (`foreach: Input should be a valid string`, `… a valid list`); say it once, with `or`."""
    out: dict[tuple[str, str], list[str]] = {}
    for where, what in described:
        key, sep, msg = what.partition(": ")
        slot = (where, key if sep else what)
        if slot in out and sep:
            if msg not in out[slot]:
                out[slot].append(msg)
        else:
            out.setdefault(slot, [msg] if sep else [])
    return [
        (where, f"{key}: {' or '.join(msgs)}" if msgs else key)
        for (where, key), msgs in out.items()
    ]


def _describe(raw: dict[str, Any], err: Any) -> tuple[str, str]:
    """(where, what) for one pydantic error."""
    loc = tuple(err["loc"])
    where = "spec"
    rest = list(loc)
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = raw.get("steps") or []
        sid = None
        if loc[1] < len(steps) and isinstance(steps[loc[1]], dict):
            sid = steps[loc[1]].get("id")
        where = f"step {sid}" if sid else f"step #{loc[1] + 1}"
        rest = list(loc[2:])
    elif len(loc) >= 2 and loc[0] == "schedules" and isinstance(loc[1], int):
        schedules = raw.get("schedules") or []
        sched_id = None
        if loc[1] < len(schedules) and isinstance(schedules[loc[1]], dict):
            sched_id = schedules[loc[1]].get("id")
        where = f"schedule {sched_id}" if sched_id else f"schedule #{loc[1] + 1}"
        rest = list(loc[2:])
    elif len(loc) >= 2 and loc[0] == "params":
        where = f"param {loc[1]}"
        rest = list(loc[2:])
    key = ".".join(_key_part(p) for p in rest if not _is_union_tag(p))
    if err["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(loc[-1]), _field_names(model), n=1)
            if close:
                hint = f" (did you mean `{close[0]}`?)"
        return where, f"unknown key `{loc[-1]}`{hint}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return where, f"missing required key `{key}`"
    return where, f"{key}: {msg}" if key else msg


# ---------------------------------------------------------------- the shape of the data

MAX_NESTING = 24  # mappings and lists inside each other; the templates use at most ~8
# Steps in one template. The checks across steps are quadratic (each step's upstream set):
# 2,700 steps took 30 s to compile. History limits allow ~700 agent steps at most anyway.
MAX_STEPS = 500


def _path_where(raw: dict[str, Any], path: list[Any]) -> tuple[str, str]:
    """(where, key path) of a place in the raw spec, as the other problems name it."""
    where, rest = "spec", path
    if len(path) >= 2 and path[0] in ("steps", "schedules") and isinstance(path[1], int):
        items = raw.get(path[0])
        item = items[path[1]] if isinstance(items, list) else None
        ident = item.get("id") if isinstance(item, dict) else None
        noun = "step" if path[0] == "steps" else "schedule"
        where = f"{noun} {ident}" if isinstance(ident, str) else f"{noun} #{path[1] + 1}"
        rest = path[2:]
    elif len(path) >= 2 and path[0] == "params":
        where, rest = f"param {path[1]}", path[2:]
    return where, "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")


def _shape_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """What no later check can survive: mapping keys that are not strings (YAML allows `1:`,
    `true:`, `null:`; JSON and the spec hash do not) and nesting deep enough to exhaust
    Python's recursion limit in the checks and in Temporal's payload converter; and numbers
    JSON cannot carry (`.nan`, `.inf`: Temporal's converter turns them into null). Walked
    with an explicit stack, reported once per place."""
    problems: list[tuple[str, str]] = []
    todo: list[tuple[Any, list[Any]]] = [(raw, [])]
    while todo and len(problems) < 20:
        node, path = todo.pop()
        if len(path) > MAX_NESTING:
            where, key = _path_where(raw, path)
            problems.append((where, f"{key}: nested more than {MAX_NESTING} levels deep"))
            continue
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    where, key = _path_where(raw, path)
                    problems.append(
                        (where, f"{key + ': ' if key else ''}key {k!r} is not a string (quote it)")
                    )
                else:
                    todo.append((v, [*path, k]))
        elif isinstance(node, list):
            todo.extend((v, [*path, i]) for i, v in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            where, key = _path_where(raw, path)
            problems.append(
                (
                    where,
                    f"{key + ': ' if key else ''}{node} is not a finite number",
                )
            )
    return problems


# ---------------------------------------------------------------- params contract


def _param_annotation(p: ParamSpec) -> Any:
    base: dict[ParamType, Any] = {
        ParamType.string: StrictStr,
        ParamType.integer: StrictInt,
        ParamType.number: float,
        ParamType.boolean: StrictBool,
        ParamType.array: list[Any],
        ParamType.object: dict[str, Any],
    }
    if p.enum:
        return Literal[tuple(p.enum)]
    if p.type is ParamType.array and p.items is not None:
        return list[base[p.items]]  # type: ignore[name-defined,valid-type]
    return base[p.type]


def build_params_model(name: str, params: dict[str, ParamSpec]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for pname, p in params.items():
        constraints: dict[str, Any] = {"description": p.description}
        if p.minimum is not None:
            constraints["ge"] = p.minimum
        if p.maximum is not None:
            constraints["le"] = p.maximum
        if p.required:
            fields[pname] = (_param_annotation(p), Field(..., **constraints))
        else:
            fields[pname] = (
                _param_annotation(p) | None,
                Field(default=p.default, validate_default=True, **constraints),
            )
    model = create_model(  # type: ignore[call-overload]
        f"{workflow_type_for(name)}Params",
        __config__=ConfigDict(extra="forbid", frozen=True),
        **fields,
    )
    return model  # type: ignore[no-any-return]


def params_error_lines(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "params"
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown param `{loc}`")
        elif e["type"] == "missing":
            lines.append(f"missing required param `{loc}`")
        else:
            lines.append(f"param `{loc}`: {e['msg']}")
    return lines


# ---------------------------------------------------------------- compile


def _topo_order(steps: list[StepSpec]) -> tuple[list[str], list[str]]:
    """(order, cycle) — cycle is non-empty when the graph has one."""
    ids = [s.id for s in steps]
    deps = {s.id: [d for d in s.after if d in ids and d != s.id] for s in steps}
    state: dict[str, int] = {}
    order: list[str] = []

    def visit(root: str) -> list[str]:
        # Depth-first with an explicit stack: a chain of a thousand steps would pass
        # Python's recursion limit. Visits in the order the recursive walk did (the order
        # steps are scheduled in, so replays of older runs depend on it).
        state[root] = 1
        stack, next_dep = [root], [0]
        while stack:
            n, i = stack[-1], next_dep[-1]
            if i < len(deps[n]):
                next_dep[-1] += 1
                d = deps[n][i]
                if state.get(d) == 1:
                    return [*stack[stack.index(d) :], d]
                if d not in state:
                    state[d] = 1
                    stack.append(d)
                    next_dep.append(0)
            else:
                stack.pop()
                next_dep.pop()
                state[n] = 2
                order.append(n)
        return []

    for n in ids:
        if n not in state:
            cycle = visit(n)
            if cycle:
                return [], cycle
    return order, []


def _foreach_problem(foreach: Template, params: dict[str, ParamSpec] | None) -> str | None:
    """Why a `foreach` can never give a list, when that is known before the run."""
    if foreach.kind == "literal" and not isinstance(foreach.value, list):
        return f"{foreach.value!r} is not a list: give a list, or one `${{expr}}` that gives one"
    if foreach.kind == "interp":
        return "`${…}` inside a longer string gives a string: use exactly one `${expr}`"
    if foreach.kind == "expr" and foreach.expr is not None and params is not None:
        source = foreach.expr.source.strip()
        name = source.removeprefix("params.")
        if name != source and name in params and params[name].type is not ParamType.array:
            return f"`{source}` is a {params[name].type.value} param, not an array"
    return None


def _retry_policy(step: StepSpec) -> RetryPolicy:
    r = step.retry
    if r is None:
        return DEFAULT_RETRY
    return RetryPolicy(
        initial_interval=r.initial_interval,
        backoff_coefficient=r.backoff_coefficient,
        maximum_interval=r.maximum_interval,
        maximum_attempts=r.maximum_attempts,
        non_retryable_error_types=r.non_retryable_error_types or None,
    )


def _check_name(source: str, name: str, bad: Callable[[str, str], None]) -> None:
    stem = Path(source).stem.split("@")[0]
    if Path(source).suffix in (".yaml", ".yml") and stem != name:
        bad("spec", f"name `{name}` must equal the file name `{stem}`")


def _salvage_steps(raw: dict[str, Any]) -> tuple[list[StepSpec], frozenset[str]]:
    """The steps of a spec its model refused, for the checks across steps: every step valid
    on its own, and of the others their id and `after` (the graph still needs them). The
    ids of those partial steps come second: their own content was already reported."""
    steps: list[StepSpec] = []
    partial: set[str] = set()
    raw_steps = raw.get("steps")
    for s in raw_steps if isinstance(raw_steps, list) else []:
        try:
            steps.append(StepSpec.model_validate(s))
            continue
        except ValidationError:
            pass
        if isinstance(s, dict) and isinstance(s.get("id"), str):
            after = s.get("after") or []
            after = [after] if isinstance(after, str) else after
            after = [a for a in after if isinstance(a, str)] if isinstance(after, list) else []
            steps.append(StepSpec.model_construct(id=s["id"], after=after))
            partial.add(s["id"])
    return steps, frozenset(partial)


def _compile_steps(
    steps: list[StepSpec],
    partial: frozenset[str],
    spec_name: str,
    view: CatalogSlice,
    known_templates: set[str] | None,
    bad: Callable[[str, str], None],
    params: dict[str, ParamSpec] | None = None,
) -> tuple[list[str], dict[str, CompiledStep], dict[str, set[str]]]:
    """(topological order, compiled steps, each step's upstream steps), reporting every
    problem through `bad`: ids, `after`, cycles, choices, expressions, agents, templates.
    Steps in `partial` are in the graph but not checked themselves (see `_salvage_steps`).
    `params` (None: unknown, the spec did not validate) are what `params.<name>` may read.
    The result is only whole when nothing was reported."""
    from workflows.spec import STEP_ID

    # ids
    seen: set[str] = set()
    for s in steps:
        if not STEP_ID.match(s.id):
            bad(f"step {s.id}", "malformed id (snake_case: a-z, 0-9, _, at most 48 characters)")
        if s.id in seen:
            bad(f"step {s.id}", "duplicate id")
        seen.add(s.id)
    by_id = {s.id: s for s in steps}
    for s in steps:
        for d in s.after:
            if d not in by_id:
                bad(f"step {s.id}", f"after: unknown step `{d}`")
            elif d == s.id:
                bad(f"step {s.id}", "after: a step cannot come after itself")

    order, cycle = _topo_order(steps)
    if cycle:
        bad(f"step {cycle[0]}", f"cycle: {' -> '.join(cycle)}")

    # everything a step comes after, directly or not (also defined when the graph has a cycle)
    upstream: dict[str, set[str]] = {}
    if set(order) == set(by_id):
        # in dependency order, each step's set is its dependencies' sets joined (set unions
        # run in C: a 500-step chain took 1.2 s walked step by step)
        for sid in order:
            ups = set()
            for d in by_id[sid].after:
                if d in by_id:
                    ups.add(d)
                    if d != sid:
                        ups |= upstream[d]
            upstream[sid] = ups
    else:
        for sid, s in by_id.items():
            ups = set()
            todo = [d for d in s.after if d in by_id]
            while todo:
                d = todo.pop()
                if d not in ups:
                    ups.add(d)
                    todo.extend(x for x in by_id[d].after if x in by_id)
            upstream[sid] = ups

    # choice gating
    gated: dict[str, tuple[str, set[str]]] = {}
    for s in steps:
        if s.choice is None:
            continue
        for option, members in s.choice.options.items():
            for m in members:
                if m not in by_id:
                    bad(f"step {s.id}", f"choice option `{option}`: unknown step `{m}`")
                elif s.id not in upstream[m]:
                    bad(
                        f"step {m}",
                        f"named by choice `{s.id}` (option `{option}`) but does not come after it",
                    )
                elif m in gated and gated[m][0] != s.id:
                    bad(f"step {m}", f"gated by two choices (`{gated[m][0]}` and `{s.id}`)")
                else:
                    gated.setdefault(m, (s.id, set()))[1].add(option)

    # in dependency order when the graph is sound; else every step, as written
    walk = [by_id[sid] for sid in order] if len(order) == len(steps) else steps
    compiled: dict[str, CompiledStep] = {}
    for s in walk:
        sid = s.id
        if sid in partial:
            continue
        where = f"step {sid}"
        roots = ROOTS + FOREACH_ROOTS if s.foreach is not None else ROOTS

        def expr(
            text: str, key: str, roots: tuple[str, ...] = roots, where: str = where
        ) -> Expr | None:
            try:
                e = compile_cel(text, roots)
            except ExpressionError as x:
                bad(where, f"{key}: {x}")
                return None
            _check_refs(e, key)
            return e

        def template(
            value: Any, key: str, roots: tuple[str, ...] = roots, where: str = where
        ) -> Template | None:
            try:
                t = compile_template(value, roots)
            except ExpressionError as x:
                bad(where, f"{key}: {x}")
                return None
            for e in t.exprs:
                _check_refs(e, key)
            return t

        def _check_refs(e: Expr, key: str, where: str = where, sid: str = sid) -> None:
            if params is not None:
                for name in sorted(e.params - set(params)):
                    known = ", ".join(sorted(params)) or "none"
                    close = difflib.get_close_matches(name, list(params), n=1)
                    hint = f"did you mean `{close[0]}`? " if close else ""
                    bad(where, f"{key}: `params.{name}` names no param ({hint}params: {known})")
            for ref in e.refs:
                if ref.step not in by_id:
                    bad(where, f"{key}: `{ref.root}.{ref.step}` names no step")
                elif ref.step not in upstream[sid]:
                    bad(
                        where,
                        f"{key}: `{ref.root}.{ref.step}` is not upstream of this step "
                        f"(add it to `after`)",
                    )
                elif ref.step in partial:
                    continue  # its kind is unknown: the step itself did not validate
                elif ref.root == "approvals" and by_id[ref.step].approval is None:
                    bad(where, f"{key}: `approvals.{ref.step}` is not an approval step")
                elif ref.root == "choices" and by_id[ref.step].choice is None:
                    bad(where, f"{key}: `choices.{ref.step}` is not a choice step")

        when = expr(s.when, "when", ROOTS) if s.when else None
        inputs = template(s.with_, "with") or Template("literal", value={})
        foreach = template(s.foreach, "foreach", ROOTS) if s.foreach is not None else None
        if foreach is not None:
            problem = _foreach_problem(foreach, params)
            if problem:
                bad(where, f"foreach: {problem}")
        choice_by = expr(s.choice.by, "choice.by", ROOTS) if s.choice and s.choice.by else None
        if s.heartbeat is not None and s.heartbeat < MIN_HEARTBEAT_TIMEOUT:
            bad(
                where,
                f"heartbeat: {_seconds(s.heartbeat)} is too short to heartbeat reliably "
                f"(the minimum is {_seconds(MIN_HEARTBEAT_TIMEOUT)})",
            )

        task_queue = None
        cost = 0.0
        default_timeout: timedelta | None = None
        child_type = None
        if s.kind == "agent":
            assert s.agent is not None and s.mode is not None
            agent = view.agents.get(s.agent)
            if agent is None:
                close = difflib.get_close_matches(s.agent, list(view.agents), n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                bad(where, f"unknown agent `{s.agent}`{hint}")
            else:
                mode = agent.modes.get(s.mode)
                if mode is None:
                    bad(
                        where,
                        f"agent `{s.agent}` has no mode `{s.mode}` "
                        f"(modes: {', '.join(agent.modes)})",
                    )
                else:
                    cost = mode.cost_estimate_usd
                    if mode.timeout_s is not None:
                        default_timeout = timedelta(seconds=mode.timeout_s)
                task_queue = task_queue_for(agent.category)
        elif s.kind == "workflow":
            assert s.workflow is not None
            if known_templates is not None and s.workflow not in known_templates:
                bad(
                    where,
                    f"unknown template `{s.workflow}` "
                    f"(known: {', '.join(sorted(known_templates))})",
                )
            if s.workflow == spec_name:
                bad(where, "a template cannot run itself as a child")
            child_type = workflow_type_for(s.workflow)

        gate = gated.get(sid)
        compiled[sid] = CompiledStep(
            id=sid,
            spec=s,
            kind=s.kind,
            after=tuple(s.after),
            upstream=frozenset(upstream[sid]),
            when=when,
            inputs=inputs,
            foreach=foreach,
            choice_by=choice_by,
            gated_by=(gate[0], frozenset(gate[1])) if gate else None,
            task_queue=task_queue,
            cost_estimate_usd=cost,
            retry_policy=_retry_policy(s) if s.kind == "agent" else None,
            timeout=(s.timeout or default_timeout or DEFAULT_AGENT_TIMEOUT)
            if s.kind == "agent"
            else s.timeout,
            deadline=s.deadline,
            heartbeat=(s.heartbeat or DEFAULT_HEARTBEAT) if s.kind == "agent" else None,
            child_type=child_type,
            summary=s.summary or _default_summary(s),
            people=compile_people(s, by_id, upstream, order, bad),
            **_payload_limits(s),
        )
    return order, compiled, upstream


def compile_spec(
    raw: Any,
    source: str,
    *,
    catalog: AgentCatalog | CatalogSlice | None = None,
    templates: Iterable[str] | None = None,
    text: str = "",
) -> CompiledDag:
    """Compile one loaded spec against the catalog, or the slice of it a run recorded.
    `templates` are the names `workflow:` steps may use; `text` is the spec as written (what
    a run records)."""
    view = (
        catalog
        if isinstance(catalog, CatalogSlice)
        else slice_catalog(catalog if catalog is not None else default_catalog())
    )
    if not isinstance(raw, dict):
        raise CompileError([f"{source}: a spec must be a mapping of keys (name, version, steps …)"])

    problems: list[str] = []
    warnings: list[str] = []

    def bad(where: str, what: str) -> None:
        # an id with a newline or other control character would split or garble the line
        if where.startswith("step ") and not (where[5:].isprintable() and where[5:].strip()):
            where = f"step {where[5:]!r}"
        problems.append(f"{source}: {where}: {_one_line(what)}")

    known_templates = set(templates) if templates is not None else None
    shape = _shape_problems(raw)
    steps_given = raw.get("steps")
    if isinstance(steps_given, list) and len(steps_given) > MAX_STEPS:
        shape.append(
            (
                "spec",
                f"steps: {len(steps_given)} steps, past the {MAX_STEPS} a template may have: "
                "move parts into child templates (`workflow:` steps)",
            )
        )
    if shape:
        raise CompileError([f"{source}: {where}: {what}" for where, what in shape])
    size_bytes = len(json.dumps(raw, default=str))
    if size_bytes > MAX_SPEC_BYTES:
        raise CompileError(
            [
                f"{source}: spec: {size_bytes // 1024} KiB, past the {MAX_SPEC_BYTES // 1024} KiB "
                "a spec may have"
            ]
        )
    try:
        spec = DagSpec.model_validate(raw)
    except ValidationError as e:
        for where, what in _merged([_describe(raw, err) for err in e.errors()]):
            bad(where, what)
        # The checks across steps still run on what can be salvaged, so one pass reports
        # every problem, not the model's alone.
        name = raw.get("name")
        name = name if isinstance(name, str) else ""
        if name:
            _check_name(source, name, bad)
        steps, partial = _salvage_steps(raw)
        _compile_steps(steps, partial, name, view, known_templates, bad)
        raise CompileError(problems) from None

    _check_name(source, spec.name, bad)
    order, compiled, upstream = _compile_steps(
        spec.steps, frozenset(), spec.name, view, known_templates, bad, spec.params
    )
    by_id = {s.id: s for s in spec.steps}

    # params contract and defaults
    params_model = build_params_model(spec.name, spec.params)
    for pname, p in spec.params.items():
        if p.default is not None:
            try:
                params_model.model_validate(
                    {
                        k: (v.default if k == pname else _placeholder(v))
                        for k, v in spec.params.items()
                    }
                )
            except ValidationError as e:
                for line in params_error_lines(e):
                    if f"`{pname}" in line:
                        bad(f"param {pname}", f"bad default: {line}")
    if spec.example is not None:
        try:
            params_model.model_validate(spec.example)
        except ValidationError as e:
            for line in params_error_lines(e):
                bad("example", line)

    # outputs
    if spec.outputs is not None:
        for o in spec.outputs:
            if o not in by_id:
                bad("outputs", f"unknown step `{o}`")
        outputs = tuple(spec.outputs)
    else:
        has_dependants = {d for s in spec.steps for d in s.after}
        outputs = tuple(sid for sid in order if sid not in has_dependants)

    size = _estimate_size(spec, compiled)
    if size.events > HISTORY_EVENTS_LIMIT or size.history_bytes > HISTORY_BYTES_LIMIT:
        bad(
            "spec",
            f"worst case is {size.events} history events / {size.history_bytes // 2**20} MB, "
            f"past Temporal's limit of {HISTORY_EVENTS_LIMIT} events / "
            f"{HISTORY_BYTES_LIMIT // 2**20} MB: lower `max_items` or move the fan-out into a "
            f"child template (`workflow:` step)",
        )
    elif size.events > HISTORY_EVENTS_WARN or size.history_bytes > HISTORY_BYTES_WARN:
        warnings.append(
            f"{source}: spec: worst case is {size.events} history events / "
            f"{size.history_bytes // 2**20} MB, past Temporal's warning level "
            f"({HISTORY_EVENTS_WARN} events / {HISTORY_BYTES_WARN // 2**20} MB)"
        )
    if size.pending_activities > PENDING_ACTIVITIES_LIMIT:
        bad(
            "spec",
            f"up to {size.pending_activities} activities could be pending at once, past "
            f"Temporal's limit of {PENDING_ACTIVITIES_LIMIT}: lower `max_parallel`",
        )

    for s in spec.steps:
        worst = s.max_items * MIN_VIEW_BYTES if s.foreach is not None else 0
        if worst > PAYLOAD_BUDGET_BYTES:
            bad(
                f"step {s.id}",
                f"{s.max_items} items would carry at least {worst // 1024} KiB of references, "
                f"past the {PAYLOAD_BUDGET_BYTES // 1024} KiB a payload may safely hold "
                f"(Temporal refuses 2 MB): lower `max_items` or move the fan-out into a child "
                f"template",
            )

    if len(order) == len(spec.steps):  # its walk needs a graph without cycles or duplicates
        for where, what in reject_branch_problems(by_id, upstream):
            bad(where, what)

    _check_schedules(spec, params_model, bad)

    if problems:
        raise CompileError(problems)
    return CompiledDag(
        spec=spec,
        source=source,
        hash=spec_hash(raw),
        text=text,
        steps=compiled,
        params_model=params_model,
        outputs=outputs,
        size=size,
        warnings=tuple(warnings),
    )


def _check_schedules(
    spec: DagSpec, params_model: type[BaseModel], bad: Callable[[str, str], None]
) -> None:
    from workflows.spec import STEP_ID

    seen: set[str] = set()
    for sched in spec.schedules:
        where = f"schedule {sched.id}"
        if not STEP_ID.match(sched.id):
            bad(where, "malformed id (snake_case: a-z, 0-9, _, at most 48 characters)")
        if sched.id in seen:
            bad(where, "duplicate schedule id")
        seen.add(sched.id)
        for expr in sched.cron:
            problem = cron_problem(expr)
            if problem:
                bad(where, f"cron `{expr}`: {problem}")
        try:
            params_model.model_validate(sched.params)
        except ValidationError as e:
            for line in params_error_lines(e):
                bad(where, f"params: {line}")


def _one_line(text: str) -> str:
    """A problem is one line: control characters from the spec (a name ending in a newline)
    are shown escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _seconds(d: timedelta) -> str:
    return f"{d.total_seconds():g}s"


def _placeholder(p: ParamSpec) -> Any:
    """A valid value for a param, so a default can be checked on its own."""
    if p.default is not None:
        return p.default
    if p.enum:
        return p.enum[0]
    return {
        ParamType.string: "x",
        ParamType.integer: int(p.minimum or 0),
        ParamType.number: float(p.minimum or 0),
        ParamType.boolean: False,
        ParamType.array: [],
        ParamType.object: {},
    }[p.type]


def _default_summary(s: StepSpec) -> str:
    if s.kind == "agent":
        return f"{s.agent}/{s.mode}"
    if s.kind == "workflow":
        return f"child {s.workflow}"
    return s.kind


def _payload_limits(s: StepSpec) -> dict[str, int]:
    """What one call of the step may return inline, and the size of the view of an output
    sent by reference: a `foreach` step's items share one aggregate, so its list stays far
    below Temporal's 2 MB payload limit however many items it has."""
    if s.foreach is None:
        return {"inline_limit_bytes": INLINE_OUTPUT_LIMIT_BYTES}
    share = AGGREGATE_INLINE_BYTES // s.max_items
    return {
        "inline_limit_bytes": max(min(share, INLINE_OUTPUT_LIMIT_BYTES), MIN_VIEW_BYTES),
        "view_limit_bytes": max(min(share, OUTPUT_VIEW_LIMIT_BYTES), MIN_VIEW_BYTES),
    }


def _estimate_size(spec: DagSpec, compiled: dict[str, CompiledStep]) -> SizeEstimate:
    events = EVENTS_BASE
    history_bytes = 0
    pending = 0
    step_events: dict[str, int] = {}
    step_bytes: dict[str, int] = {}
    for s in spec.steps:
        n = s.max_items if s.foreach is not None else 1
        inline = _payload_limits(s)["inline_limit_bytes"]
        if s.kind == "agent":
            step_events[s.id] = n * EVENTS_PER_ACTIVITY
            if spec.budget_usd is not None:
                step_events[s.id] += EVENTS_PER_DECISION
            step_bytes[s.id] = n * (inline + INPUT_BYTES_ESTIMATE)
            pending += s.max_parallel or 1
        elif s.kind == "workflow":
            step_events[s.id] = n * EVENTS_PER_CHILD
            step_bytes[s.id] = n * (inline + INPUT_BYTES_ESTIMATE)
        else:
            people = compiled[s.id].people if s.id in compiled else People()
            # each level opens with its group's snapshot and may time out into the next
            asks = max(len(people.levels), 1) * (1 + people.max_revisions)
            step_events[s.id] = asks * (EVENTS_PER_DECISION + EVENTS_PER_LOCAL_ACTIVITY)
    events += sum(step_events.values())
    history_bytes += sum(step_bytes.values())
    # a revise loop runs its steps once more per revision allowed
    for c in compiled.values():
        for sid in c.people.revise_loop:
            events += c.people.max_revisions * step_events.get(sid, 0)
            history_bytes += c.people.max_revisions * step_bytes.get(sid, 0)
    return SizeEstimate(events, history_bytes, pending)


def load_spec_file(path: Path) -> Any:
    """The YAML of one spec file, or a CompileError naming the file and the problem. Beyond
    what the safe loader reports: characters YAML forbids (a NUL byte) and nesting deep
    enough to exhaust the recursion of PyYAML's composer (`[[[[…` within 256 KiB)."""
    try:
        return load_yaml_file(path)
    except SpecFileError as e:
        raise CompileError([str(e)]) from None
    except yaml.YAMLError as e:
        raise CompileError([f"{path}: {_yaml_problem(e)}"]) from None
    except RecursionError:
        raise CompileError([f"{path}: nested too deeply to read"]) from None


def load_spec_text(text: str, source: str) -> Any:
    """`load_spec_file` for text already in memory."""
    try:
        return load_yaml_text(text, source)
    except SpecFileError as e:
        raise CompileError([str(e)]) from None
    except yaml.YAMLError as e:
        raise CompileError([f"{source}: {_yaml_problem(e)}"]) from None
    except RecursionError:
        raise CompileError([f"{source}: nested too deeply to read"]) from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    # ReaderError (a forbidden character) is raised before the safe loader's own handling
    text = " ".join(str(e).split())
    return text.replace('in "<unicode string>", ', "")


def compile_file(
    path: Path, *, catalog: AgentCatalog | None = None, templates: Iterable[str] | None = None
) -> CompiledDag:
    raw = load_spec_file(path)
    return compile_spec(
        raw, str(path), catalog=catalog, templates=templates, text=path.read_text("utf-8")
    )
