"""Every compiled template a process knows, current and frozen versions, by workflow type.

Built once per process (workers build it before they start polling), never inside a
workflow task: parsing YAML and compiling CEL there would risk the 2 s deadlock detector.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from activities.catalog import AgentCatalog, default_catalog
from workflows.catalog_slice import slice_catalog
from workflows.compiler import CompiledDag, CompileError, compile_spec, load_spec_file

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC_DIR = REPO_ROOT / "dag_specs"
EXAMPLES_DIR = DEFAULT_SPEC_DIR / "examples"
SPEC_DIRS_ENV = "BIZOS_SPEC_DIRS"


def spec_dirs() -> list[Path]:
    """`dag_specs/` and `dag_specs/examples/`, or the directories in $BIZOS_SPEC_DIRS
    (os.pathsep-separated)."""
    env = os.environ.get(SPEC_DIRS_ENV)
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [DEFAULT_SPEC_DIR, EXAMPLES_DIR]


@dataclass(frozen=True)
class SpecRegistry:
    current: dict[str, CompiledDag]  # workflow type -> current version
    versions: dict[tuple[str, int], CompiledDag]  # (workflow type, version) -> frozen/current
    warnings: tuple[str, ...] = ()

    def get(self, workflow_type: str) -> CompiledDag:
        return self.current[workflow_type]

    def by_name(self, name: str) -> CompiledDag:
        for dag in self.current.values():
            if dag.name == name:
                return dag
        raise KeyError(
            f"unknown template `{name}`; "
            f"known: {', '.join(sorted(d.name for d in self.current.values()))}"
        )

    def version(self, workflow_type: str, version: int) -> CompiledDag | None:
        return self.versions.get((workflow_type, version))

    def known_versions(self, workflow_type: str) -> list[int]:
        return sorted(v for (t, v) in self.versions if t == workflow_type)


def _spec_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_registry(
    dirs: Sequence[Path] | None = None, *, catalog: AgentCatalog | None = None
) -> SpecRegistry:
    dirs = list(dirs) if dirs is not None else spec_dirs()
    catalog = catalog if catalog is not None else default_catalog()
    problems: list[str] = []
    view = slice_catalog(catalog)  # sliced once: every spec compiles against the same view
    raws: list[tuple[Path, object]] = []
    frozen_raws: list[tuple[Path, object]] = []
    for d in dirs:
        if not d.is_dir():
            problems.append(f"{d}: not a directory of specs")
            continue
        for path in _spec_files(d):
            try:
                raws.append((path, load_spec_file(path)))
            except CompileError as e:  # unreadable YAML: named, and the other files still load
                problems.extend(e.problems)
        vdir = d / "versions"
        if vdir.is_dir():
            for path in _spec_files(vdir):
                try:
                    frozen_raws.append((path, load_spec_file(path)))
                except CompileError as e:
                    problems.extend(e.problems)
    names = {str(raw.get("name")) for _, raw in raws + frozen_raws if isinstance(raw, dict)} | {
        p.stem for p, _ in raws
    }
    current: dict[str, CompiledDag] = {}
    versions: dict[tuple[str, int], CompiledDag] = {}
    warnings: list[str] = []
    for path, raw in raws:
        try:
            dag = compile_spec(raw, str(path), catalog=view, templates=names, text=_text(path))
        except CompileError as e:
            problems.extend(e.problems)
            continue
        if dag.workflow_type in current:
            problems.append(f"{path}: spec: template `{dag.name}` is defined twice")
            continue
        current[dag.workflow_type] = dag
        versions[(dag.workflow_type, dag.version)] = dag
        warnings.extend(dag.warnings)
    for path, raw in frozen_raws:
        try:
            dag = compile_spec(raw, str(path), catalog=view, templates=names, text=_text(path))
        except CompileError as e:
            problems.extend(e.problems)
            continue
        expected = f"{dag.name}@{dag.version}"
        if path.stem != expected:
            problems.append(f"{path}: spec: a frozen version must be named {expected}.yaml")
            continue
        key = (dag.workflow_type, dag.version)
        if key in versions and versions[key].hash != dag.hash:
            problems.append(
                f"{versions[key].source}: spec: `{dag.name}` changed without a version bump "
                f"(version {dag.version} is frozen in {path} with other content); "
                f"bump `version:` and run `bizos specs freeze`"
            )
            continue
        versions.setdefault(key, dag)
    problems.extend(_child_cycles(current.values()))
    if problems:
        raise CompileError(problems)
    return SpecRegistry(current, versions, tuple(warnings))


def _text(path: Path) -> str:
    """The spec as written (already loaded once, so readable): what a run records."""
    return path.read_text(encoding="utf-8")


def _child_cycles(dags: Iterable[CompiledDag]) -> list[str]:
    by_name = {d.name: d for d in dags}
    children = {
        d.name: [s.spec.workflow for s in d.steps.values() if s.spec.workflow]
        for d in by_name.values()
    }
    problems: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for c in children.get(n, []):
            if c is None or c not in by_name:
                continue
            if state.get(c) == 1:
                cycle = [*path[path.index(c) :], c] if c in path else [n, c]
                problems.append(
                    f"{by_name[n].source}: spec: child templates form a cycle: {' -> '.join(cycle)}"
                )
            elif c not in state:
                visit(c, [*path, c])
        state[n] = 2

    for name in by_name:
        if name not in state:
            visit(name, [name])
    return problems


_registry: SpecRegistry | None = None


def default_registry() -> SpecRegistry:
    """The process-wide registry, built on first use (workers build it before polling)."""
    global _registry
    if _registry is None:
        _registry = load_registry()
    return _registry


def set_registry(registry: SpecRegistry) -> None:
    global _registry
    _registry = registry
