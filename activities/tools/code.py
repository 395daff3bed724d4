"""Code tools: `code_analysis` (AST metrics + ruff findings) and `test_scaffold` (pytest
scaffolds for Python source). Source comes inline or from a file/directory path."""

from __future__ import annotations

import ast
import builtins
import json
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import DataFileError, InvalidToolInput
from activities.tools.registry import ToolError, ToolInput, ToolOutput, tool
from activities.tools.sampling import rng

MAX_FILES = 500
RUFF_RULES = "E,F,W,B,UP,SIM,C90"

_SAMPLES = (
    '''"""Orders."""
import os
import json


def total(items, discount=0):
    s = 0
    for i in items:
        if i["qty"] > 0 and i["price"] > 0:
            s += i["qty"] * i["price"]
        elif i["qty"] < 0:
            raise ValueError("negative quantity")
    if discount:
        s = s * (1 - discount)
    return s


def parse(text: str) -> dict:
    try:
        return json.loads(text)
    except Exception:
        return {}
''',
    '''"""Users."""
from typing import Optional


class UserStore:
    def __init__(self, limit: int = 100):
        self.limit = limit
        self.users = {}

    def add(self, name: str, age: int) -> bool:
        if name in self.users or len(self.users) >= self.limit:
            return False
        self.users[name] = age
        return True

    def oldest(self) -> Optional[str]:
        return max(self.users, key=self.users.get) if self.users else None


def greet(name: str, excited: bool = False) -> str:
    return f"Hello {name}{'!' if excited else '.'}"
''',
)


def ruff_binary() -> str | None:
    candidate = Path(sysconfig.get_path("scripts")) / "ruff"
    return str(candidate) if candidate.is_file() else shutil.which("ruff")


def collect_sources(source: str | None, path: str | None) -> dict[str, str]:
    """name -> text of every Python file to analyse."""
    if source:
        return {"<input>.py": source}
    if not path:
        raise InvalidToolInput("give Python source or a path")
    p = Path(path)
    if p.is_file():
        return {p.name: p.read_text(encoding="utf-8", errors="replace")}
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*.py")
            if not any(
                part.startswith(".") or part in ("__pycache__", "node_modules", ".venv", "venv")
                for part in f.relative_to(p).parts
            )
        )
        if len(files) > MAX_FILES:
            raise InvalidToolInput(
                f"{path} has {len(files)} Python files; analyse a subdirectory (max {MAX_FILES})"
            )
        return {
            str(f.relative_to(p)): f.read_text(encoding="utf-8", errors="replace") for f in files
        }
    raise DataFileError(f"no such file or directory: {path}")


