"""The `bizos bench` harness: what a suite is, how it is run, and the helpers suites share.

A suite is a module `bench.suite_<name>` (dashes in the name become underscores) with

    TITLE = "one line shown above its table"

    async def run(opts: SuiteOptions) -> SuiteResult: ...

`run` starts whatever stack it needs itself (`dev_server()` below gives it a Temporal dev
server on free ports; `opts.workdir` is a fresh temporary directory to use as BIZOS_HOME and
for logs), measures, and returns rows. It prints nothing but progress (`opts.log`); the
harness prints the table and writes the JSON. A plain `def run` is accepted too.

Rows: `Row(name, value, unit, spread, goal, note)`. Build them from repeated samples with
`Row.of(name, samples, unit, goal=...)`: value is the median, spread half the range
(max - min) / 2, so "12.0 ± 1.5 ms" covers every repeat. `goal` is text ("<= 35 ms");
`met` is True/False when the suite can tell, None otherwise. Benchmarks assert nothing:
a missed goal is shown, never raised.

Sizes: `opts.size` is "smoke" (CI: proves it runs, tiny), "default" or "full";
`opts.pick(smoke=..., default=..., full=...)` chooses a figure. `opts.repeats` is the number
of repeats the user asked for (None: the suite's own default, `opts.repeats_or(n)`).

Process sampling: `ProcSampler(pids)` samples CPU seconds and RSS of processes (and their
children if asked) in a background thread; `.peak_rss_mb(pid)`, `.cpu_s(pid)`, `.snapshot()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psutil

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"

Size = Literal["smoke", "default", "full"]

# name on the command line -> module; `bizos bench` with no suite runs them in this order
SUITES: dict[str, str] = {
    "core": "bench.suite_core",
    "agent-step": "bench.suite_agent_step",
    "tools": "bench.suite_tools",
    "load": "bench.suite_load",
}


# ---------------------------------------------------------------- the interface
@dataclass
class SuiteOptions:
    size: Size = "default"
    repeats: int | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bizos-bench-")))
    verbose: bool = False

    def pick(self, *, smoke: Any, default: Any, full: Any) -> Any:
        return {"smoke": smoke, "default": default, "full": full}[self.size]

    def repeats_or(self, n: int) -> int:
        """The user's --repeats, else `n` (1 at smoke size: CI proves it runs, nothing more)."""
        if self.repeats is not None:
            return max(1, self.repeats)
        return 1 if self.size == "smoke" else n

    def log(self, message: str) -> None:
        """Progress on stderr, so stdout carries only the table."""
        print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    name: str
    value: float | None
    unit: str = ""
    spread: float | None = None
    goal: str = ""
    note: str = ""
    met: bool | None = None
    samples: list[float] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        name: str,
        samples: Sequence[float],
        unit: str = "",
        goal: str = "",
        note: str = "",
        met: bool | None = None,
    ) -> Row:
        value, spread = median_spread(samples)
        return cls(name, value, unit, spread, goal, note, met, [float(s) for s in samples])


@dataclass
class SuiteResult:
    suite: str
    rows: list[Row]
    meta: dict[str, Any] = field(default_factory=dict)  # sizes used, raw figures, versions
    title: str = ""

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


def median_spread(samples: Sequence[float]) -> tuple[float | None, float | None]:
    if not samples:
        return None, None
    return float(statistics.median(samples)), (max(samples) - min(samples)) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))])


