"""`bizos bench [suite] [--full] [--smoke] [--repeats N] [--json PATH]`: the benchmarks of
`bench/` (a checkout's dev tool, not part of the wheel). Each suite starts its own stack,
prints a table (median and spread over repeats) and writes JSON; nothing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

SuiteArg = typer.Argument(
    None, help="core, agent-step, tools or load (all when omitted), or soak (a flag run, not CI)"
)
MinutesOpt = typer.Option(60.0, "--minutes", min=0.5, help="soak: how long the mixed load runs")
RateOpt = typer.Option(1.0, "--rate", min=0.01, help="soak: runs started per second")
FullOpt = typer.Option(False, "--full", help="the bigger sizes (minutes to an hour)")
SmokeOpt = typer.Option(False, "--smoke", help="tiny sizes: proves the suite runs (CI)")
RepeatsOpt = typer.Option(None, "--repeats", min=1, help="repeats per figure (suite default)")
JsonOpt = typer.Option(
    None, "--json", help="write the JSON here (default bench/results/<suite>-<time>.json)"
)


def bench(
    suite: str | None = SuiteArg,
    full: bool = FullOpt,
    smoke: bool = SmokeOpt,
    repeats: int | None = RepeatsOpt,
    json_path: Path | None = JsonOpt,
    minutes: float = MinutesOpt,
    rate: float = RateOpt,
) -> None:
    """Run benchmark suites against their own Temporal dev server and print the figures."""
    repo = Path(__file__).resolve().parent.parent
    if not (repo / "bench" / "harness.py").is_file():
        raise typer.BadParameter("`bizos bench` runs from a checkout: bench/ is not here")
    if str(repo) not in sys.path:  # bench/ is not an installed package
        sys.path.insert(0, str(repo))
    from bench.harness import SUITES, run_all

    if suite == "soak":  # an hour of mixed load by default: RSS, latency, connections flat?
        from bench.soak import main as soak_main

        extra = ["--json", str(json_path)] if json_path else []
        soak_main(["--minutes", str(minutes), "--rate", str(rate), *extra])
        return

    if full and smoke:
        raise typer.BadParameter("--full and --smoke exclude each other")
    if suite is not None and suite not in SUITES:
        raise typer.BadParameter(f"unknown suite {suite!r}; one of: {', '.join(SUITES)}")
    names = [suite] if suite else list(SUITES)
    run_all(names, "full" if full else "smoke" if smoke else "default", repeats, json_path)
