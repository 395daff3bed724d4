"""The console's DAG pictures (api/console/dag_svg.py): every shipped template drawn from its
compiled spec — one node per step, one edge per dependency, each layer after the one it
depends on, no two boxes overlapping — states as classes, and spec text always escaped.
Pure rendering: no server, no browser."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import random
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from api.console.dag_svg import (
    DAG_CSS,
    STATES,
    Direction,
    render_dag_svg,
    short_condition,
    state_class,
)
from workflows.compiler import CompiledDag, compile_spec
from workflows.registry import DEFAULT_SPEC_DIR, EXAMPLES_DIR, SpecRegistry, load_registry

SVG = "{http://www.w3.org/2000/svg}"
SHIPPED = sorted(p.stem for p in DEFAULT_SPEC_DIR.glob("*.yaml"))
DIRECTIONS: tuple[Direction, ...] = ("LR", "TB")
STATE_CYCLE = (*STATES, "succeeded")


@pytest.fixture(scope="module")
def registry() -> SpecRegistry:
    return load_registry([DEFAULT_SPEC_DIR, EXAMPLES_DIR])


# ---------------------------------------------------------------- reading the picture


@dataclasses.dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Box) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


def classes(el: ET.Element) -> set[str]:
    return set((el.get("class") or "").split())


def groups(root: ET.Element, token: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if token in classes(g)]


def box_of(node: ET.Element) -> Box:
    rect = next(r for r in node.iter(f"{SVG}rect") if "box" in classes(r))
    return Box(*(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height")))


def title_of(el: ET.Element) -> str:
    title = el.find(f"{SVG}title")
    assert title is not None and title.text is not None
    return title.text


def numbers(d: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", d)]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return root


def dependencies(dag: CompiledDag) -> list[tuple[str, str]]:
    return sorted((dep, sid) for sid, step in dag.steps.items() for dep in step.after)


def check_picture(dag: CompiledDag, svg: str, direction: str) -> ET.Element:
    root = parse(svg)
    assert root.get("width") == "100%"
    vx, vy, vw, vh = (float(v) for v in (root.get("viewBox") or "").split())
    assert (vx, vy) == (0, 0) and vw > 0 and vh > 0
    assert f"dag-{direction.lower()}" in classes(root)

    nodes = groups(root, "node")
    assert sorted(n.get("data-step") or "" for n in nodes) == sorted(dag.steps)
    boxes = {n.get("data-step") or "": box_of(n) for n in nodes}
    for sid, box in boxes.items():
        assert box.w > 0 and box.h > 0, sid
        assert box.x >= 0 and box.x + box.w <= vw and box.y >= 0 and box.y + box.h <= vh, sid
    for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
        assert not ba.overlaps(bb), f"{dag.name}: boxes of {a} and {b} overlap"

    edges = groups(root, "edge")
    pairs = sorted((e.get("data-from") or "", e.get("data-to") or "") for e in edges)
    assert pairs == dependencies(dag)
    for e in edges:
        src, dst = boxes[e.get("data-from") or ""], boxes[e.get("data-to") or ""]
        line = next(p for p in e.iter(f"{SVG}path") if "line" in classes(p))
        arrow = next(p for p in e.iter(f"{SVG}path") if "arrow" in classes(p))
        start, tip = numbers(line.get("d") or ""), numbers(arrow.get("d") or "")
        if direction == "LR":  # strictly to the right, from the source's edge to the target's
            assert dst.x > src.x + src.w
            assert start[0] == pytest.approx(src.x + src.w, abs=0.11)
            assert tip[0] == pytest.approx(dst.x, abs=0.11) and dst.y <= tip[1] <= dst.y + dst.h
        else:  # strictly below
            assert dst.y > src.y + src.h
            assert start[1] == pytest.approx(src.y + src.h, abs=0.11)
            assert tip[1] == pytest.approx(dst.y, abs=0.11) and dst.x <= tip[0] <= dst.x + dst.w
        step = dag.steps[e.get("data-to") or ""]
        dashed = {"branch", "conditional"} & classes(e)
        gated = step.gated_by is not None and step.gated_by[0] == e.get("data-from")
        assert bool(dashed) == (gated or bool(step.spec.when))
    return root


# ---------------------------------------------------------------- the shipped templates


def test_the_twelve_templates_are_all_drawn(registry: SpecRegistry) -> None:
    assert len(SHIPPED) == 12
    assert set(SHIPPED) <= {d.name for d in registry.current.values()}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", [*SHIPPED, "hello_approval", "hello_review"])
def test_template_picture(registry: SpecRegistry, name: str, direction: Direction) -> None:
    dag = registry.by_name(name)
    root = check_picture(dag, render_dag_svg(dag, direction=direction), direction)
    assert not any(c.startswith("state-") for g in root.iter() for c in classes(g))
    assert name in title_of(root)
    for node in groups(root, "node"):
        step = dag.steps[node.get("data-step") or ""]
        assert f"kind-{step.kind}" in classes(node)
        assert ("foreach" in classes(node)) == (step.spec.foreach is not None)
        texts = [t.text or "" for t in node.iter(f"{SVG}text")]
        assert len(texts) == 2 and step.id.startswith(texts[0].rstrip("…"))
        assert step.id in title_of(node)


@pytest.mark.parametrize("name", SHIPPED)
def test_live_run_states_become_classes(registry: SpecRegistry, name: str) -> None:
    dag = registry.by_name(name)
    states = {sid: STATE_CYCLE[i % len(STATE_CYCLE)] for i, sid in enumerate(dag.steps)}
    first = next(iter(dag.steps))
    del states[first]  # a step the run has not reported yet is pending
    root = check_picture(dag, render_dag_svg(dag, states), "LR")
    for node in groups(root, "node"):
        sid = node.get("data-step") or ""
        state = states.get(sid, "pending")
        want = "state-completed" if state == "succeeded" else f"state-{state}"
        assert want in classes(node) and [c for c in classes(node) if c.startswith("state-")] == [
            want
        ]
        assert node.get("data-state") == state and f"state: {state}" in title_of(node)


def test_state_classes() -> None:
    assert [state_class(s) for s in STATES] == [f"state-{s}" for s in STATES]
    assert state_class("succeeded") == "state-completed"
    assert state_class('x" onload="alert(1)') == "state-unknown"
    for state in ("pending", "running", "waiting", "completed", "failed", "skipped", "cancelled"):
        assert f".state-{state}" in DAG_CSS
    assert "url(" not in DAG_CSS and "@import" not in DAG_CSS and "expression(" not in DAG_CSS
    assert ".dag .node" in DAG_CSS and ".dag .edge" in DAG_CSS


def test_edges_follow_the_run(registry: SpecRegistry) -> None:
    dag = registry.by_name("crisis_management")
    states = {sid: "succeeded" for sid in ("sentiment", "triage", "assessment", "response")}
    states |= {"exec_plan": "running", "holding_statement": "skipped"}
    root = parse(render_dag_svg(dag, states))
    by_pair = {(e.get("data-from"), e.get("data-to")): classes(e) for e in groups(root, "edge")}
    assert "taken" in by_pair[("assessment", "response")]
    assert "taken" in by_pair[("response", "exec_plan")]
    assert "dimmed" in by_pair[("response", "holding_statement")]
    assert {"taken", "dimmed"}.isdisjoint(by_pair[("exec_plan", "public_statement")])
    assert "branch" in by_pair[("response", "exec_plan")]


def test_branch_and_condition_labels(registry: SpecRegistry) -> None:
    root = parse(render_dag_svg(registry.by_name("content_creation")))
    labels = {
        (e.get("data-from"), e.get("data-to")): "".join(t.text or "" for t in e.iter(f"{SVG}text"))
        for e in groups(root, "edge")
    }
    assert labels[("draft", "seo")] == ""
    assert labels[("review", "creatives")].startswith("review approved and")
    assert len(labels[("review", "creatives")]) <= 28
    assert short_condition("approvals.go_live.approved") == "go_live approved"
    root = parse(render_dag_svg(registry.by_name("customer_onboarding")))
    options = {"".join(t.text or "" for t in e.iter(f"{SVG}text")) for e in groups(root, "edge")}
    assert {"white_glove", "self_serve"} <= options


# ---------------------------------------------------------------- escaping and page safety

SAFE_ATTRIBUTES = {
    "xmlns", "class", "viewBox", "width", "height", "preserveAspectRatio", "role",
    "aria-label", "data-template", "font-family", "font-size", "font-weight", "x", "y", "rx",
    "d", "fill", "stroke", "stroke-dasharray", "text-anchor", "data-step", "data-kind",
    "data-state", "data-from", "data-to",
}  # fmt: skip
SAFE_TAGS = {"svg", "title", "g", "rect", "path", "text"}


def assert_page_safe(svg: str) -> None:
    root = parse(svg)
    for el in root.iter():
        assert el.tag.removeprefix(SVG) in SAFE_TAGS, el.tag
        assert set(el.attrib) <= SAFE_ATTRIBUTES, set(el.attrib) - SAFE_ATTRIBUTES
    lowered = svg.lower()
    for bad in ("<script", "style=", "<style", "href", "url(", "javascript:", "<foreignobject"):
        assert bad not in lowered, bad


NASTY = '<script>alert("x")</script> & "quoted" \'single\' ]]> \x07'
WHEN = 'params.note == "<script>" || params.note == \'"&amp;\''


def nasty_spec() -> dict[str, Any]:
    return {
        "name": "nasty",
        "version": 1,
        "description": NASTY,
        "params": {"note": {"type": "string", "default": "x"}},
        "steps": [
            {"id": "draft", "agent": "noop", "mode": "echo", "summary": NASTY},
            {
                "id": "review",
                "approval": {"prompt": NASTY},
                "after": ["draft"],
                "summary": NASTY,
            },
            {"id": "post", "agent": "noop", "mode": "echo", "after": ["review"], "when": WHEN},
            {
                "id": "route",
                "choice": {"prompt": NASTY, "options": {"a": ["left"], "b": ["right"]}},
                "after": ["draft"],
            },
            {"id": "left", "agent": "noop", "mode": "echo", "after": ["route"]},
            {"id": "right", "agent": "noop", "mode": "echo", "after": ["route"]},
        ],
    }


def test_spec_text_is_escaped() -> None:
    dag = compile_spec(nasty_spec(), "dag_specs/nasty.yaml")
    svg = render_dag_svg(dag, {"draft": "running", "review": 'wait"ing<script>'})
    assert_page_safe(svg)
    root = check_picture(dag, svg, "LR")
    nodes = {n.get("data-step"): n for n in groups(root, "node")}
    clean = NASTY.replace("\x07", "\ufffd")  # a character XML cannot hold
    assert clean in title_of(nodes["draft"]) and f"approval: {clean}" in title_of(nodes["review"])
    assert "state-unknown" in classes(nodes["review"])
    assert nodes["review"].get("data-state") == 'wait"ing<script>'
    post = next(e for e in groups(root, "edge") if e.get("data-to") == "post")
    assert WHEN in title_of(post) and "conditional" in classes(post)


def test_step_ids_and_names_are_escaped_even_past_the_compiler() -> None:
    """Ids are snake_case once compiled; the renderer escapes them anyway."""
    dag = compile_spec(nasty_spec(), "dag_specs/nasty.yaml")
    bad = 'x"><script>alert(1)</script><g a="'
    rename = {"draft": bad}
    steps = {
        rename.get(sid, sid): dataclasses.replace(
            step, id=rename.get(sid, sid), after=tuple(rename.get(d, d) for d in step.after)
        )
        for sid, step in dag.steps.items()
    }
    spec = dag.spec.model_copy(update={"name": '<script>"n"</script>'})
    evil = dataclasses.replace(dag, steps=steps, spec=spec)
    svg = render_dag_svg(evil, {bad: "failed"})
    assert_page_safe(svg)
    root = check_picture(evil, svg, "LR")
    assert bad in {n.get("data-step") for n in groups(root, "node")}
    assert bad in {e.get("data-from") for e in groups(root, "edge")}
    assert root.get("data-template") == '<script>"n"</script>'


@pytest.mark.parametrize("name", SHIPPED)
def test_templates_are_page_safe(registry: SpecRegistry, name: str) -> None:
    dag = registry.by_name(name)
    assert_page_safe(render_dag_svg(dag, dict.fromkeys(dag.steps, "running")))


# ---------------------------------------------------------------- layout


def noop(sid: str, after: list[str]) -> dict[str, Any]:
    return {"id": sid, "agent": "noop", "mode": "echo", "after": after}


def small_spec(steps: list[dict[str, Any]]) -> CompiledDag:
    raw = {"name": "layout", "version": 1, "description": "layout", "steps": steps}
    return compile_spec(copy.deepcopy(raw), "dag_specs/layout.yaml")


def test_barycenter_uncrosses_a_layer() -> None:
    # in spec order the second layer (c, d) would cross the first (a, b): c is b's, d is a's
    dag = small_spec([noop("a", []), noop("b", []), noop("c", ["b"]), noop("d", ["a"])])
    root = check_picture(dag, render_dag_svg(dag), "LR")
    y = {n.get("data-step"): box_of(n).y for n in groups(root, "node")}
    assert (y["a"] < y["b"]) == (y["d"] < y["c"])


def test_long_edges_bend_around_layers() -> None:
    # a -> d skips two layers; the picture still has one edge for it, right of a, left of d
    dag = small_spec([noop("a", []), noop("b", ["a"]), noop("c", ["b"]), noop("d", ["a", "c"])])
    check_picture(dag, render_dag_svg(dag), "LR")
    check_picture(dag, render_dag_svg(dag, direction="TB"), "TB")


def test_a_large_random_dag_is_fast_and_tidy() -> None:
    rng = random.Random(12)
    steps = [noop(f"s{i}", []) for i in range(6)]
    for i in range(6, 48):
        picks = rng.sample(range(i), k=rng.randint(1, 3))
        steps.append(noop(f"step_with_a_longer_name_{i}", [steps[p]["id"] for p in picks]))
    dag = small_spec(steps)
    began = time.perf_counter()
    svgs = {d: render_dag_svg(dag, direction=d) for d in DIRECTIONS}
    assert time.perf_counter() - began < 2.0
    for direction, svg in svgs.items():
        check_picture(dag, svg, direction)
