"""`bizos worker` in its own process, as deployed: for tests that restart or kill workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import server_address

REPO = Path(__file__).resolve().parents[1]


class WorkerProcess:
    def __init__(
        self,
        env: WorkflowEnvironment,
        namespace: str,
        spec_dirs: list[Path],
        log: Path,
        *,
        pools: str = "workflows,system",
        extra_env: dict[str, str] | None = None,
    ):
        self.log = log
        environ = dict(
            os.environ,
            TEMPORAL_ADDRESS=server_address(env),
            TEMPORAL_NAMESPACE=namespace,
            BIZOS_SPEC_DIRS=os.pathsep.join(str(d) for d in spec_dirs),
            **(extra_env or {}),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "starters.cli", "worker", "--pool", pools],
            env=environ,
            cwd=REPO,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
