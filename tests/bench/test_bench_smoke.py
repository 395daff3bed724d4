"""`bizos bench <suite> --smoke` still runs: each suite starts its own stack, prints its table
and writes JSON with the rows it promises. Benchmarks are not tests: no timing is asserted.

The three suites run at once, as subprocesses (each with its own dev server on free ports and
its own temp dir), so the module costs about as long as the slowest one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIZOS = Path(sys.executable).with_name("bizos")

EXPECTED = {
    "core": [
        "worker CPU per run, hand-written",
        "worker CPU per run, compiled",
        "worker CPU ratio compiled / hand-written",
        "history events compiled / hand-written",
        "serial latency per noop step, tuned dev server",
        "parked runs: one batch signal -> all completed",
    ],
    "agent-step": [
        "warm: framework overhead p50",
        "warm: worker CPU per step",
        "  warm: Temporal round trip (mean)",
        "  warm: CrewAI build",
        "  warm: agent loop",
        "  warm: tools",
        "  warm: store (outside the loop)",
        "cold: first step of a fresh worker",
        "burst of 8, same agent: steps/s",
        "burst of 8, every agent: steps/s",
    ],
    "tools": [
        "table_analytics, 2K rows, Parquet",
        "tournament_bracket, 64 players (build)",
        "ad_creatives, 3 sizes x SVG/PNG/PDF",
    ],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Path]]]:
    """suite -> (its JSON, its stdout), all three started together."""
    out = tmp_path_factory.mktemp("bench")
    procs = {}
    for suite in EXPECTED:
        json_path, stdout = out / f"{suite}.json", out / f"{suite}.out"
        procs[suite] = (
            subprocess.Popen(
                [str(BIZOS), "bench", suite, "--smoke", "--json", str(json_path)],
                cwd=REPO,
                stdout=stdout.open("wb"),
                stderr=subprocess.STDOUT,
            ),
            json_path,
            stdout,
        )
    try:
        for suite, (proc, _, stdout) in procs.items():
            code = proc.wait(timeout=240)
            assert code == 0, f"bizos bench {suite} --smoke exited {code}:\n{stdout.read_text()}"
        yield {suite: (j, s) for suite, (_, j, s) in procs.items()}
    finally:
        for proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize("suite", list(EXPECTED))
def test_suite_prints_a_table_and_writes_its_rows(
    runs: dict[str, tuple[Path, Path]], suite: str
) -> None:
    json_path, stdout = runs[suite]
    printed = stdout.read_text()
    assert f"{suite}: " in printed and "figure" in printed and f"wrote {json_path}" in printed
    doc = json.loads(json_path.read_text())
    assert doc["suite"] == suite and doc["meta"]["size"] == "smoke"
    rows = {r["name"]: r for r in doc["rows"]}
    missing = [name for name in EXPECTED[suite] if name not in rows]
    assert not missing, f"{suite} lacks rows {missing}; it has {sorted(rows)}"
    for name in EXPECTED[suite]:
        value = rows[name]["value"]
        assert isinstance(value, int | float) and value >= 0, (name, value)
        assert rows[name]["met"] is None  # a smoke size judges no goal


def test_unknown_suite_is_refused_with_the_list() -> None:
    done = subprocess.run(
        [str(BIZOS), "bench", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},  # the error box must not wrap the list
    )
    assert done.returncode != 0
    assert "core, agent-step, tools" in done.stdout + done.stderr
