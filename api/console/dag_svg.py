"""A compiled template drawn as an SVG DAG: the console's picture of a template, and of one
run with the state of each step.

Pure Python, no dependencies. The layout is layered (Sugiyama style): each step's layer is
the longest path from a step with no `after`; an edge that skips layers gets a bend point in
each layer it crosses; barycenter sweeps order each layer to cut crossings; an ordered
placement (pool-adjacent-violators) pulls every node toward its neighbours without letting
two boxes of a layer overlap. Left to right by default, top to bottom on request.

The output is safe to inline in a page served with `default-src 'self'; style-src 'self'`:
no scripts, no event handlers, no `style` attributes or elements, no external or `url(#…)`
references (arrowheads are drawn per edge, so several pictures on one page share no ids).
Every text that comes from a spec is XML-escaped. Looks come from classes — `DAG_CSS` holds
the rules; a few presentation attributes (fill, stroke, font size) keep the picture legible
without them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from workflows.compiler import CompiledDag, CompiledStep
from workflows.mermaid import duration_text as _duration

__all__ = [
    "DAG_CSS",
    "STATES",
    "Direction",
    "kind_label",
    "render_dag_svg",
    "short_condition",
    "state_class",
]

Direction = Literal["LR", "TB"]

STATES: tuple[str, ...] = (
    "pending",
    "running",
    "waiting",
    "completed",
    "failed",
    "skipped",
    "cancelled",
    "rejected",
)
"""Step states drawn as `state-<name>` classes. The runtime's `succeeded` is drawn as
`completed`; anything else as `state-unknown` (a state never reaches the markup as is)."""
_STATE_ALIASES = {"succeeded": "completed", "canceled": "cancelled"}
_KINDS = frozenset({"agent", "approval", "choice", "workflow"})

# Geometry, in viewBox units (px at scale 1).
NODE_H = 46.0
NODE_MIN_W = 120.0
NODE_MAX_W = 250.0
NODE_PAD = 10.0
NODE_GAP = 20.0  # between two boxes of one layer
BEND_GAP = 10.0  # next to a bend point of an edge that skips a layer
LAYER_GAP_LR = 56.0
LAYER_GAP_TB = 48.0
MARGIN = 14.0
ARROW_LEN = 7.0
ARROW_HALF = 4.0
STACK_OFFSET = 4.0  # the second box behind a `foreach` step
ID_FONT = 13.0
SUB_FONT = 11.0
LABEL_FONT = 10.5
ID_CHAR_W = 7.8  # estimated advance of one character at ID_FONT, semibold
SUB_CHAR_W = 6.3
LABEL_CHAR_W = 6.0
LABEL_H = 15.0
LABEL_MAX_CHARS = 28
SWEEPS = 8


DAG_CSS = (Path(__file__).parent / "static" / "dag.css").read_text()
"""The rules the pictures need (classes only: the console's CSP allows no inline style);
the console serves this file as /admin/static/dag.css on every page."""
"""The rules the console copies into its stylesheet (no inline styles under its CSP)."""


# ---------------------------------------------------------------- text


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _xml_text(text: str) -> str:
    """Text content, escaped; characters XML cannot hold become U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", text))


def _xml_attr(text: str) -> str:
    """An attribute value with its quotes (`quoteattr`), escaped the same way."""
    return quoteattr(_NOT_XML.sub("\ufffd", text), _ATTR_ENTITIES)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if limit < 2:
        return text[:limit]
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_CONDITION_TERMS = (
    (re.compile(r"\bapprovals\.(\w+)\.approved\b"), r"\1 approved"),
    (re.compile(r"\bchoices\.(\w+)\.option\b"), r"\1"),
    (re.compile(r"\bsteps\.(\w+)\.output\b"), r"\1"),
    (re.compile(r"\bparams\."), ""),
    (re.compile(r"\s*&&\s*"), " and "),
    (re.compile(r"\s*\|\|\s*"), " or "),
)


def short_condition(expr: str, limit: int = LABEL_MAX_CHARS) -> str:
    """A `when:` expression as an edge label: `approvals.review.approved && 'social' in
    params.channels` -> `review approved and 'social' in…` (the tooltip has it whole)."""
    text = " ".join(expr.split())
    for pattern, repl in _CONDITION_TERMS:
        text = pattern.sub(repl, text)
    return _shorten(text, limit)


def _num(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def state_class(state: str) -> str:
    """`running` -> `state-running`; the runtime's `succeeded` -> `state-completed`; a state
    not in `STATES` -> `state-unknown`."""
    name = _STATE_ALIASES.get(state, state)
    return f"state-{name}" if name in STATES else "state-unknown"


def kind_label(step: CompiledStep) -> str:
    """The second line of a node: agent/mode, or the kind of a person or child step."""
    s = step.spec
    if step.kind == "agent":
        text = f"{s.agent}/{s.mode}"
    elif step.kind == "approval":
        text = "approval"
        if len(step.people.levels) > 1:
            text += f" · {len(step.people.levels)} levels"
        if step.people.revise_loop:
            text += f" · ↺ {step.people.revise_loop[0]}"
    elif step.kind == "choice":
        text = "choice by rule" if s.choice is not None and s.choice.by else "choice"
    elif step.kind == "workflow":
        text = f"child {s.workflow}"
    else:
        text = str(step.kind)
    if s.foreach is not None:
        text += f" · foreach ≤{s.max_parallel}"
    return text


def _tooltip(step: CompiledStep, state: str | None) -> str:
    s = step.spec
    lines = [f"{step.id}: {step.summary}" if step.summary else step.id]
    if step.kind == "agent":
        lines.append(f"agent {s.agent}, mode {s.mode}")
    elif step.kind == "workflow":
        lines.append(f"child workflow {s.workflow}")
    if s.approval is not None:
        lines.append(f"approval: {s.approval.prompt}")
        lines.append(f"on timeout: {s.approval.on_timeout}")
    if s.choice is not None:
        lines.append(f"choice: {s.choice.prompt}")
        for option, members in s.choice.options.items():
            default = " (default)" if option == s.choice.default else ""
            lines.append(f"  {option}{default}: {', '.join(members) or '—'}")
        if s.choice.by:
            lines.append(f"chosen by: {s.choice.by}")
    levels = step.people.levels
    if len(levels) > 1 or (levels and levels[0].group):
        lines.append(
            "asks: " + " → ".join(f"{lv.group or 'any'} {_duration(lv.timeout)}" for lv in levels)
        )
    if step.people.revise_loop:
        lines.append(
            f"revise re-runs {', '.join(step.people.revise_loop)}"
            f" (at most {step.people.max_revisions} times)"
        )
    if step.people.bind:
        lines.append(f"bound to {', '.join(step.people.bind)}")
    if s.foreach is not None:
        lines.append(f"foreach {s.foreach} ({s.max_parallel} at once)")
    if step.after:
        done = " (when all are done)" if s.trigger == "all_done" else ""
        lines.append(f"after {', '.join(step.after)}{done}")
    if step.gated_by is not None:
        choice, options = step.gated_by
        lines.append(f"runs on {' / '.join(sorted(options))} of choice {choice}")
    if s.when:
        lines.append(f"when {s.when}")
    if state is not None:
        lines.append(f"state: {state}")
    return "\n".join(lines)


# ---------------------------------------------------------------- layout


@dataclass
class _Vertex:
    """A step's box, or a bend point of an edge that skips a layer (step None)."""

    layer: int
    main: float  # size along the flow (width left to right, height top to bottom)
    cross: float  # size across it
    step: CompiledStep | None = None
    label: str = ""
    sublabel: str = ""
    pos: float = 0.0  # centre on the cross axis
    at: float = 0.0  # where it starts along the flow
    up: list[int] = field(default_factory=list)  # neighbours in the layer before
    down: list[int] = field(default_factory=list)  # neighbours in the layer after


@dataclass
class _Edge:
    dep: str
    step: str
    chain: list[int]  # vertices from the dependency to the step, bend points between
    classes: list[str]
    label: str = ""
    title: str = ""


def _fit(text: str, char_w: float, room: float) -> str:
    return _shorten(text, max(int(room // char_w), 1))


def _box(step: CompiledStep, direction: Direction) -> tuple[float, float, str, str]:
    """(main size, cross size, label, sublabel) of a step's box, its texts cut to fit."""
    sub = kind_label(step)
    wanted = max(len(step.id) * ID_CHAR_W, len(sub) * SUB_CHAR_W) + 2 * NODE_PAD
    width = min(max(wanted, NODE_MIN_W), NODE_MAX_W)
    room = width - 2 * NODE_PAD
    label, sublabel = _fit(step.id, ID_CHAR_W, room), _fit(sub, SUB_CHAR_W, room)
    if direction == "LR":
        return width, NODE_H, label, sublabel
    return NODE_H, width, label, sublabel


def _layers(dag: CompiledDag) -> dict[str, int]:
    """Longest path from a step with no dependency."""
    layer: dict[str, int] = {}

    def of(sid: str, seen: frozenset[str]) -> int:
        if sid in layer:
            return layer[sid]
        deps = [d for d in dag.steps[sid].after if d in dag.steps and d not in seen]
        value = 1 + max((of(d, seen | {sid}) for d in deps), default=-1)
        layer[sid] = value
        return value

    for sid in dag.steps:
        of(sid, frozenset())
    return layer


def _crossings(layers: Sequence[Sequence[int]], vertices: Sequence[_Vertex]) -> int:
    total = 0
    for upper, lower in pairwise(layers):
        at = {v: i for i, v in enumerate(lower)}
        pairs = [(i, at[w]) for i, v in enumerate(upper) for w in vertices[v].down]
        total += sum(
            1
            for k, (a1, b1) in enumerate(pairs)
            for a2, b2 in pairs[k + 1 :]
            if (a1 - a2) * (b1 - b2) < 0
        )
    return total


def _order(layers: list[list[int]], vertices: Sequence[_Vertex]) -> list[list[int]]:
    """Barycenter sweeps, down then up, keeping the order with the fewest crossings."""
    current = [list(layer) for layer in layers]
    best, best_crossings = [list(layer) for layer in current], _crossings(current, vertices)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for i in indices:
            ref = current[i - 1] if downward else current[i + 1]
            at = {v: k for k, v in enumerate(ref)}
            layer = current[i]
            scale = (len(ref) - 1) / max(len(layer) - 1, 1)

            def key(
                item: tuple[int, int],
                at: dict[int, int] = at,
                scale: float = scale,
                downward: bool = downward,
            ) -> float:
                k, v = item
                near = vertices[v].up if downward else vertices[v].down
                if not near:
                    return k * scale  # no neighbour there: keep its place
                return sum(at[n] for n in near) / len(near)

            current[i] = [v for _, v in sorted(enumerate(layer), key=lambda kv: (key(kv), kv[0]))]
        crossings = _crossings(current, vertices)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in current], crossings
        if best_crossings == 0:
            break
    return best


def _pack(desired: Sequence[float], sizes: Sequence[float], gaps: Sequence[float]) -> list[float]:
    """Centres in the given order, each at least (size_a + size_b) / 2 + gap from the one
    before, as close to `desired` as can be (least squares: pool adjacent violators)."""
    offsets = [0.0]
    for i in range(1, len(sizes)):
        offsets.append(offsets[-1] + (sizes[i - 1] + sizes[i]) / 2 + gaps[i - 1])
    blocks: list[tuple[float, int]] = []  # (sum, count) of pooled values
    for d, o in zip(desired, offsets, strict=True):
        total, count = d - o, 1
        while blocks and blocks[-1][0] / blocks[-1][1] > total / count:
            s, c = blocks.pop()
            total, count = total + s, count + c
        blocks.append((total, count))
    flat = [total / count for total, count in blocks for _ in range(count)]
    return [z + o for z, o in zip(flat, offsets, strict=True)]


def _place_layer(layer: Sequence[int], vertices: Sequence[_Vertex], desired: list[float]) -> None:
    gaps = [
        NODE_GAP if vertices[a].step is not None and vertices[b].step is not None else BEND_GAP
        for a, b in pairwise(layer)
    ]
    sizes = [vertices[v].cross for v in layer]
    for v, p in zip(layer, _pack(desired, sizes, gaps), strict=True):
        vertices[v].pos = p


def _assign_positions(layers: Sequence[Sequence[int]], vertices: Sequence[_Vertex]) -> None:
    for layer in layers:
        _place_layer(layer, vertices, [0.0] * len(layer))  # each layer centred on 0
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for i in indices:
            desired = []
            for v in layers[i]:
                near = vertices[v].up if downward else vertices[v].down
                if sweep == SWEEPS - 1:
                    near = vertices[v].up + vertices[v].down
                desired.append(
                    sum(vertices[n].pos for n in near) / len(near) if near else vertices[v].pos
                )
            _place_layer(layers[i], vertices, desired)


# ---------------------------------------------------------------- drawing


@dataclass
class _Canvas:
    direction: Direction
    parts: list[str] = field(default_factory=list)

    def xy(self, main: float, cross: float) -> tuple[float, float]:
        return (main, cross) if self.direction == "LR" else (cross, main)

    def point(self, main: float, cross: float) -> str:
        x, y = self.xy(main, cross)
        return f"{_num(x)} {_num(y)}"

    def rect(self, main0: float, cross0: float, main_size: float, cross_size: float) -> str:
        x, y = self.xy(main0, cross0)
        w, h = self.xy(main_size, cross_size)
        return f'x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}"'


def _edge_classes(dag: CompiledDag, dep: str, sid: str) -> tuple[list[str], str, str]:
    """(classes, short label, full condition) of the edge dep -> sid."""
    step = dag.steps[sid]
    classes = ["edge"]
    label = condition = ""
    if step.gated_by is not None and step.gated_by[0] == dep:
        options = " / ".join(sorted(step.gated_by[1]))
        classes.append("branch")
        condition = f"option {options}"
        label = _shorten(options, LABEL_MAX_CHARS)
    elif step.spec.when:
        classes.append("conditional")
        condition = f"when {step.spec.when}"
        label = short_condition(step.spec.when)
    if step.spec.trigger == "all_done":
        classes.append("all-done")
    return classes, label, condition


def _state_of(states: Mapping[str, str] | None, sid: str) -> str | None:
    if states is None:
        return None
    return states.get(sid, "pending")


def _edge_state_classes(source: str | None, target: str | None) -> list[str]:
    if source is None or target is None:
        return []
    source, target = _STATE_ALIASES.get(source, source), _STATE_ALIASES.get(target, target)
    if target in ("skipped", "cancelled"):
        return ["dimmed"]
    if source == "completed" and target != "pending":
        return ["taken"]
    return []


def render_dag_svg(
    dag: CompiledDag,
    states: Mapping[str, str] | None = None,
    *,
    direction: Direction = "LR",
) -> str:
    """The template's DAG as an `<svg class="dag">` string, to inline in a page.

    `states` maps step id -> state (`pending`, `running`, `waiting`, `completed` or
    `succeeded`, `failed`, `skipped`, `cancelled`, `rejected`): each node gets the class
    `state-<state>`, and a step missing from the mapping is `pending`. Without `states` (a
    template, no run) nodes carry no state. Each node is a `<g class="node kind-…">` with
    `data-step`, a `<title>` tooltip and a `rect.box`; each dependency is one
    `<g class="edge">` with `data-from`/`data-to`, dashed (`branch`, `conditional`) when a
    choice option or a `when:` decides it, labelled with the condition shortened."""
    canvas = _Canvas(direction)
    lay = _layout(dag, states, direction)
    width, height = canvas.xy(lay.main_size, lay.cross_size)
    size = "s" if width <= 480 else "m" if width <= 800 else "l" if width <= 1200 else "xl"
    name = f"{dag.name} v{dag.version}"
    out = canvas.parts
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag dag-{direction.lower()} '
        f'dag-size-{size}" viewBox="0 0 {_num(width)} {_num(height)}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-label={_xml_attr(name)} '
        f"data-template={_xml_attr(dag.name)} "
        f'font-family="system-ui, sans-serif" font-size="{_num(ID_FONT)}">'
    )
    out.append(f"<title>{_xml_text(name)}</title>")
    out.append('<g class="edges">')
    for k, e in enumerate(lay.edges):
        _draw_edge(canvas, e, lay, lay.label_at.get(k))
    out.append("</g>")
    out.append('<g class="nodes">')
    for sid in dag.steps:
        _draw_node(canvas, lay.vertices[lay.index[sid]], _state_of(states, sid))
    out.append("</g>")
    out.append("</svg>")
    return "".join(out)


@dataclass
class _Layout:
    vertices: list[_Vertex]
    index: dict[str, int]  # step id -> vertex
    edges: list[_Edge]
    band_start: list[float]  # where each layer starts along the flow
    band_size: list[float]
    label_at: dict[int, tuple[float, float]]  # edge -> centre of its label (main, cross)
    main_size: float
    cross_size: float


def _layout(dag: CompiledDag, states: Mapping[str, str] | None, direction: Direction) -> _Layout:
    layer_of = _layers(dag)
    n_layers = max(layer_of.values(), default=-1) + 1
    vertices: list[_Vertex] = []
    index: dict[str, int] = {}
    for sid, step in dag.steps.items():
        main, cross, label, sublabel = _box(step, direction)
        index[sid] = len(vertices)
        vertices.append(_Vertex(layer_of[sid], main, cross, step, label, sublabel))

    edges: list[_Edge] = []
    for sid, step in dag.steps.items():
        for dep in step.after:
            if dep not in index:
                continue
            chain = [index[dep]]
            for layer in range(layer_of[dep] + 1, layer_of[sid]):
                chain.append(len(vertices))
                vertices.append(_Vertex(layer, 0.0, 0.0))
            chain.append(index[sid])
            for a, b in pairwise(chain):
                vertices[a].down.append(b)
                vertices[b].up.append(a)
            classes, label, condition = _edge_classes(dag, dep, sid)
            classes += _edge_state_classes(_state_of(states, dep), _state_of(states, sid))
            title = f"{dep} → {sid}" + (f": {condition}" if condition else "")
            edges.append(_Edge(dep, sid, chain, classes, label, title))

    layers: list[list[int]] = [[] for _ in range(n_layers)]
    for i, v in enumerate(vertices):
        layers[v.layer].append(i)
    layers = _order(layers, vertices)
    _assign_positions(layers, vertices)

    # bands along the flow: one per layer, gaps wide enough for the labels that land there
    label_main = (
        (lambda text: len(text) * LABEL_CHAR_W + 10) if direction == "LR" else (lambda _: LABEL_H)
    )
    label_cross = (
        (lambda _: LABEL_H) if direction == "LR" else (lambda text: len(text) * LABEL_CHAR_W + 10)
    )
    base_gap = LAYER_GAP_LR if direction == "LR" else LAYER_GAP_TB
    gaps = [base_gap] * max(n_layers - 1, 0)
    for e in edges:
        if e.label:
            g = vertices[e.chain[-1]].layer - 1
            extra = label_main(e.label) + (20 if direction == "LR" else 12)
            gaps[g] = max(gaps[g], extra if direction == "LR" else base_gap + extra)
    band_start: list[float] = []
    band_size = [max(vertices[v].main for v in layer) for layer in layers]
    at = 0.0
    for i in range(n_layers):
        band_start.append(at)
        at += band_size[i] + (gaps[i] if i < n_layers - 1 else 0.0)

    for v in vertices:
        v.at = band_start[v.layer] + (band_size[v.layer] - v.main) / 2

    # labels: on the last stretch of their edge, pushed apart within a gap
    label_at: dict[int, tuple[float, float]] = {}
    by_gap: dict[int, list[tuple[float, int]]] = {}
    for k, e in enumerate(edges):
        if not e.label:
            continue
        before, target = vertices[e.chain[-2]], vertices[e.chain[-1]]
        by_gap.setdefault(target.layer - 1, []).append(((before.pos + target.pos) / 2, k))
    for g, items in by_gap.items():
        items.sort()
        sizes = [label_cross(edges[k].label) for _, k in items]
        packed = _pack([c for c, _ in items], sizes, [3.0] * len(items))
        middle = band_start[g] + band_size[g] + gaps[g] / 2
        for (_, k), c in zip(items, packed, strict=True):
            label_at[k] = (middle, c)

    # extent on the cross axis, then every coordinate shifted by the margin
    lows = [v.pos - v.cross / 2 for v in vertices]
    highs = [v.pos + v.cross / 2 + (STACK_OFFSET if _is_foreach(v) else 0.0) for v in vertices]
    for k, (_, c) in label_at.items():
        half = label_cross(edges[k].label) / 2
        lows.append(c - half)
        highs.append(c + half)
    low = min(lows, default=0.0)
    cross_size = max(highs, default=0.0) - low
    shift = MARGIN - low
    for v in vertices:
        v.pos += shift
    label_at = {k: (m + MARGIN, c + shift) for k, (m, c) in label_at.items()}
    band_start = [b + MARGIN for b in band_start]
    for v in vertices:
        v.at += MARGIN
    main_size = at + STACK_OFFSET

    return _Layout(
        vertices=vertices,
        index=index,
        edges=edges,
        band_start=band_start,
        band_size=band_size,
        label_at=label_at,
        main_size=main_size + 2 * MARGIN,
        cross_size=cross_size + 2 * MARGIN,
    )


def _is_foreach(v: _Vertex) -> bool:
    return v.step is not None and v.step.spec.foreach is not None


def _draw_edge(
    canvas: _Canvas,
    e: _Edge,
    lay: _Layout,
    label_at: tuple[float, float] | None,
) -> None:
    p = canvas.point
    vertices, band_start, band_size = lay.vertices, lay.band_start, lay.band_size
    source = vertices[e.chain[0]]
    main = source.at + source.main
    cross = source.pos
    d = [f"M{p(main, cross)}"]
    band_end = band_start[source.layer] + band_size[source.layer]
    if band_end > main:
        d.append(f"L{p(band_end, cross)}")
        main = band_end
    tip = vertices[e.chain[-1]].at
    for v in e.chain[1:]:
        vx = vertices[v]
        entry = band_start[vx.layer]
        if vx.step is not None:  # the line stops where the arrowhead begins
            entry = min(entry, tip - ARROW_LEN)
        half = (entry - main) / 2
        d.append(f"C{p(main + half, cross)} {p(entry - half, vx.pos)} {p(entry, vx.pos)}")
        main, cross = entry, vx.pos
        if vx.step is None:  # a bend point: straight across its layer
            main = entry + band_size[vx.layer]
            d.append(f"L{p(main, cross)}")
    if tip - ARROW_LEN > main:
        d.append(f"L{p(tip - ARROW_LEN, cross)}")
    arrow = (
        f"M{p(tip, cross)}L{p(tip - ARROW_LEN, cross - ARROW_HALF)}"
        f"L{p(tip - ARROW_LEN, cross + ARROW_HALF)}Z"
    )
    dashed = ' stroke-dasharray="5 4"' if {"branch", "conditional"} & set(e.classes) else ""
    out = canvas.parts
    out.append(
        f'<g class="{" ".join(e.classes)}" '
        f"data-from={_xml_attr(e.dep)} data-to={_xml_attr(e.step)}>"
        f"<title>{_xml_text(e.title)}</title>"
        f'<path class="line" d="{"".join(d)}" fill="none" stroke="#8a94a6"{dashed}/>'
        f'<path class="arrow" d="{arrow}" fill="#8a94a6"/>'
    )
    if label_at is not None and e.label:
        m, c = label_at
        w = len(e.label) * LABEL_CHAR_W + 10
        box = canvas.rect(m - w / 2, c - LABEL_H / 2, w, LABEL_H)
        if canvas.direction == "TB":
            box = canvas.rect(m - LABEL_H / 2, c - w / 2, LABEL_H, w)
        x, y = canvas.xy(m, c)
        out.append(
            f'<rect class="edge-label-bg" {box} rx="3" fill="#fff"/>'
            f'<text class="edge-label" x="{_num(x)}" y="{_num(y + LABEL_FONT * 0.35)}" '
            f'text-anchor="middle" font-size="{_num(LABEL_FONT)}">{_xml_text(e.label)}</text>'
        )
    out.append("</g>")


def _draw_node(canvas: _Canvas, v: _Vertex, state: str | None) -> None:
    step = v.step
    assert step is not None
    kind = step.kind if step.kind in _KINDS else "other"
    classes = ["node", f"kind-{kind}"]
    if kind in ("approval", "choice"):
        classes.append("human")
    if step.spec.foreach is not None:
        classes.append("foreach")
    if step.people.revise_loop:
        classes.append("revise")
    if state is not None:
        classes.append(state_class(state))
    out = canvas.parts
    data_state = f" data-state={_xml_attr(state)}" if state is not None else ""
    out.append(
        f'<g class="{" ".join(classes)}" data-step={_xml_attr(step.id)} data-kind="{kind}"'
        f"{data_state}><title>{_xml_text(_tooltip(step, state))}</title>"
    )
    top = v.pos - v.cross / 2
    if step.spec.foreach is not None:  # a second box behind: several runs of the step
        box = canvas.rect(v.at + STACK_OFFSET, top + STACK_OFFSET, v.main, v.cross)
        out.append(f'<rect class="stack" {box} rx="8" fill="#f1f3f7" stroke="#b4bccb"/>')
    box = canvas.rect(v.at, top, v.main, v.cross)
    out.append(f'<rect class="box" {box} rx="8" fill="#fff" stroke="#8a94a6"/>')
    cx, cy = canvas.xy(v.at + v.main / 2, v.pos)
    out.append(
        f'<text class="label" x="{_num(cx)}" y="{_num(cy - 3)}" text-anchor="middle" '
        f'font-weight="600">{_xml_text(v.label)}</text>'
        f'<text class="sublabel" x="{_num(cx)}" y="{_num(cy + 13)}" text-anchor="middle" '
        f'font-size="{_num(SUB_FONT)}" fill="#5f6368">{_xml_text(v.sublabel)}</text>'
    )
    out.append("</g>")
