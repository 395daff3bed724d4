"""`python -m bench [suite] [--full|--smoke] [--repeats N] [--json PATH]`: the same as
`bizos bench` (starters/bench_cmd.py), without the installed CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.harness import SUITES, run_all


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suite", nargs="?", choices=list(SUITES))
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true")
    size.add_argument("--smoke", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--json", type=Path, dest="json_path")
    a = parser.parse_args()
    names = [a.suite] if a.suite else list(SUITES)
    run_all(names, "full" if a.full else "smoke" if a.smoke else "default", a.repeats, a.json_path)


if __name__ == "__main__":
    main()
