"""The embedded stack of `bizos dev` / `bizos demo`: dev server + worker processes.

The workflow worker and the agent pools run as separate processes: on 2 cores, CrewAI
threads holding the GIL next to workflow tasks would push those tasks toward Temporal's 2 s
deadlock detector.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from starters.devserver import DevServer

WORKER_POOLS = ("workflows", "agents")


@dataclass
class Stack:
    server: DevServer
    started_server: bool
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def dead_worker(self) -> str | None:
        for pool, proc in zip(WORKER_POOLS, self.workers, strict=False):
            if proc.poll() is not None:
                return f"worker `{pool}` exited with code {proc.returncode}"
        return None


def _spawn_worker(pool: str, metrics_port: int, server: DevServer) -> subprocess.Popen[bytes]:
    """`bizos worker` for one pool; 0 for `metrics_port` serves no metrics."""
    env = dict(os.environ, TEMPORAL_ADDRESS=server.address)
    env.pop("TEMPORAL_API_KEY", None)
    log = (server.state_dir / f"worker-{pool}.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "starters.cli",
            "worker",
            "--pool",
            pool,
            "--metrics-port",
            str(metrics_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


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
) -> Iterator[Stack]:
    """Dev server + worker processes; pool i serves metrics on `metrics_port + i` (0: off)."""
    server = DevServer(state_dir=state_dir, port=port, ui_port=ui_port)
    started = server.start()
    stack = Stack(server, started)
    try:
        if workers:
            stack.workers = [
                _spawn_worker(pool, metrics_port + i if metrics_port else 0, server)
                for i, pool in enumerate(WORKER_POOLS)
            ]
        yield stack
    finally:
        stop_processes(stack.workers)
        if started:
            server.stop()
