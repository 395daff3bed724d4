"""The platform as deployed, on the chaos suite's own dependencies: a Temporal dev server
on its own SQLite state, `bizos worker` processes (the workflow pool and the one agent pool
the chaos template uses) and `bizos api`, all on one PostgreSQL cluster and one Redis that
the tests may stop, kill and restart (tests/chaos/services.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from starters.devserver import DevServer
from starters.stack import POLLING_MARK, stop_processes
from tests.chaos.services import PgCluster, RedisServer, free_port, sigkill_pid, wait_port

REPO = Path(__file__).resolve().parents[2]
SPEC_DIRS = [REPO / "dag_specs", REPO / "tests" / "chaos" / "specs"]
AGENT_POOL = "intelligence"  # market_research, the agent of every chaos_chain step
TENANT = "chaos"


@dataclass
class Proc:
    """One `bizos` process; `start()` again after a kill appends to the same log."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    ready: bytes
    proc: subprocess.Popen[bytes] | None = None
    log_start: int = 0
    starts: int = 0

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.log_start = out.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "starters.cli", *self.args],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        return self

    def output(self) -> bytes:
        with self.log.open("rb") as f:
            f.seek(self.log_start)
            return f.read()

    def is_ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.tail()}")
        return self.ready in self.output()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_processes([self.proc])


@dataclass
class ChaosStack:
    root: Path
    pg: PgCluster = field(default_factory=PgCluster)
    redis: RedisServer = field(init=False)
    server: DevServer = field(init=False)
    api_port: int = field(default_factory=free_port)
    workflows: Proc = field(init=False)
    agents: Proc = field(init=False)
    api: Proc = field(init=False)

    def __post_init__(self) -> None:
        self.redis = RedisServer(self.root / "redis")
        self.server = DevServer(
            state_dir=self.root / "temporal", port=free_port(), ui_port=free_port()
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, **extra: str) -> dict[str, str]:
        environ = {
            k: v
            for k, v in os.environ.items()
            # the offline provider only, and none of the outer BIZOS_/Temporal settings
            if not (k.endswith("_API_KEY") or k.startswith(("BIZOS_", "TEMPORAL_")))
        }
        environ.update(
            TEMPORAL_ADDRESS=self.server.address,
            BIZOS_HOME=str(self.root / "home"),
            BIZOS_DATABASE_URL=self.pg.url,
            BIZOS_REDIS_URL=self.redis.url,
            BIZOS_SPEC_DIRS=os.pathsep.join(str(d) for d in SPEC_DIRS),
            BIZOS_AGENT_THREADS="4",
            # 0.5 s (the default) is too tight for a 2-core machine running the whole stack:
            # an idempotency write whose reply times out is re-sent by redis-py's retry, finds
            # its own in-flight lease, and the start answers 409 until the lease ends (120 s)
            BIZOS_REDIS_TIMEOUT_S="2",
            **extra,
        )
        return environ

    def start(self, agent_env: dict[str, str] | None = None) -> ChaosStack:
        """Everything up; `agent_env` is added to the agent pool's environment."""
        self.redis.start()
        server = threading.Thread(target=self.server.start)  # beside the cluster's initdb
        server.start()
        self.pg.create()
        server.join()
        assert self.server.owned_pid() is not None, f"see {self.server.log_file}"
        env = self.env()
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        self.workflows = Proc(
            "workflows",
            ["worker", "--pool", "workflows,system"],
            env,
            logs / "workflows.log",
            POLLING_MARK,
        )
        self.agents = Proc(
            AGENT_POOL,
            ["worker", "--pool", AGENT_POOL],
            env | (agent_env or {}),
            logs / "agents.log",
            POLLING_MARK,
        )
        self.api = Proc(
            "api",
            ["api", "--port", str(self.api_port)],
            env,
            logs / "api.log",
            b"Uvicorn running on",
        )
        for p in (self.workflows, self.agents, self.api):
            p.start()
        return self

    def kill_server(self) -> None:
        pid = self.server.owned_pid()
        assert pid is not None, "the dev server is not running"
        sigkill_pid(pid)
        wait_port(self.server.port, up=False, what="Temporal")

    def close(self) -> None:
        procs = [getattr(self, name, None) for name in ("api", "agents", "workflows")]
        stop_processes([p.proc for p in procs if p is not None and p.proc is not None])
        self.server.stop()
        self.redis.stop()
        self.pg.drop()

    def http(self, key: str, timeout_s: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout_s,
        )
