"""Hypothesis strategies for valid specs: random DAGs on the built-in `noop` agent (echo: no
model, no tools, deterministic) with `when` conditions, `foreach` fan-outs, approvals,
choices and child runs, plus the run's params and the decisions a test gives its people
steps. Every spec drawn here must compile: the tests assert it.

Values that could make a valid spec fail at run time are kept out on purpose, so a run that
does not complete is the runtime's fault, not the draw's: `approvals.<a>` / `choices.<c>`
and `steps.<x>.output` are read only from steps directly in `after` under `all_success`
(skipped with them when they are skipped), and approvals are never negated in a `when`
(the compiler refuses reject branches that can never hold; that is a refusal case).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

PARAMS: dict[str, Any] = {
    "topic": {"type": "string", "default": "fuzz"},
    "flag": {"type": "boolean", "default": True},
    "n": {"type": "integer", "default": 3, "minimum": 0, "maximum": 10},
    "items": {"type": "array", "items": "string", "default": ["a", "b"]},
}

CHILD_NAME = "fuzz_child"
CHILD_SPEC: dict[str, Any] = {
    "name": CHILD_NAME,
    "version": 1,
    "description": "the child template random DAGs run",
    "params": {"topic": {"type": "string", "default": "child"}},
    "steps": [{"id": "echo", "agent": "noop", "mode": "echo", "with": {"t": "${params.topic}"}}],
}


@dataclass
class FuzzCase:
    """One drawn template, the params of its run and its people's decisions."""

    spec: dict[str, Any]
    params: dict[str, Any]
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> decision

    @property
    def step_ids(self) -> list[str]:
        return [s["id"] for s in self.spec["steps"]]


@dataclass
class _Node:
    id: str
    kind: str
    after: list[str]
    trigger: str = "all_success"
    foreach: bool = False
    by: bool = False  # a choice made by an expression


def _upstream(nodes: dict[str, _Node], sid: str) -> set[str]:
    seen: set[str] = set()
    todo = list(nodes[sid].after)
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(nodes[d].after)
    return seen


@st.composite
def _when(draw: st.DrawFn, nodes: dict[str, _Node], node: _Node) -> str | None:
    options = ["params.flag", "!params.flag", "params.n > 2", "size(params.items) > 1"]
    options += ["'a' in params.items", "params.topic != ''"]
    options += [f"steps.{u}.status == 'succeeded'" for u in sorted(_upstream(nodes, node.id))]
    if node.trigger == "all_success":
        for d in node.after:
            if nodes[d].kind == "approval":
                options.append(f"approvals.{d}.approved")
            elif nodes[d].kind == "choice":
                options.append(f"choices.{d}.option == 'left'")
    if draw(st.integers(0, 3)) != 0:  # one step in four: skips cascade through `after`
        return None
    terms = draw(st.lists(st.sampled_from(options), min_size=1, max_size=2, unique=True))
    joiner = draw(st.sampled_from([" && ", " || "]))
    return joiner.join(terms)


@st.composite
def _inputs(draw: st.DrawFn, nodes: dict[str, _Node], node: _Node) -> dict[str, Any]:
    inputs: dict[str, Any] = {"topic": "${params.topic}"}
    literal = st.one_of(
        st.integers(-5, 5), st.booleans(), st.text("abcxyz é", max_size=6), st.none()
    )
    for key in draw(st.lists(st.sampled_from(["k", "note", "count"]), unique=True, max_size=2)):
        inputs[key] = draw(literal)
    ups = sorted(_upstream(nodes, node.id))
    if ups:
        u = draw(st.sampled_from(ups))
        inputs["seen"] = f"${{steps.{u}.status}}"
    readable = [
        d
        for d in node.after
        if nodes[d].kind == "agent" and not nodes[d].foreach and node.trigger == "all_success"
    ]
    read_one: bool = bool(readable) and draw(st.booleans())
    if read_one:
        source: str = draw(st.sampled_from(readable))
        inputs["from"] = f"about ${{steps.{source}.output.step}}"
    if node.foreach:
        inputs["item"] = "${item}"
        inputs["position"] = "${index}"
    return inputs


