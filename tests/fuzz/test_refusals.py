"""Broken specs are refused, every one, with a message naming the problem — never a
traceback. Each mutation of tests/fuzz/mutations.py is applied to hypothesis-drawn valid
specs; the result is compiled as data and as the text of a file, and must be refused with a
CompileError whose lines all start with the file and one of which names the offending step,
key or construct. A sample also goes through `bizos specs validate` (exit 1, a
`file: step: problem` line per file, no traceback). Time per refusal is printed, not
asserted."""

from __future__ import annotations

import copy
import statistics
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.dags import CHILD_NAME, CHILD_SPEC, FuzzCase, fuzz_cases
from tests.fuzz.mutations import MUTATIONS, Mutated, apply, as_text, replace_blindly
from tests.fuzz.plans import compile_text, to_yaml
from workflows.compiler import CompileError, compile_spec

SOURCE = "fuzz/fuzz_dag.yaml"
PER_KIND = 4  # examples of each mutation: 52 kinds, 206 refusals
BLIND_EXAMPLES = 150
# a thousand steps take a second to read from YAML: two examples make the point
EXAMPLES = {"too_many_steps": 2}
REPO = Path(__file__).resolve().parents[2]


def _refused(compile_it: Any, m: Mutated, how: str) -> tuple[list[str], float]:
    started = time.perf_counter()
    try:
        compile_it()
    except CompileError as e:
        elapsed = time.perf_counter() - started
        problems = e.problems
    else:
        raise AssertionError(f"{m.kind} ({how}) was accepted:\n{as_text(m)[:2000]}")
    # any other exception type propagates: a traceback is the bug this suite looks for
    assert problems, f"{m.kind} ({how}): refused without a problem"
    for line in problems:
        assert line.startswith(f"{SOURCE}: "), f"{m.kind} ({how}): {line!r}"
        assert "Traceback" not in line and "\n" not in line, f"{m.kind} ({how}): {line!r}"
    return problems, elapsed


def _names_it(problems: list[str], m: Mutated) -> bool:
    return any(all(word in line for word in m.expect) for line in problems)


def _text_or_none(m: Mutated) -> str | None:
    try:
        return as_text(m)
    except RecursionError:  # PyYAML cannot even write it: the file case is `yaml_broken`'s
        return None


def _check(m: Mutated, stats: dict[str, list[float]]) -> None:
    if m.spec is not None:
        problems, elapsed = _refused(
            lambda: compile_spec(m.spec, SOURCE, templates={CHILD_NAME}), m, "data"
        )
        stats["data"].append(elapsed)
        assert _names_it(problems, m), f"{m.kind}: no line names {m.expect}:\n" + "\n".join(
            problems
        )
    text = _text_or_none(m)
    if text is None:
        return
    problems, elapsed = _refused(lambda: compile_text(text, SOURCE), m, "file")
    stats["file"].append(elapsed)
    if m.spec is None:
        assert _names_it(problems, m), f"{m.kind}: no line names {m.expect}:\n" + "\n".join(
            problems
        )


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def _mutations_of(
    kind: str, stats: dict[str, list[float]], seen: dict[str, int], sample: list[Mutated]
) -> Any:
    """PER_KIND examples of one mutation; a fixed seed per kind (reproducible, and each kind
    draws its own specs: derandomized runs of one function body would all draw the same)."""

    @seed(zlib.crc32(kind.encode()))
    @settings(FUZZ, derandomize=False, max_examples=EXAMPLES.get(kind, PER_KIND))
    @given(case=fuzz_cases(max_steps=6), data=st.data())
    def mutate(case: FuzzCase, data: st.DataObject) -> None:
        m = apply(kind, case, data)
        _check(m, stats)
        if seen.get(kind, 0) == 0:
            sample.append(m)
        seen[kind] = seen.get(kind, 0) + 1

    return mutate


def test_mutations_are_refused_naming_the_problem(cli_sample: list[Mutated]) -> None:
    stats: dict[str, list[float]] = {"data": [], "file": []}
    seen: dict[str, int] = {}
    for kind in sorted(MUTATIONS):
        _mutations_of(kind, stats, seen, cli_sample)()
    total = sum(seen.values())
    assert set(seen) == set(MUTATIONS) and total >= 200, seen
    print(
        f"\nfuzz refusals: {total} mutations of {len(MUTATIONS)} kinds, all refused naming "
        f"the problem; as data: {len(stats['data'])} refusals, mean "
        f"{statistics.mean(stats['data']) * 1000:.1f} ms, p95 {_p95(stats['data']) * 1000:.1f} ms; "
        f"as a file's text: {len(stats['file'])} refusals, mean "
        f"{statistics.mean(stats['file']) * 1000:.1f} ms, p95 {_p95(stats['file']) * 1000:.1f} ms"
    )


@pytest.fixture(scope="module")
def cli_sample() -> list[Mutated]:
    """One mutation of each kind, gathered by the test above for the CLI test below."""
    return []


def test_specs_validate_refuses_them_with_a_line_per_file(
    cli_sample: list[Mutated], tmp_path: Path
) -> None:
    assert len(cli_sample) == len(MUTATIONS), "run with the refusal test (it draws the sample)"
    children = tmp_path / "children"
    children.mkdir()
    (children / f"{CHILD_NAME}.yaml").write_text(to_yaml(CHILD_SPEC))
    files: list[Path] = []
    for i, m in enumerate(cli_sample):
        text = _text_or_none(m)
        if text is None:
            continue
        f = tmp_path / f"m{i:03d}" / "fuzz_dag.yaml"
        f.parent.mkdir()
        f.write_text(text, encoding="utf-8")
        files.append(f)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(REPO / ".venv/bin/bizos"), "specs", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"BIZOS_SPEC_DIRS": str(children), "PATH": "/usr/bin:/bin", "COLUMNS": "400"},
        cwd=REPO,
    )
    elapsed = time.perf_counter() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    lines = out.splitlines()
    for f in files:
        mine = [line for line in lines if line.startswith(f"{f}: ")]
        assert mine, f"no `{f}: …` line in:\n{out[-3000:]}"
    print(f"\nbizos specs validate: {len(files)} broken files refused in {elapsed:.1f}s")


@settings(FUZZ, max_examples=BLIND_EXAMPLES)
@given(case=fuzz_cases(max_steps=5), data=st.data())
def test_blind_replacements_compile_or_are_refused_never_a_traceback(
    case: FuzzCase, data: st.DataObject
) -> None:
    """Any value anywhere (or a key deleted): a template, or a CompileError of one-line
    problems naming the file; another exception type fails here with its traceback."""
    spec = replace_blindly(copy.deepcopy(case.spec), data)
    try:
        compile_spec(spec, SOURCE, templates={CHILD_NAME})
    except CompileError as e:
        assert e.problems
        for line in e.problems:
            assert line.startswith(f"{SOURCE}: ") and "\n" not in line, line
