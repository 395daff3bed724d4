"""CEL expressions and `${…}` value templates, compiled once when a spec is compiled.

`when:` is a bare CEL expression. In `with:`/`foreach:` a string that is exactly `${expr}`
takes the expression's value with its type; `${…}` inside a longer string interpolates.
Evaluation is deterministic and I/O free, so it runs inside the workflow sandbox.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from lark import Token, Tree

from workflows.spec import EXPRESSION_LIMIT

ROOTS = ("params", "steps", "approvals", "choices")
FOREACH_ROOTS = ("item", "index")
_MACROS = {"all", "exists", "exists_one", "map", "filter"}
_EXACT = re.compile(r"^\$\{(.*)\}$", re.S)
_PART = re.compile(r"\$\{(.*?)\}", re.S)

_env = celpy.Environment()


class ExpressionError(ValueError):
    """A CEL expression does not parse or refers to something it may not."""


class EvaluationError(RuntimeError):
    """A CEL expression failed at run time (missing field, wrong type …)."""


@dataclass(frozen=True)
class Ref:
    root: str  # steps | approvals | choices
    step: str


@dataclass(frozen=True, eq=False)
class Expr:
    """One compiled CEL expression and what it reads."""

    source: str
    program: Any
    roots: frozenset[str]
    refs: frozenset[Ref]
    params: frozenset[str] = frozenset()  # `params.<name>` it reads (checked by the compiler)

    def evaluate(self, scope: Scope) -> Any:
        activation = scope.activation(self)
        try:
            result = self.program.evaluate(activation)
        except celpy.CELEvalError as e:
            raise EvaluationError(f"`{self.source}`: {_eval_message(e)}") from None
        if isinstance(result, celpy.CELEvalError):
            raise EvaluationError(f"`{self.source}`: {_eval_message(result)}")
        try:
            return cel_to_python(result)
        except EvaluationError as e:
            raise EvaluationError(f"`{self.source}`: {e}") from None


def _eval_message(e: Exception) -> str:
    args = getattr(e, "args", ())
    return str(args[0]) if args else str(e)


MAX_EXPRESSION_CHARS = EXPRESSION_LIMIT  # the spec language's one limit

# The evaluator recurses once per level of the parse tree (a bracket adds ~50 levels, a `!`
# or `&&` one): past ~250 it hits Python's recursion limit inside a workflow task, which would
# fail the task again and again; the deepest expression of the shipped templates is ~40.
MAX_TREE_DEPTH = 150


def _shown(source: str) -> str:
    return source if len(source) <= 120 else source[:117] + "..."


def _depth(tree: Tree) -> int:
    deepest = 0
    todo: list[tuple[Any, int]] = [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Tree):
            todo.extend((child, depth + 1) for child in node.children)
    return deepest


def compile_cel(source: str, allowed_roots: tuple[str, ...] = ROOTS) -> Expr:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("empty expression")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"`{_shown(source)}` is {len(source)} characters long, past the "
            f"{MAX_EXPRESSION_CHARS} an expression may have"
        )
    try:
        tree = _env.compile(source)
    except celpy.CELParseError as e:
        first = str(e).strip().splitlines()
        raise ExpressionError(
            f"CEL does not parse: `{_shown(source)}` ({first[-1].strip() if first else e})"
        ) from None
    except RecursionError:  # long operator chains (`a && a && …`) recurse in the parser
        raise ExpressionError(f"`{_shown(source)}` is too deeply nested to compile") from None
    if _depth(tree) > MAX_TREE_DEPTH:
        raise ExpressionError(
            f"`{_shown(source)}` is nested too deeply (brackets or chained operators) to "
            "evaluate safely: split it"
        )
    try:
        roots, refs, params = _scan(tree)
        program = _env.program(tree)
    except RecursionError:
        raise ExpressionError(f"`{_shown(source)}` is too deeply nested to compile") from None
    unknown = sorted(roots - set(allowed_roots))
    if unknown:
        raise ExpressionError(
            f"`{_shown(source)}` uses unknown name(s) {', '.join(unknown)}; "
            f"in scope here: {', '.join(allowed_roots)}"
        )
    return Expr(source, program, frozenset(roots), frozenset(refs), frozenset(params))


def _ident(tree: Any) -> str | None:
    """The identifier if `tree` is `member -> primary -> ident`, else None."""
    if isinstance(tree, Tree) and tree.data == "member" and len(tree.children) == 1:
        tree = tree.children[0]
    if isinstance(tree, Tree) and tree.data == "primary" and len(tree.children) == 1:
        inner = tree.children[0]
        if isinstance(inner, Tree) and inner.data == "ident":
            return str(inner.children[0])
    return None


def _first_ident_of_expr(tree: Any) -> str | None:
    # A macro's bound variable is an expr that is nothing but an identifier.
    while isinstance(tree, Tree) and len(tree.children) == 1:
        if tree.data == "primary":
            return _ident(tree)
        tree = tree.children[0]
    return None


def _scan(tree: Tree) -> tuple[set[str], set[Ref], set[str]]:
    roots: set[str] = set()
    bound: set[str] = set()
    refs: set[Ref] = set()
    params: set[str] = set()
    for sub in tree.iter_subtrees():
        if sub.data == "primary":
            name = _ident(sub)
            if name is not None:
                roots.add(name)
        elif sub.data == "member_dot_arg":
            method = sub.children[1]
            if isinstance(method, Token) and str(method) in _MACROS:
                args = sub.children[2]
                if isinstance(args, Tree) and args.children:
                    var = _first_ident_of_expr(args.children[0])
                    if var:
                        bound.add(var)
        elif sub.data == "member_dot":
            root = _ident(sub.children[0])
            if root in ("steps", "approvals", "choices"):
                refs.add(Ref(root, str(sub.children[1])))
            elif root == "params":
                params.add(str(sub.children[1]))
        elif sub.data == "member_index":
            root = _ident(sub.children[0])
            if root in ("steps", "approvals", "choices"):
                key = _literal_string(sub.children[1])
                if key is None:
                    raise ExpressionError(f"{root}[...] must name a step with a string literal")
                refs.add(Ref(root, key))
            elif root == "params":
                key = _literal_string(sub.children[1])
                if key is not None:
                    params.add(key)
    # a macro variable named like a root (`x.map(params, …)`) shadows it: no reference then
    return roots - bound, refs, params if "params" not in bound else set()


def _literal_string(tree: Any) -> str | None:
    while isinstance(tree, Tree) and len(tree.children) == 1:
        if tree.data == "literal":
            break
        tree = tree.children[0]
    if isinstance(tree, Tree) and tree.data == "literal":
        text = str(tree.children[0])
        if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
            return text[1:-1]
    return None


def cel_to_python(value: Any) -> Any:
    if isinstance(value, celpy.CELEvalError):
        # cel-python leaves errors inside list/map literals as values instead of raising
        raise EvaluationError(_eval_message(value))
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value).decode("utf-8", "replace")
    # cel-python returns some results (e.g. list concatenation) as plain list/dict of CEL
    # values, not ListType/MapType: convert any list or mapping, element by element.
    if isinstance(value, list | tuple):
        return [cel_to_python(v) for v in value]
    if isinstance(value, dict):
        return {str(cel_to_python(k)): cel_to_python(v) for k, v in value.items()}
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, bool | int | float | str):  # plain Python results of some operators
        return value
    return str(value)


class Scope:
    """What expressions of one run can see. Converted to CEL lazily and per referenced step,
    so evaluating a `when:` does not convert every output of the run."""

    def __init__(
        self,
        params: dict[str, Any],
        steps: dict[str, Any],
        approvals: dict[str, Any],
        choices: dict[str, Any],
    ) -> None:
        self.params = params
        self.steps = steps
        self.approvals = approvals
        self.choices = choices
        self._params_cel: Any = None
        self.item: Any = None
        self.index: int | None = None

    def for_item(self, item: Any, index: int) -> Scope:
        child = Scope(self.params, self.steps, self.approvals, self.choices)
        child._params_cel = self._params_cel
        child.item, child.index = item, index
        return child

    def activation(self, expr: Expr) -> dict[str, Any]:
        act: dict[str, Any] = {}
        if "params" in expr.roots:
            if self._params_cel is None:
                self._params_cel = celpy.json_to_cel(self.params)
            act["params"] = self._params_cel
        sources = {"steps": self.steps, "approvals": self.approvals, "choices": self.choices}
        for root, source in sources.items():
            if root in expr.roots:
                # Sorted: a set's order follows PYTHONHASHSEED, and the map's key order shows
                # in CEL (`steps.map(k, k)`, string conversions), so workers would disagree.
                wanted = sorted({r.step for r in expr.refs if r.root == root})
                act[root] = celpy.json_to_cel({k: source[k] for k in wanted if k in source})
        if "item" in expr.roots:
            act["item"] = celpy.json_to_cel(self.item)
        if "index" in expr.roots:
            act["index"] = celtypes.IntType(self.index or 0)
        return act


@dataclass(frozen=True, eq=False)
class Template:
    """A compiled `with:`/`foreach:` value: literals, exact `${expr}`, or interpolation."""

    kind: str  # literal | expr | interp | list | dict
    value: Any = None
    expr: Expr | None = None
    parts: tuple[Any, ...] = ()

    @property
    def exprs(self) -> list[Expr]:
        if self.kind == "expr" and self.expr is not None:
            return [self.expr]
        out: list[Expr] = []
        for p in self.parts:
            if isinstance(p, Expr):
                out.append(p)
            elif isinstance(p, Template):
                out.extend(p.exprs)
            elif isinstance(p, tuple):
                out.extend(p[1].exprs)
        return out

    def render(self, scope: Scope) -> Any:
        if self.kind == "literal":
            return self.value
        if self.kind == "expr":
            assert self.expr is not None
            return self.expr.evaluate(scope)
        if self.kind == "interp":
            return "".join(
                p if isinstance(p, str) else _to_text(p.evaluate(scope)) for p in self.parts
            )
        if self.kind == "list":
            return [p.render(scope) for p in self.parts]
        return {k: t.render(scope) for k, t in self.parts}


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def compile_template(value: Any, allowed_roots: tuple[str, ...] = ROOTS) -> Template:
    if isinstance(value, str):
        exact = _EXACT.match(value)
        if exact and "${" not in exact.group(1):
            return Template("expr", expr=compile_cel(exact.group(1), allowed_roots))
        if "${" not in value:
            return Template("literal", value=value)
        parts: list[Any] = []
        pos = 0
        for m in _PART.finditer(value):
            if m.start() > pos:
                parts.append(value[pos : m.start()])
            parts.append(compile_cel(m.group(1), allowed_roots))
            pos = m.end()
        if pos < len(value):
            rest = value[pos:]
            if "${" in rest:
                raise ExpressionError(f"unclosed `${{` in {value!r}")
            parts.append(rest)
        return Template("interp", parts=tuple(parts))
    if isinstance(value, list):
        items = [compile_template(v, allowed_roots) for v in value]
        if all(t.kind == "literal" for t in items):
            return Template("literal", value=value)
        return Template("list", parts=tuple(items))
    if isinstance(value, dict):
        entries = [(str(k), compile_template(v, allowed_roots)) for k, v in value.items()]
        if all(t.kind == "literal" for _, t in entries):
            return Template("literal", value=value)
        return Template("dict", parts=tuple(entries))
    return Template("literal", value=value)
