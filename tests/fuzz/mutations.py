"""Ways to break a valid spec, one problem each. A mutation takes a drawn valid spec (a deep
copy it may change) and hypothesis' `data`, and returns what to compile (the spec as data,
or the text of a file) and the words the refusal must contain: the offending step, key or
construct, so a person can find and fix it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

from activities.catalog.safe_yaml import MAX_SPEC_BYTES
from tests.fuzz.dags import FuzzCase


@dataclass
class Mutated:
    kind: str
    spec: Any = None  # the spec as data (None: `text` is the file)
    text: str | None = None
    expect: tuple[str, ...] = ()  # every one in the same problem line


Data = st.DataObject
Mutation = Callable[[dict[str, Any], Data], Mutated]
MUTATIONS: dict[str, Mutation] = {}


def mutation(fn: Mutation) -> Mutation:
    MUTATIONS[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------- helpers


def _pick(spec: dict[str, Any], data: Data, kind: str | None = None) -> dict[str, Any]:
    steps = [s for s in spec["steps"] if kind is None or _kind(s) == kind]
    if not steps:  # add a valid step of that kind first, then break it
        steps = [_add(spec, kind or "agent")]
    return data.draw(st.sampled_from(steps))


def _kind(step: dict[str, Any]) -> str:
    for k in ("approval", "choice", "workflow"):
        if k in step:
            return k
    return "agent"


def _add(spec: dict[str, Any], kind: str) -> dict[str, Any]:
    sid = f"added_{kind}_{len(spec['steps'])}"
    step: dict[str, Any] = {"id": sid}
    if kind == "approval":
        step["approval"] = {"prompt": "ok?"}
    elif kind == "choice":
        step["choice"] = {"prompt": "which?", "options": {"left": [], "right": []}}
    elif kind == "workflow":
        step["workflow"] = "fuzz_child"
    else:
        step.update(agent="noop", mode="echo")
    spec["steps"].append(step)
    return step


def _after(step: dict[str, Any]) -> list[str]:
    after = step.get("after", [])
    return [after] if isinstance(after, str) else list(after)


def _upstream(spec: dict[str, Any], sid: str) -> set[str]:
    by_id = {s["id"]: s for s in spec["steps"]}
    seen: set[str] = set()
    todo = _after(by_id[sid])
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(_after(by_id[d]))
    return seen


def _where(step: dict[str, Any]) -> str:
    return f"step {step['id']}"


# ---------------------------------------------------------------- unknown keys, wrong types


@mutation
def unknown_top_key(spec: dict[str, Any], data: Data) -> Mutated:
    key = data.draw(st.sampled_from(["colour", "stpes", "versoin", "timeout", "ñame", "after"]))
    spec[key] = data.draw(st.sampled_from([1, "x", None, [1]]))
    return Mutated("unknown key", spec, expect=("spec", f"unknown key `{key}`"))


@mutation
def unknown_step_key(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    key = data.draw(st.sampled_from(["retyr", "depends_on", "whenn", "input", "params", "ïd2"]))
    step[key] = "x"
    return Mutated("unknown key", spec, expect=(_where(step), f"unknown key `{key}`"))


@mutation
def unknown_nested_key(spec: dict[str, Any], data: Data) -> Mutated:
    where = data.draw(st.sampled_from(["approval", "choice", "retry", "param"]))
    if where == "param":
        spec["params"]["topic"]["tpye"] = "string"
        return Mutated("unknown key", spec, expect=("param topic", "unknown key `tpye`"))
    if where == "retry":
        step = _pick(spec, data, "agent")
        step["retry"] = {"max_attempts": 3}
        return Mutated("unknown key", spec, expect=(_where(step), "unknown key `max_attempts`"))
    step = _pick(spec, data, where)
    step[where]["timout"] = "1h"
    return Mutated("unknown key", spec, expect=(_where(step), "unknown key `timout`"))


@mutation
def wrong_top_type(spec: dict[str, Any], data: Data) -> Mutated:
    key, value = data.draw(
        st.sampled_from(
            [
                ("version", "2"),
                ("version", True),
                ("version", 1.5),
                ("version", 0),
                ("version", -3),
                ("version", 10**12),
                ("description", 5),
                ("description", None),
                ("description", ""),
                ("steps", "draft"),
                ("steps", {"a": 1}),
                ("steps", []),
                ("params", ["topic"]),
                ("outputs", "all"),
                ("budget_usd", -1),
                ("budget_usd", "$2"),
                ("budget_usd", float("inf")),
                ("execution_timeout", "forever"),
                ("example", ["topic"]),
            ]
        )
    )
    spec[key] = value
    return Mutated("wrong type", spec, expect=("spec", key))


@mutation
def wrong_step_type(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    key, value = data.draw(
        st.sampled_from(
            [
                ("after", 5),
                ("after", {"a": 1}),
                ("after", [None]),
                ("when", 5),
                ("when", True),
                ("trigger", "sometimes"),
                ("on_error", "ignore"),
                ("agent", 3),
                ("mode", ["echo"]),
                ("with", "not an expression"),
                ("with", 7),
                ("summary", {"a": 1}),
                ("max_items", "ten"),
                ("max_items", 0),
                ("max_items", 10**6),
            ]
        )
    )
    step[key] = value
    return Mutated("wrong type", spec, expect=(_where(step), key))


@mutation
def non_string_key(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    key = data.draw(st.sampled_from([1, True, None, 2.5]))
    step["with"] = {"fine": {key: "value", "other": 1}}
    return Mutated("non-string key", spec, expect=(_where(step), "with.fine", "not a string"))


@mutation
def non_finite_number(spec: dict[str, Any], data: Data) -> Mutated:
    value = data.draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
    if data.draw(st.booleans()):
        step = _pick(spec, data, "agent")
        step["with"] = {"ratio": [1.5, value]}
        return Mutated("non-finite", spec, expect=(_where(step), "with.ratio[1]", "finite"))
    spec["example"] = {"n": value}
    return Mutated("non-finite", spec, expect=("spec", "example.n", "finite"))


@mutation
def missing_top_key(spec: dict[str, Any], data: Data) -> Mutated:
    key = data.draw(st.sampled_from(["name", "version", "description", "steps"]))
    del spec[key]
    return Mutated("missing key", spec, expect=("spec", f"missing required key `{key}`"))


@mutation
def bad_name(spec: dict[str, Any], data: Data) -> Mutated:
    name = data.draw(st.sampled_from(["Fuzz-Dag", "fuzz dag", "1fuzz", "fuzz_dag\n", "fuzzé"]))
    spec["name"] = name
    return Mutated("bad name", spec, expect=("spec", "name"))


# ---------------------------------------------------------------- the graph


@mutation
def cycle(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    ups = sorted(_upstream(spec, step["id"]))
    if ups:  # close a loop through the step's own upstream
        back = next(s for s in spec["steps"] if s["id"] == data.draw(st.sampled_from(ups)))
        back["after"] = [*_after(back), step["id"]]
    else:
        other = _add(spec, "agent")
        other["after"] = [step["id"]]
        step["after"] = [*_after(step), other["id"]]
    return Mutated("cycle", spec, expect=("cycle:", " -> "))


@mutation
def self_after(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    step["after"] = [*_after(step), step["id"]]
    return Mutated("self after", spec, expect=(_where(step), "cannot come after itself"))


@mutation
def dangling_after(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    ghost = data.draw(st.sampled_from(["ghost", "draft", "ag99", "Ag0"]))
    step["after"] = [*_after(step), ghost]
    return Mutated("dangling after", spec, expect=(_where(step), f"unknown step `{ghost}`"))


@mutation
def duplicate_id(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    spec["steps"].append({"id": step["id"], "agent": "noop", "mode": "echo"})
    return Mutated("duplicate id", spec, expect=(_where(step), "duplicate id"))


@mutation
def malformed_id(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    bad = data.draw(
        st.sampled_from(["Draft", "1st", "a-b", "a" * 49, "draft\n", "dráft", "", "a b", "_x"])
    )
    step["id"] = bad
    return Mutated("malformed id", spec, expect=("malformed id",))


@mutation
def zero_or_two_kinds(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    if data.draw(st.booleans()):
        step["approval"] = {"prompt": "also?"}
        return Mutated("two kinds", spec, expect=(_where(step), "exactly one kind", "approval"))
    del step["agent"], step["mode"]
    return Mutated("no kind", spec, expect=(_where(step), "exactly one kind", "none"))


@mutation
def outputs_unknown(spec: dict[str, Any], data: Data) -> Mutated:
    spec["outputs"] = [spec["steps"][0]["id"], "ghost"]
    return Mutated("unknown output", spec, expect=("outputs", "unknown step `ghost`"))


# ---------------------------------------------------------------- agents, templates


@mutation
def unknown_agent(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["agent"] = data.draw(st.sampled_from(["nop", "noop2", "content_generator", "nöop"]))
    return Mutated("unknown agent", spec, expect=(_where(step), "unknown agent"))


@mutation
def unknown_mode(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["mode"] = data.draw(st.sampled_from(["ecko", "marketing_content", "ECHO"]))
    return Mutated("unknown mode", spec, expect=(_where(step), "has no mode"))


@mutation
def missing_mode(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    del step["mode"]
    return Mutated("missing mode", spec, expect=(_where(step), "mode"))


@mutation
def unknown_template(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "workflow")
    step["workflow"] = data.draw(st.sampled_from(["ghost_template", "fuzz_dag"]))
    return Mutated("unknown template", spec, expect=(_where(step), "template"))


# ---------------------------------------------------------------- expressions


@mutation
def bad_cel(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    step["when"] = data.draw(
        st.sampled_from(
            ["params. ==", "((params.flag)", "1 +", "&& params.flag", "params.flag ===", "é ?"]
        )
    )
    return Mutated("bad CEL", spec, expect=(_where(step), "when", "does not parse"))


@mutation
def unknown_cel_name(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    name = data.draw(st.sampled_from(["inputs", "item", "env", "now"]))
    step["when"] = f"{name}.x == 1"
    return Mutated("unknown CEL name", spec, expect=(_where(step), "unknown name", name))


@mutation
def unknown_param_ref(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    step["when"] = "params.topik == 'x'"
    return Mutated("unknown param", spec, expect=(_where(step), "`params.topik` names no param"))


@mutation
def when_not_upstream(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    ups = _upstream(spec, step["id"])
    others = [s["id"] for s in spec["steps"] if s["id"] not in ups and s["id"] != step["id"]]
    if not others:
        others = [_add(spec, "agent")["id"]]
    other = data.draw(st.sampled_from(others))
    step["when"] = f"steps.{other}.status == 'succeeded'"
    return Mutated("not upstream", spec, expect=(_where(step), f"`steps.{other}`", "upstream"))


@mutation
def ref_names_no_step(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    root = data.draw(st.sampled_from(["steps", "approvals", "choices"]))
    step["with"] = {"x": f"${{{root}.ghost}}"}
    return Mutated("names no step", spec, expect=(_where(step), f"`{root}.ghost` names no step"))


@mutation
def wrong_ref_kind(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    up = _add(spec, "agent")
    step["after"] = [*_after(step), up["id"]]
    root = data.draw(st.sampled_from(["approvals", "choices"]))
    step["when"] = (
        f"{root}.{up['id']}.approved" if root == "approvals" else f"{root}.{up['id']}.option == 'a'"
    )
    return Mutated("wrong ref kind", spec, expect=(_where(step), f"`{root}.{up['id']}` is not"))


@mutation
def bad_template(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["with"] = {
        "x": data.draw(st.sampled_from(["${params.topic", "a ${1 +} b", "${}", "${ }"]))
    }
    return Mutated("bad ${}", spec, expect=(_where(step), "with"))


@mutation
def expression_too_long(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    n = data.draw(st.integers(700, 2000))
    step["when"] = " && ".join(["params.flag"] * n)
    return Mutated("oversized CEL", spec, expect=(_where(step), "when"))


@mutation
def expression_too_deep(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data)
    n = data.draw(st.integers(30, 600))
    shape = data.draw(st.sampled_from(["parens", "nots", "ands"]))
    if shape == "parens":
        step["when"] = "(" * n + "params.flag" + ")" * n
    elif shape == "nots":
        step["when"] = "!" * (n + 150) + "params.flag"
    else:
        step["when"] = " && ".join(["params.flag"] * (n // 2 + 160))
    return Mutated("deep CEL", spec, expect=(_where(step), "when"))


@mutation
def reject_branch_never_runs(spec: dict[str, Any], data: Data) -> Mutated:
    approval = _add(spec, "approval")
    middle = {"id": "publish", "agent": "noop", "mode": "echo", "after": [approval["id"]]}
    rework = {
        "id": "rework",
        "agent": "noop",
        "mode": "echo",
        "after": ["publish"],
        "when": f"!approvals.{approval['id']}.approved",
    }
    spec["steps"] += [middle, rework]
    return Mutated("reject branch", spec, expect=("step rework", "never runs"))


# ---------------------------------------------------------------- foreach


@mutation
def foreach_not_a_list(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["foreach"] = data.draw(
        st.sampled_from(
            ["${params.topic}", "${params.n}", "abc", "a ${params.items} b", 5, {"a": 1}]
        )
    )
    step["max_parallel"] = 2
    return Mutated("foreach non-list", spec, expect=(_where(step), "foreach"))


@mutation
def bad_max_parallel(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["foreach"] = "${params.items}"
    value = data.draw(st.sampled_from([-1, 0, "2", True, 1001, 2.5, None]))
    if value is None:
        step.pop("max_parallel", None)
    else:
        step["max_parallel"] = value
    return Mutated("max_parallel", spec, expect=(_where(step), "max_parallel"))


@mutation
def max_parallel_without_foreach(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step.pop("foreach", None)
    step["max_parallel"] = 2
    return Mutated("max_parallel alone", spec, expect=(_where(step), "max_parallel"))


@mutation
def foreach_on_approval(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "approval")
    step["foreach"] = "${params.items}"
    step["max_parallel"] = 2
    return Mutated("foreach kind", spec, expect=(_where(step), "foreach"))


@mutation
def fan_out_too_big(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["foreach"] = "${params.items}"
    step["max_parallel"] = data.draw(st.sampled_from([1000, 5]))
    step["max_items"] = 10_000
    return Mutated("fan-out size", spec, expect=("max_items",))


# ---------------------------------------------------------------- durations, retry


@mutation
def bad_duration(spec: dict[str, Any], data: Data) -> Mutated:
    value = data.draw(
        st.sampled_from(
            [
                "5 minutes",
                "-1s",
                0,
                -5,
                "",
                "1y",
                "0.0001ms",
                "11000d",
                "99999999999w",
                float("inf"),
                float("nan"),
                1e20,
                [],
                {"s": 1},
                True,
                "5m5",
            ]
        )
    )
    where = data.draw(st.sampled_from(["timeout", "deadline", "approval", "top", "retry"]))
    if where == "top":
        key = data.draw(st.sampled_from(["execution_timeout", "budget_approval_timeout"]))
        spec[key] = value
        return Mutated("bad duration", spec, expect=("spec", key))
    if where == "approval":
        step = _pick(spec, data, "approval")
        step["approval"]["timeout"] = value
        return Mutated("bad duration", spec, expect=(_where(step), "timeout"))
    step = _pick(spec, data, "agent")
    if where == "retry":
        step["retry"] = {"initial_interval": value}
        return Mutated("bad duration", spec, expect=(_where(step), "initial_interval"))
    step[where] = value
    return Mutated("bad duration", spec, expect=(_where(step), where))


@mutation
def heartbeat_too_short(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["heartbeat"] = data.draw(st.sampled_from(["500ms", 0.2, "10ms"]))
    return Mutated("heartbeat", spec, expect=(_where(step), "heartbeat"))


@mutation
def bad_retry(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    step["retry"] = data.draw(
        st.sampled_from(
            [
                {"maximum_attempts": 0},
                {"maximum_attempts": 1000},
                {"maximum_attempts": "3"},
                {"backoff_coefficient": 0.5},
                {"backoff_coefficient": float("nan")},
                {"initial_interval": "1m", "maximum_interval": "1s"},
                {"non_retryable_error_types": "Oops"},
            ]
        )
    )
    return Mutated("bad retry", spec, expect=(_where(step), "retry"))


@mutation
def timing_on_people_step(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, data.draw(st.sampled_from(["approval", "choice"])))
    key = data.draw(st.sampled_from(["retry", "timeout", "heartbeat", "with"]))
    step[key] = {"maximum_attempts": 2} if key == "retry" else {"a": 1} if key == "with" else "1m"
    return Mutated("timing on people", spec, expect=(_where(step), f"`{key}`"))


# ---------------------------------------------------------------- people


@mutation
def approval_without_prompt(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "approval")
    how = data.draw(st.sampled_from(["missing", "empty", "null", "number", "huge"]))
    if how == "missing":
        del step["approval"]["prompt"]
    else:
        step["approval"]["prompt"] = {"empty": "", "null": None, "number": 3, "huge": "?" * 5000}[
            how
        ]
    return Mutated("approval prompt", spec, expect=(_where(step), "prompt"))


@mutation
def bad_approval(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "approval")
    key, value, word = data.draw(
        st.sampled_from(
            [
                ("on_timeout", "maybe", "on_timeout"),
                ("revise", "ghost", "revise"),
                ("bind", ["ghost"], "bind"),
                ("bind", ["x", "x"], "bind"),
                ("max_revisions", 3, "max_revisions"),
                ("approvers", [], "approvers"),
                ("approvers", [{"group": "Editors!", "timeout": "1h"}], "group"),
                ("approval", None, "approval"),
            ]
        )
    )
    if key == "approval":
        step["approval"] = value
    else:
        step["approval"][key] = value
    return Mutated("bad approval", spec, expect=(_where(step), word))


@mutation
def choice_without_options(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "choice")
    how = data.draw(st.sampled_from(["missing", "empty", "one", "null", "bad name", "list"]))
    if how == "missing":
        del step["choice"]["options"]
    else:
        step["choice"]["options"] = {
            "empty": {},
            "one": {"only": []},
            "null": None,
            "bad name": {"Left Way": [], "right": []},
            "list": ["left", "right"],
        }[how]
    step["choice"].pop("default", None)
    return Mutated("choice options", spec, expect=(_where(step), "option"))


@mutation
def bad_choice(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "choice")
    how = data.draw(st.sampled_from(["default", "gating", "ghost", "by"]))
    options = step["choice"]["options"]
    if how == "default":
        step["choice"]["default"] = "middle"
        return Mutated("choice default", spec, expect=(_where(step), "default"))
    if how == "by":
        step["choice"].pop("default", None)
        step["choice"]["by"] = "params.flag ? 'left' :"
        return Mutated("choice by", spec, expect=(_where(step), "choice.by"))
    if how == "ghost":
        options[next(iter(options))] = ["ghost"]
        return Mutated("choice ghost", spec, expect=(_where(step), "unknown step `ghost`"))
    other = _add(spec, "agent")  # not after the choice
    options[next(iter(options))] = [other["id"]]
    return Mutated("choice gating", spec, expect=(f"step {other['id']}", "does not come after"))


# ---------------------------------------------------------------- params, schedules


@mutation
def bad_param(spec: dict[str, Any], data: Data) -> Mutated:
    name, param, word = data.draw(
        st.sampled_from(
            [
                ("p", {"type": "strng"}, "type"),
                ("p", {"type": "string", "required": True, "default": "x"}, "required"),
                ("p", {"type": "integer", "default": "3"}, "default"),
                ("p", {"type": "integer", "enum": ["a"]}, "enum"),
                ("p", {"type": "array", "enum": [[1, 2]]}, "enum"),
                ("p", {"type": "string", "items": "string"}, "items"),
                ("p", {"type": "string", "minimum": 1}, "minimum"),
                ("p", {"type": "integer", "minimum": 5, "maximum": 1}, "minimum"),
                ("p", {"type": "string", "required": "yes"}, "required"),
                ("Bad", {"type": "string"}, "param name"),
                ("_p", {"type": "string"}, "param name"),
                ("model_dump", {"type": "string"}, "param name"),
                ("p", "string", "param p"),
            ]
        )
    )
    spec["params"] = dict(spec["params"], **{name: param})
    return Mutated("bad param", spec, expect=(word,))


@mutation
def bad_example(spec: dict[str, Any], data: Data) -> Mutated:
    spec["example"] = data.draw(
        st.sampled_from([{"topic": 5}, {"colour": "red"}, {"n": 11}, {"items": "a"}])
    )
    return Mutated("bad example", spec, expect=("example", "param"))


@mutation
def bad_schedule(spec: dict[str, Any], data: Data) -> Mutated:
    cron, word = data.draw(
        st.sampled_from(
            [("61 * * * *", "cron"), ("* * *", "cron"), ("@sometimes", "cron"), (5, "cron")]
        )
    )
    spec["schedules"] = [{"id": "nightly", "cron": cron}]
    return Mutated("bad schedule", spec, expect=("schedule", word))


# ---------------------------------------------------------------- size, nesting, unicode


@mutation
def oversized_string(spec: dict[str, Any], data: Data) -> Mutated:
    where = data.draw(st.sampled_from(["description", "summary", "prompt", "whole"]))
    if where == "description":
        spec["description"] = "d" * data.draw(st.integers(401, 5000))
        return Mutated("oversized", spec, expect=("spec", "description"))
    if where == "summary":
        step = _pick(spec, data)
        step["summary"] = "s" * data.draw(st.integers(201, 5000))
        return Mutated("oversized", spec, expect=(_where(step), "summary"))
    if where == "prompt":
        step = _pick(spec, data, "approval")
        step["approval"]["prompt"] = "p" * data.draw(st.integers(4001, 9000))
        return Mutated("oversized", spec, expect=(_where(step), "prompt"))
    step = _pick(spec, data, "agent")
    step["with"] = {"blob": "x" * (MAX_SPEC_BYTES + 10)}
    return Mutated("oversized", spec, expect=("KiB",))


@mutation
def deep_nesting(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    depth = data.draw(st.integers(30, 3000))
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value} if data.draw(st.booleans()) else [value]
    where = data.draw(st.sampled_from(["with", "example", "default"]))
    if where == "with":
        step["with"] = {"deep": value}
        return Mutated("deep nesting", spec, expect=(_where(step), "nested"))
    if where == "example":
        spec["example"] = {"topic": value}
        return Mutated("deep nesting", spec, expect=("example", "nested"))
    spec["params"] = dict(spec["params"], blob={"type": "object", "default": {"v": value}})
    return Mutated("deep nesting", spec, expect=("param blob", "nested"))


@mutation
def unicode(spec: dict[str, Any], data: Data) -> Mutated:
    step = _pick(spec, data, "agent")
    how = data.draw(st.sampled_from(["id", "agent", "key", "cel", "rtl", "zwsp"]))
    if how == "id":
        step["id"] = data.draw(st.sampled_from(["étape", "步骤", "step\u200b", "ste\u0301p"]))
        return Mutated("unicode", spec, expect=("malformed id",))
    if how == "agent":
        step["agent"] = "n\u03bfop"  # a Greek omicron
        return Mutated("unicode", spec, expect=(_where(step), "unknown agent"))
    if how == "key":
        step["wïth"] = {}
        return Mutated("unicode", spec, expect=(_where(step), "unknown key `wïth`"))
    if how == "rtl":
        step["mode"] = "echo\u202e"
        return Mutated("unicode", spec, expect=(_where(step), "has no mode"))
    if how == "zwsp":  # a zero-width space inside a name
        step["when"] = "params.to\u200bpic == 'x'"
        return Mutated("unicode", spec, expect=(_where(step), "when"))
    step["when"] = "params.tópico == 'é'"
    return Mutated("unicode", spec, expect=(_where(step), "when"))


@mutation
def too_many_steps(spec: dict[str, Any], data: Data) -> Mutated:
    """Steps in a line, more than a template may have, the last written first (a recursive
    depth-first walk from it would go the whole length deep)."""
    n = data.draw(st.integers(501, 1200))
    spec["steps"] = [{"id": "c0", "approval": {"prompt": "?"}}] + [
        {"id": f"c{i}", "approval": {"prompt": "?"}, "after": [f"c{i - 1}"]} for i in range(1, n)
    ]
    spec["steps"].reverse()
    return Mutated("too many steps", spec, expect=("spec", f"{n} steps", "500"))


# ---------------------------------------------------------------- YAML files


@mutation
def yaml_not_a_mapping(spec: dict[str, Any], data: Data) -> Mutated:
    text = data.draw(
        st.sampled_from(["- a\n- b\n", "42\n", "'just text'\n", "", "null\n", "~\n", "[]\n"])
    )
    return Mutated("YAML not a mapping", text=text, expect=("must be a mapping",))


@mutation
def yaml_broken(spec: dict[str, Any], data: Data) -> Mutated:
    from tests.fuzz.plans import to_yaml

    text = to_yaml(spec)
    how = data.draw(
        st.sampled_from(["tab", "unclosed", "nul", "tag", "alias", "oversize", "deep", "colon"])
    )
    if how == "tab":
        return Mutated("YAML", text=text.replace("\n  ", "\n\t", 1), expect=("line",))
    if how == "unclosed":
        return Mutated("YAML", text=text + "extra: [1, 2\n", expect=("line",))
    if how == "nul":
        return Mutated("YAML", text=text + "x: \x00\n", expect=("character",))
    if how == "tag":
        return Mutated("YAML", text=text + "x: !!python/object:os.system ls\n", expect=("tags",))
    if how == "alias":
        return Mutated("YAML", text=text + "x: &a [1]\ny: *a\n", expect=("aliases",))
    if how == "oversize":
        return Mutated("YAML", text=text + "# " + "x" * MAX_SPEC_BYTES + "\n", expect=("KiB",))
    if how == "deep":
        n = data.draw(st.integers(1000, 5000))
        return Mutated("YAML", text=text + "x: " + "[" * n + "]" * n + "\n", expect=("nested",))
    return Mutated("YAML", text="name: fuzz: dag\n", expect=("line",))


def apply(kind: str, case: FuzzCase, data: Data) -> Mutated:
    return MUTATIONS[kind](copy.deepcopy(case.spec), data)


def as_text(m: Mutated) -> str:
    from tests.fuzz.plans import to_yaml

    return m.text if m.text is not None else to_yaml(m.spec)


__all__ = ["MUTATIONS", "Mutated", "apply", "as_text", "yaml"]


# ---------------------------------------------------------------- blind replacements

_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["${params.topic}", "${steps.x.output}", "1m", "noop", "echo", "${", "}"]),
)
_KEYS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["id", "after", "when", "agent", "mode", "with", "foreach", "approval"]),
)
VALUES = st.recursive(
    _LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
    max_leaves=8,
)


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _places(v, (*path, i))
    return found


def replace_blindly(spec: dict[str, Any], data: Data) -> dict[str, Any]:
    """Up to three places of the spec replaced by any value, or deleted: the result may even
    be valid. Whatever it is, the compiler answers with a template or a CompileError."""
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_places(spec)[1:]))
        parent = spec
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.integers(0, 4)) == 0:
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(VALUES)
    return spec
