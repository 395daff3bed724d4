"""The load suite at smoke size, end to end as a user runs it (`python -m bench load
--smoke`): its own stack (dev server, worker processes, API), five executions started,
approved and followed through the HTTP API, five more parked then approved at once. Proves
the benchmark still runs; asserts no timing (benchmarks are not tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_load_suite_runs_end_to_end_at_smoke_size(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "load", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    doc = json.loads(out.read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    assert rows["5 runs: success rate"]["value"] == 100.0
    assert rows["5 runs: errors"]["value"] == 0, rows["5 runs: errors"]["note"]
    assert rows["5 parked, tuned: completed"]["value"] == 100.0
    # every run was billed: offline steps priced as a real model cost something
    assert rows["5 runs: cost per execution"]["value"] > 0
    # each process of the stack was sampled
    for proc_name in ("worker-workflows", "worker-agents", "api", "temporal"):
        assert rows[f"5 runs: {proc_name} RSS peak"]["value"] > 0

    assert "5 runs: end to end p95" in proc.stdout  # the table, on stdout
    assert f"wrote {out}" in proc.stdout