# ---------------------------------------------------------------- stack helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def dev_server(workdir: Path, *extra_args: str) -> Iterator[Any]:
    """A tuned Temporal dev server (as `bizos dev` runs it) on free ports, state under
    `workdir/temporal`; yields the `starters.devserver.DevServer` (`.address`)."""
    from starters.devserver import DevServer

    class _Server(DevServer):
        def command(self) -> list[str]:
            return [*super().command(), "--headless", *extra_args]

    server = _Server(state_dir=workdir / "temporal", port=free_port(), ui_port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bench_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process of a suite: its own BIZOS_HOME, offline CrewAI."""
    env = dict(os.environ)
    env.update(
        BIZOS_HOME=str(workdir / "home"),
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        CREWAI_DISABLE_TELEMETRY="true",
        CREWAI_DISABLE_TRACKING="true",
        CREWAI_TRACING_ENABLED="false",
        OTEL_SDK_DISABLED="true",
    )
    env.update(extra)
    return env


class ProcSampler:
    """Samples RSS and CPU time of some processes every `interval_s` in a thread.

    Use as a context manager around the measured phase:

        with ProcSampler({"worker": pid}, interval_s=0.05) as s:
            ...
        s.peak_rss_mb("worker"), s.cpu_s("worker"), s.mean_rss_mb("worker")

    `children=True` adds each process's descendants (e.g. a server's forks) to its figures.
    """

    def __init__(
        self, pids: dict[str, int], interval_s: float = 0.1, children: bool = False
    ) -> None:
        self.procs = {k: psutil.Process(p) for k, p in pids.items()}
        self.interval_s = interval_s
        self.children = children
        self.rss: dict[str, list[float]] = {k: [] for k in pids}
        self._cpu0: dict[str, float] = {}
        self._cpu1: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bench-sampler")
        self.t0 = self.t1 = 0.0

    def _family(self, p: psutil.Process) -> list[psutil.Process]:
        if not self.children:
            return [p]
        with contextlib.suppress(psutil.Error):
            return [p, *p.children(recursive=True)]
        return [p]

    def _cpu(self, key: str) -> float:
        total = 0.0
        for p in self._family(self.procs[key]):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def _rss_mb(self, key: str) -> float:
        total = 0
        for p in self._family(self.procs[key]):
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20

    def rss_now_mb(self, key: str) -> float:
        return self._rss_mb(key)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for k in self.procs:
                self.rss[k].append(self._rss_mb(k))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> ProcSampler:
        self.t0 = time.perf_counter()
        self._cpu0 = {k: self._cpu(k) for k in self.procs}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.t1 = time.perf_counter()
        self._cpu1 = {k: self._cpu(k) for k in self.procs}
        for k in self.procs:
            self.rss[k].append(self._rss_mb(k))

    def peak_rss_mb(self, key: str) -> float:
        return max(self.rss[key], default=0.0)

    def mean_rss_mb(self, key: str) -> float:
        return statistics.fmean(self.rss[key]) if self.rss[key] else 0.0

    def cpu_s(self, key: str) -> float:
        return self._cpu1.get(key, self._cpu(key)) - self._cpu0[key]

    def cpu_pct(self, key: str) -> float:
        """Mean CPU over the phase, 100 = one core busy."""
        wall = (self.t1 or time.perf_counter()) - self.t0
        return 100 * self.cpu_s(key) / wall if wall > 0 else 0.0

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {
            k: {
                "cpu_s": round(self.cpu_s(k), 3),
                "cpu_pct": round(self.cpu_pct(k), 1),
                "rss_peak_mb": round(self.peak_rss_mb(k), 1),
                "rss_mean_mb": round(self.mean_rss_mb(k), 1),
            }
            for k in self.procs
        }


# ---------------------------------------------------------------- running and reporting
def suite_module(name: str) -> Any:
    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; suites: {', '.join(SUITES)}")
    return importlib.import_module(SUITES[name])


async def run_suite(name: str, opts: SuiteOptions) -> SuiteResult:
    mod = suite_module(name)
    started = time.perf_counter()
    out = mod.run(opts)
    if inspect.isawaitable(out):
        out = await out
    result = _coerce(name, out)
    result.title = result.title or getattr(mod, "TITLE", name)
    result.meta.setdefault("size", opts.size)
    result.meta.setdefault("repeats", opts.repeats)
    result.meta["wall_s"] = round(time.perf_counter() - started, 1)
    if opts.size == "smoke":  # tiny sizes prove the suite runs; they judge no goal
        for r in result.rows:
            r.met = None
    return result


def _coerce(name: str, out: Any) -> SuiteResult:
    """Accept a SuiteResult, or a dict {"rows": [{name, value, unit, ...}], "meta": {...}}."""
    if isinstance(out, SuiteResult):
        return out
    if isinstance(out, dict) and "rows" in out:
        rows = [r if isinstance(r, Row) else Row(**r) for r in out["rows"]]
        return SuiteResult(name, rows, dict(out.get("meta", {})), str(out.get("title", "")))
    raise TypeError(f"suite {name} returned {type(out).__name__}, not a SuiteResult")


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"


def print_table(result: SuiteResult, file: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.suite}: {result.title}", title_justify="left")
    for col, kw in (
        ("figure", {}),
        ("value", {"justify": "right"}),
        ("±", {"justify": "right"}),
        ("unit", {}),
        ("goal", {}),
        ("note", {"overflow": "fold"}),
    ):
        table.add_column(col, **kw)  # type: ignore[arg-type]
    for r in result.rows:
        goal = r.goal
        if r.met is True:
            goal += " [green]met[/]"
        elif r.met is False:
            goal += " [red]MISSED[/]"
        table.add_row(r.name, fmt(r.value), fmt(r.spread), r.unit, goal.strip(), r.note)
    Console(file=file or sys.stdout, width=160, soft_wrap=False).print(table)


def machine() -> dict[str, Any]:
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "git": rev or None,
    }


def write_json(result: SuiteResult, path: Path | None, mach: dict[str, Any]) -> Path:
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"{result.suite}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "suite": result.suite,
        "title": result.title,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": mach,
        "meta": result.meta,
        "rows": [asdict(r) for r in result.rows],
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def _interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_all(
    names: Iterable[str],
    size: Size,
    repeats: int | None,
    json_path: Path | None,
    verbose: bool = False,
) -> list[tuple[SuiteResult, Path]]:
    """Run suites one after another, each in a fresh temp dir; print and write each."""
    names = list(names)
    # SIGTERM unwinds like Ctrl-C, so every suite's servers and workers are stopped
    signal.signal(signal.SIGTERM, _interrupt)
    done: list[tuple[SuiteResult, Path]] = []
    mach = machine()
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"bizos-bench-{name}-") as tmp:
            opts = SuiteOptions(size=size, repeats=repeats, workdir=Path(tmp), verbose=verbose)
            opts.log(f"suite {name} ({size}) in {tmp}")
            result = asyncio.run(run_suite(name, opts))
        path = json_path
        if path is not None and len(names) > 1:  # one file per suite beside the given name
            path = path.with_name(f"{path.stem}-{name}{path.suffix or '.json'}")
        written = write_json(result, path, mach)
        print_table(result)
        print(f"wrote {written} ({result.meta['wall_s']} s)\n", flush=True)
        done.append((result, written))
    return done
