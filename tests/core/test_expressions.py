"""CEL evaluation gives the same answer on every worker, whatever its hash seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The result shows the order of the keys of `steps`: the activation must not take it from
# a set (string hashing is randomised per process by PYTHONHASHSEED).
PROBE = """
from workflows.expressions import Scope, compile_cel
ids = ["delta", "alpha", "echo", "charlie", "bravo", "foxtrot"]
refs = " && ".join(f"has(steps.{i}.output)" for i in ids)
expr = compile_cel(f"({refs}) ? steps.map(k, k) : []")
scope = Scope({}, {i: {"output": n} for n, i in enumerate(ids)}, {}, {})
print(",".join(expr.evaluate(scope)))
"""


def test_map_key_order_does_not_depend_on_the_hash_seed() -> None:
    seen = set()
    for seed in ("0", "1", "2", "3", "4", "5", "6", "7"):
        out = subprocess.run(
            [sys.executable, "-c", PROBE],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=dict(os.environ, PYTHONHASHSEED=seed),
            check=True,
        )
        seen.add(out.stdout.strip())
    assert seen == {"alpha,bravo,charlie,delta,echo,foxtrot"}
