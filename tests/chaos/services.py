"""The chaos suite's own dependencies, which it may stop and restart without disturbing any
other test: a PostgreSQL cluster (`pg_createcluster` on a free port, trust auth on
127.0.0.1), a Redis with AOF in a temporary directory, and a Temporal dev server on its own
SQLite state. Each is started here and torn down (the cluster dropped) at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from starters.devserver import port_open
from starters.stack import stop_processes
from tests.api.redis_support import closed_port

PG_VERSION = "15"


free_port = closed_port  # a port nobody listens on now: the kernel's pick


def wait_port(port: int, *, up: bool, timeout_s: float = 60.0, what: str = "") -> None:
    """Readiness polling of a child process (not test synchronisation), with backoff."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port) == up:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise AssertionError(f"{what or port} not {'up' if up else 'down'} after {timeout_s:.0f}s")


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


@dataclass
class PgCluster:
    """`pg_createcluster 15 chaos-<random>` on a free port; `url` names its `bizos` db."""

    name: str = field(default_factory=lambda: f"chaos-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/bizos"

    def create(self) -> PgCluster:
        # The port was free when picked; on a busy machine another process may bind it
        # before the postmaster does: then the cluster is dropped and made on another.
        for attempt in range(3):
            try:
                _run(
                    "pg_createcluster", PG_VERSION, self.name, "--port", str(self.port),
                    "--start", "--", "--auth=trust",
                )  # fmt: skip
                break
            except AssertionError as e:
                self.drop()
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
                self.port = free_port()
        wait_port(self.port, up=True, what="PostgreSQL")
        _run("su", "postgres", "-c", f"createdb -h 127.0.0.1 -p {self.port} bizos")
        return self

    def ctl(self, action: str) -> None:
        _run("pg_ctlcluster", PG_VERSION, self.name, action)

    def stop(self) -> None:
        self.ctl("stop")  # fast shutdown: every connection is cut, as in a crash of the host
        wait_port(self.port, up=False, what="PostgreSQL")

    def start(self) -> None:
        self.ctl("start")
        wait_port(self.port, up=True, what="PostgreSQL")

    def drop(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            _run("pg_dropcluster", "--stop", PG_VERSION, self.name)


@dataclass
class RedisServer:
    """`redis-server` with AOF in `dir` (appendfsync everysec, the usual production setting:
    `always` fsyncs every write, seconds each on a busy disk): restarts keep its data."""

    dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--dir",
                str(self.dir),
            ],
            stdout=(self.dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_port(self.port, up=True, what="Redis")
        return self

    def kill(self) -> None:
        """SIGKILL: only what AOF already holds survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        wait_port(self.port, up=False, what="Redis")

    def stop(self) -> None:
        if self.proc is not None:
            stop_processes([self.proc], 10.0)


def sigkill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
