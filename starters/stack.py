"""The embedded stack of `bizos dev` / `bizos demo`: dev server + worker processes.

The workflow worker and the agent pools run as separate processes: on 2 cores, CrewAI
threads holding the GIL next to workflow tasks would push those tasks toward Temporal's 2 s
deadlock detector. The stack is ready once every worker process has said it is polling; one
that exits first fails the start, naming its pool and its last log line (the cause).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from starters.devserver import DevServer, DevServerError

WORKER_POOLS = ("workflows", "agents")
# The agents worker imports crewai and every tool before it polls: seconds, more on 2 busy cores.
WORKER_START_TIMEOUT_S = 180.0
POLLING_MARK = b"] polling "  # worker.main's log line once its pools are served
API_READY_MARK = b"Uvicorn running on"  # uvicorn's line once the API listens
_LOG_PREFIX = re.compile(r"^\S+ \S+ [A-Z]+ \S+ \[wf=[^\]]* run=[^\]]* step=[^\]]*\] ")


class WorkerStartFailed(DevServerError):
    pass


@dataclass
class WorkerProcess:
    pool: str
    proc: subprocess.Popen[bytes]
    log: Path
    log_start: int  # the log is appended to across starts: this start's part begins here
    ready_mark: bytes = POLLING_MARK  # what its log says once it serves

    def output(self) -> bytes:
        with self.log.open("rb") as f:
            f.seek(self.log_start)
            return f.read()

    def last_words(self) -> str:
        """The log's last line (a worker that cannot start says why there), without the log
        record's time, level and run-context prefix."""
        lines = self.output().decode(errors="replace").strip().splitlines()
        return _LOG_PREFIX.sub("", lines[-1]) if lines else ""


@dataclass
class Stack:
    server: DevServer
    started_server: bool
    workers: list[WorkerProcess] = field(default_factory=list)

    def dead_worker(self) -> str | None:
        for w in self.workers:
            if w.proc.poll() is not None:
                last = w.last_words()
                return f"worker `{w.pool}` exited with code {w.proc.returncode}" + (
                    f": {last}" if last else ""
                )
        return None

    def wait_until_polling(self, timeout_s: float = WORKER_START_TIMEOUT_S) -> None:
        """Return once every worker polls; a worker that exits first or never gets there
        fails the start rather than leaving its pools unserved."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            problem = self.dead_worker()
            if problem:
                raise WorkerStartFailed(f"{problem}; see {self.server.state_dir}/worker-*.log")
            waiting = [w for w in self.workers if w.ready_mark not in w.output()]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise WorkerStartFailed(
                    f"worker(s) {', '.join(f'`{w.pool}`' for w in waiting)} did not start "
                    f"polling in {timeout_s:.0f}s; see {self.server.state_dir}/worker-*.log"
                )
            time.sleep(delay)  # readiness polling of child processes, with backoff
            delay = min(delay * 2, 0.5)


def _spawn(
    name: str,
    args: list[str],
    server: DevServer,
    ready_mark: bytes,
    extra_env: dict[str, str] | None = None,
) -> WorkerProcess:
    env = dict(os.environ, **(extra_env or {}), TEMPORAL_ADDRESS=server.address)
    env.pop("TEMPORAL_API_KEY", None)
    log_path = server.state_dir / f"worker-{name}.log"
    with log_path.open("ab") as log:
        start = log.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "starters.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return WorkerProcess(name, proc, log_path, start, ready_mark)


def _spawn_worker(
    pool: str, metrics_port: int, server: DevServer, env: dict[str, str] | None = None
) -> WorkerProcess:
    """`bizos worker` for one pool; 0 for `metrics_port` serves no metrics."""
    args = ["worker", "--pool", pool, "--metrics-port", str(metrics_port)]
    return _spawn(pool, args, server, POLLING_MARK, env)


def _spawn_api(port: int, server: DevServer, env: dict[str, str] | None = None) -> WorkerProcess:
    """`bizos api` on 127.0.0.1:<port>, ready once uvicorn says it serves."""
    return _spawn("api", ["api", "--port", str(port)], server, API_READY_MARK, env)


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout_s: float = 35.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)  # graceful: running activities may finish
    for p in procs:
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.contextmanager
def embedded_stack(
    state_dir: Path,
    port: int = 7233,
    ui_port: int = 8233,
    *,
    workers: bool = True,
    metrics_port: int = 9464,
    api_port: int = 0,
) -> Iterator[Stack]:
    """Dev server + worker processes; pool i serves metrics on `metrics_port + i` (0: off);
    with `api_port` the HTTP API too."""
    server = DevServer(state_dir=state_dir, port=port, ui_port=ui_port)
    started = server.start()
    stack = Stack(server, started)
    # the workers mint approval links: point them at this API unless told otherwise
    env = {"BIZOS_PUBLIC_URL": f"http://127.0.0.1:{api_port}"} if api_port else {}
    env = {k: v for k, v in env.items() if k not in os.environ}
    try:
        if workers:
            stack.workers = [
                _spawn_worker(pool, metrics_port + i if metrics_port else 0, server, env)
                for i, pool in enumerate(WORKER_POOLS)
            ]
        if api_port:
            stack.workers.append(_spawn_api(api_port, server, env))
        if stack.workers:
            stack.wait_until_polling()
        yield stack
    finally:
        stop_processes([w.proc for w in stack.workers])
        if started:
            server.stop()