class _Complexity(ast.NodeVisitor):
    """McCabe cyclomatic complexity: 1 + decision points (branches, loops, handlers,
    boolean operators, comprehension filters, match cases); nested functions count apart."""

    def __init__(self) -> None:
        self.score = 1
        self.depth = 0
        self.max_depth = 0

    def _nest(self, node: ast.AST) -> None:
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)
        self.generic_visit(node)
        self.depth -= 1

    def visit_If(self, node: ast.If) -> None:
        self.score += 1
        self._nest(node)

    def visit_For(self, node: ast.For) -> None:
        self.score += 1
        self._nest(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_While(self, node: ast.While) -> None:
        self.score += 1
        self._nest(node)

    def visit_Try(self, node: ast.Try) -> None:
        self.score += len(node.handlers)
        self._nest(node)

    def visit_With(self, node: ast.With) -> None:
        self._nest(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.score += 1
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self.score += len(node.values) - 1
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self.score += len(node.ifs)
        self.generic_visit(node)

    def visit_match_case(self, node: ast.match_case) -> None:
        self.score += 1
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        return  # nested definitions are measured on their own

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]
    visit_ClassDef = visit_FunctionDef  # type: ignore[assignment]


def complexity(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    v = _Complexity()
    for stmt in func.body:
        v.visit(stmt)
    return v.score, v.max_depth


class FunctionMetrics(BaseModel):
    file: str
    name: str
    line: int
    lines: int
    args: int
    complexity: int
    max_nesting: int
    has_docstring: bool


class Finding(BaseModel):
    file: str
    line: int
    code: str
    message: str


def function_metrics(file: str, tree: ast.Module) -> list[FunctionMetrics]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            cc, depth = complexity(node)
            a = node.args
            n_args = (
                len(a.posonlyargs)
                + len(a.args)
                + len(a.kwonlyargs)
                + bool(a.vararg)
                + bool(a.kwarg)
            )
            out.append(
                FunctionMetrics(
                    file=file,
                    name=node.name,
                    line=node.lineno,
                    lines=(node.end_lineno or node.lineno) - node.lineno + 1,
                    args=n_args,
                    complexity=cc,
                    max_nesting=depth,
                    has_docstring=ast.get_docstring(node) is not None,
                )
            )
    return sorted(out, key=lambda f: (f.file, f.line))


def ruff_findings(files: dict[str, str], root: str | None) -> tuple[list[Finding], str]:
    """Ruff with a fixed rule set and no project config (--isolated), so results depend only on
    the code. Returns (findings, note)."""
    ruff = ruff_binary()
    if ruff is None:
        return [], "ruff not found: lint findings skipped"
    findings: list[Finding] = []
    for name, text in files.items():
        proc = subprocess.run(
            [
                ruff,
                "check",
                "--isolated",
                "--no-cache",
                "--output-format",
                "json",
                "--select",
                RUFF_RULES,
                "--stdin-filename",
                name,
                "-",
            ],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode not in (0, 1):
            return findings, f"ruff failed: {proc.stderr.strip()[:200]}"
        for item in json.loads(proc.stdout or "[]"):
            findings.append(
                Finding(
                    file=name,
                    line=int(item["location"]["row"]),
                    code=str(item["code"]),
                    message=str(item["message"]),
                )
            )
    return findings, ""


class CodeAnalysisInput(ToolInput):
    source: str | None = Field(default=None, validation_alias=AliasChoices("source", "code"))
    path: str | None = Field(
        default=None, validation_alias=AliasChoices("path", "source_path", "repo_path")
    )
    complexity_threshold: int = Field(default=10, ge=1)
    lint: bool = True


class CodeAnalysisOutput(ToolOutput):
    files: int = 0
    loc: int = 0
    sloc: int = 0
    comment_lines: int = 0
    classes: int = 0
    functions: list[FunctionMetrics] = Field(default_factory=list)
    docstring_coverage: float = 0.0
    findings: list[Finding] = Field(default_factory=list)
    finding_counts: dict[str, int] = Field(default_factory=dict)
    syntax_errors: list[str] = Field(default_factory=list)
    report_path: str = ""


@tool(
    "code_analysis",
    "Static analysis of Python: size, complexity, nesting, docstrings (AST) and ruff lint findings",
)
def code_analysis(inp: CodeAnalysisInput) -> CodeAnalysisOutput:
    source = inp.source
    if not source and not inp.path:
        source = rng(inp, "code").choice(_SAMPLES)
    files = collect_sources(source, inp.path)
    if not files:
        raise InvalidToolInput(f"no Python files under {inp.path}")
    funcs: list[FunctionMetrics] = []
    loc = sloc = comments = classes = 0
    errors = []
    for name, text in files.items():
        lines = text.splitlines()
        loc += len(lines)
        comments += sum(1 for ln in lines if ln.strip().startswith("#"))
        sloc += sum(1 for ln in lines if ln.strip() and not ln.strip().startswith("#"))
        try:
            tree = ast.parse(text, filename=name)
        except SyntaxError as e:
            errors.append(f"{name}:{e.lineno}: {e.msg}")
            continue
        classes += sum(1 for n in ast.walk(tree) if isinstance(n, ast.ClassDef))
        funcs += function_metrics(name, tree)
    findings, note = ruff_findings(files, inp.path) if inp.lint else ([], "lint disabled")
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.code] = counts.get(f.code, 0) + 1
    documented = sum(1 for f in funcs if f.has_docstring)
    coverage = 100.0 * documented / len(funcs) if funcs else 100.0
    complex_funcs = sorted(
        (f for f in funcs if f.complexity > inp.complexity_threshold), key=lambda f: -f.complexity
    )
    writer = ArtifactWriter(inp, "code_analysis")
    report = writer.json(
        "code-analysis",
        {
            "functions": [f.model_dump() for f in funcs],
            "findings": [f.model_dump() for f in findings],
            "syntax_errors": errors,
        },
    )
    max_cc = max((f.complexity for f in funcs), default=0)
    avg_cc = sum(f.complexity for f in funcs) / len(funcs) if funcs else 0.0
    recs = [f"Split {f.file}:{f.name} (complexity {f.complexity})." for f in complex_funcs[:5]]
    if findings:
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
        recs.append(
            f"Fix lint findings, most common: {', '.join(f'{c} x{n}' for c, n in top)} "
            "(ruff --fix handles many)."
        )
    if coverage < 60:
        recs.append(f"Only {coverage:.0f}% of functions have docstrings.")
    if errors:
        recs.insert(0, f"{len(errors)} files do not parse: {errors[0]}.")
    if note:
        recs.append(note)
    return CodeAnalysisOutput(
        headline=(
            f"{len(files)} files, {sloc} source lines, {len(funcs)} functions "
            f"(avg complexity {avg_cc:.1f}, max {max_cc}), {len(findings)} "
            f"lint findings, docstrings on {coverage:.0f}% of functions."
        ),
        metrics={
            "files": float(len(files)),
            "sloc": float(sloc),
            "functions": float(len(funcs)),
            "classes": float(classes),
            "avg_complexity": avg_cc,
            "max_complexity": float(max_cc),
            "lint_findings": float(len(findings)),
            "docstring_coverage": coverage,
            "syntax_errors": float(len(errors)),
        },
        recommendations=recs or ["No issues over the thresholds."],
        artifacts=writer.written,
        files=len(files),
        loc=loc,
        sloc=sloc,
        comment_lines=comments,
        classes=classes,
        functions=funcs,
        docstring_coverage=coverage,
        findings=findings,
        finding_counts=counts,
        syntax_errors=errors,
        report_path=report,
    )


# --------------------------------------------------------------------------- test_scaffold

_SAMPLE_VALUES = {
    "int": "1",
    "float": "1.5",
    "str": '"text"',
    "bool": "True",
    "bytes": 'b"data"',
    "list": "[]",
    "dict": "{}",
    "tuple": "()",
    "set": "set()",
}


class ScaffoldError(ToolError):
    """The generated test module did not parse (a bug in the scaffolder)."""


def _annotation_name(node: ast.expr | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return (
            node.value.id.lower()
            if node.value.id in ("List", "Dict", "Tuple", "Set")
            else node.value.id
        )
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _sample_call_args(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, skip_self: bool
) -> list[str] | None:
    """Keyword arguments for a smoke call, or None when some argument cannot be guessed."""
    a = fn.args
    params = a.posonlyargs + a.args
    if skip_self and params:
        params = params[1:]
    defaults_from = len(params) - len(a.defaults)
    out = []
    for i, p in enumerate(params):
        if i >= defaults_from:
            continue  # the default is a valid value already
        typ = _annotation_name(p.annotation)
        if typ not in _SAMPLE_VALUES:
            return None
        out.append(f"{p.arg}={_SAMPLE_VALUES[typ]}")
    for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        if d is None:
            typ = _annotation_name(p.annotation)
            if typ not in _SAMPLE_VALUES:
                return None
            out.append(f"{p.arg}={_SAMPLE_VALUES[typ]}")
    return out


def _raised(fn: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id not in names:
                names.append(exc.id)
    return names


def _return_check(fn: ast.FunctionDef | ast.AsyncFunctionDef, var: str) -> str:
    typ = _annotation_name(fn.returns)
    if typ in _SAMPLE_VALUES:
        return f"    assert isinstance({var}, {typ})"
    if typ == "None":
        return f"    assert {var} is None"
    return f"    # TODO: assert the expected value of {var} (the call above is the smoke test)"


def scaffold(source: str, module: str) -> tuple[str, list[str], int]:
    """(test module text, covered names, number of tests)."""
    tree = ast.parse(source)
    lines = [
        (
            f'"""Generated pytest scaffold for {module}: smoke tests run as-is; '
            'TODOs mark what needs real expectations."""'
        ),
        "",
        "import pytest",
        "",
    ]
    imports: list[str] = []
    body: list[str] = []
    covered: list[str] = []
    tests = 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith(
            "_"
        ):
            imports.append(node.name)
            covered.append(node.name)
            args = _sample_call_args(node, skip_self=False)
            is_async = isinstance(node, ast.AsyncFunctionDef)
            body += ["", ""]
            if args is None:
                body += [
                    f"def test_{node.name}_smoke():",
                    f'    pytest.skip("TODO: choose arguments for {node.name}")',
                ]
            elif is_async:
                body += [
                    f"def test_{node.name}_smoke():",
                    "    import asyncio",
                    "",
                    f"    result = asyncio.run({node.name}({', '.join(args)}))",
                    _return_check(node, "result"),
                ]
            else:
                body += [
                    f"def test_{node.name}_smoke():",
                    f"    result = {node.name}({', '.join(args)})",
                    _return_check(node, "result"),
                ]
            tests += 1
            for exc in _raised(node):
                body += [
                    "",
                    "",
                    f"def test_{node.name}_raises_{exc.lower()}():",
                    f'    pytest.skip("TODO: arguments that make {node.name} raise {exc}")',
                    f"    with pytest.raises({exc}):",
                    f"        {node.name}()",
                ]
                if not hasattr(builtins, exc) and exc not in imports:
                    imports.append(exc)
                tests += 1
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            imports.append(node.name)
            covered.append(node.name)
            init = next(
                (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
                None,
            )
            init_args = _sample_call_args(init, skip_self=True) if init else []
            fixture = f"{re.sub(r'(?<!^)(?=[A-Z])', '_', node.name).lower()}"
            body += ["", "", "@pytest.fixture", f"def {fixture}():"]
            body += (
                [f"    return {node.name}({', '.join(init_args)})"]
                if init_args is not None
                else [f'    pytest.skip("TODO: construct a {node.name}")']
            )
            for m in node.body:
                if isinstance(m, ast.FunctionDef) and not m.name.startswith("_"):
                    covered.append(f"{node.name}.{m.name}")
                    margs = _sample_call_args(m, skip_self=True)
                    body += ["", "", f"def test_{fixture}_{m.name}({fixture}):"]
                    if margs is None:
                        body += [
                            f'    pytest.skip("TODO: choose arguments for {node.name}.{m.name}")'
                        ]
                    else:
                        body += [
                            f"    result = {fixture}.{m.name}({', '.join(margs)})",
                            _return_check(m, "result"),
                        ]
                    tests += 1
    if imports:
        lines.append(f"from {module} import {', '.join(imports)}")
    text = "\n".join(lines + body) + "\n"
    try:
        ast.parse(text)
    except SyntaxError as e:
        raise ScaffoldError(
            f"generated tests do not parse ({e.msg} at line {e.lineno}); please report this input"
        ) from e
    return text, covered, tests


class TestScaffoldInput(ToolInput):
    source: str | None = Field(default=None, validation_alias=AliasChoices("source", "code"))
    path: str | None = Field(
        default=None, validation_alias=AliasChoices("path", "source_path"), description="a .py file"
    )
    module: str = Field(
        default="",
        description="import name of the module under test; from the file name when empty",
    )


class TestScaffoldOutput(ToolOutput):
    test_path: str = ""
    module_path: str = Field(
        default="", description="copy of inline source, beside the tests, so they run"
    )
    tests: int = 0
    covered: list[str] = Field(default_factory=list)
    skipped_todo: int = 0


@tool(
    "test_scaffold",
    (
        "pytest scaffold for Python source: smoke tests per public function/method, "
        "fixtures, raises stubs"
    ),
)
def test_scaffold(inp: TestScaffoldInput) -> TestScaffoldOutput:
    source = inp.source
    module = inp.module
    if inp.path:
        p = Path(inp.path)
        if not p.is_file() or p.suffix != ".py":
            raise DataFileError(f"test_scaffold needs a .py file, got {inp.path}")
        source = p.read_text(encoding="utf-8")
        module = module or p.stem
    if not source:
        source = rng(inp, "scaffold").choice(_SAMPLES)
    module = module or "module_under_test"
    if not re.match(r"^[A-Za-z_][\w.]*$", module):
        raise InvalidToolInput(f"module {module!r} is not an importable name")
    try:
        text, covered, tests = scaffold(source, module)
    except SyntaxError as e:
        raise InvalidToolInput(f"the source does not parse: line {e.lineno}: {e.msg}") from e
    writer = ArtifactWriter(inp, "test_scaffold")
    module_path = ""
    if not inp.path:
        # the scaffold imports the module by name; put the source beside it
        mp = writer.dir / f"{module.replace('.', '_')}.py"
        if "." not in module:
            mp.write_text(source, encoding="utf-8")
            writer.written.append(str(mp))
            module_path = str(mp)
    tp = writer.dir / f"test_{module.split('.')[-1]}.py"
    tp.write_text(text, encoding="utf-8")
    writer.written.append(str(tp))
    todo = text.count("pytest.skip(")
    return TestScaffoldOutput(
        headline=(
            f"Scaffolded {tests} tests for {len(covered)} public names in "
            f"{module}; {tests - todo} smoke tests run as-is, {todo} marked "
            "TODO."
        ),
        metrics={"tests": float(tests), "covered": float(len(covered)), "todo": float(todo)},
        recommendations=[
            f"Run: python -m pytest {tp.parent}",
            "Replace each TODO with a real expected value before merging.",
        ],
        artifacts=writer.written,
        test_path=str(tp),
        module_path=module_path,
        tests=tests,
        covered=covered,
        skipped_todo=todo,
    )