@st.composite
def fuzz_cases(draw: st.DrawFn, max_steps: int = 12, children: bool = True) -> FuzzCase:
    count = draw(st.integers(1, max_steps))
    kinds = ["agent"] * 6 + ["approval"] * 2 + ["choice"] + (["workflow"] if children else [])
    nodes: dict[str, _Node] = {}
    for i in range(count):
        kind = draw(st.sampled_from(kinds))
        sid = f"{kind[:2]}{i}"
        earlier = list(nodes)
        after = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        node = _Node(sid, kind, after)
        if kind in ("agent", "workflow"):
            node.trigger = draw(st.sampled_from(["all_success"] * 3 + ["all_done"]))
            node.foreach = draw(st.integers(0, 3)) == 0
        if kind == "choice":
            node.by = draw(st.booleans())
        nodes[sid] = node

    # choice options name steps that come after the choice, each gated by one choice at most
    gated: set[str] = set()
    options: dict[str, dict[str, list[str]]] = {}
    for c in (n for n in nodes.values() if n.kind == "choice"):
        later = [s for s in nodes if s not in gated and c.id in _upstream(nodes, s)]
        left = draw(st.lists(st.sampled_from(later), unique=True, max_size=2)) if later else []
        rest = [s for s in later if s not in left]
        right = draw(st.lists(st.sampled_from(rest), unique=True, max_size=2)) if rest else []
        gated.update(left + right)
        options[c.id] = {"left": left, "right": right}

    steps: list[dict[str, Any]] = []
    decisions: dict[str, dict[str, Any]] = {}
    for node in nodes.values():
        step: dict[str, Any] = {"id": node.id}
        if node.kind == "agent":
            step.update(agent="noop", mode="echo")
        elif node.kind == "workflow":
            step["workflow"] = CHILD_NAME
        elif node.kind == "approval":
            step["approval"] = {"prompt": f"approve {node.id}?"}
            if draw(st.booleans()):
                step["approval"]["on_timeout"] = draw(st.sampled_from(["approve", "reject"]))
            decisions[node.id] = {
                "decision": draw(st.sampled_from(["approve", "approve", "approve", "reject"]))
            }
        else:
            choice: dict[str, Any] = {"prompt": f"route {node.id}?", "options": options[node.id]}
            if node.by:
                choice["by"] = "params.flag ? 'left' : 'right'"
            else:
                choice["default"] = "left"
                decisions[node.id] = {
                    "decision": "choose",
                    "option": draw(st.sampled_from(["left", "right"])),
                }
            step["choice"] = choice
        if node.after:
            # a single dependency is sometimes written as a plain string
            one = len(node.after) == 1 and draw(st.booleans())
            step["after"] = node.after[0] if one else list(node.after)
        if node.trigger != "all_success":
            step["trigger"] = node.trigger
        when = draw(_when(nodes, node))
        if when:
            step["when"] = when
        if node.kind in ("agent", "workflow"):
            inputs = draw(_inputs(nodes, node))
            step["with"] = {"topic": inputs["topic"]} if node.kind == "workflow" else inputs
            if node.foreach:
                step["foreach"] = "${params.items}"
                step["max_parallel"] = draw(st.integers(1, 4))
                step["max_items"] = draw(st.sampled_from([10, 20, 100]))
            if draw(st.integers(0, 3)) == 0:
                step["on_error"] = "continue"
        if node.kind == "agent" and draw(st.integers(0, 3)) == 0:
            step["retry"] = {"maximum_attempts": 2, "initial_interval": "1s"}
            step["timeout"] = draw(st.sampled_from(["30s", "1m", 120]))
        if draw(st.integers(0, 4)) == 0:
            step["summary"] = f"fuzz {node.kind} {node.id}"
        steps.append(step)

    # the order steps are written in is not their order: the compiler sorts them
    order = draw(st.permutations(range(len(steps))))
    spec: dict[str, Any] = {
        "name": "fuzz_dag",
        "version": 1,
        "description": "a random DAG drawn by hypothesis",
        "params": PARAMS,
        "steps": [steps[i] for i in order],
    }
    if draw(st.booleans()):
        spec["outputs"] = sorted(nodes)  # every step's output in the result
    params = {
        "topic": draw(st.text("abc xyz", min_size=1, max_size=8)),
        "flag": draw(st.booleans()),
        "n": draw(st.integers(0, 10)),
        "items": draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=4)),
    }
    return FuzzCase(spec, params, decisions)
