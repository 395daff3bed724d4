"""`bizos dev`: the embedded stack starts, serves runs, metrics and tagged logs, refuses a
server it did not start, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from starters.devserver import DevServer, DevServerError, port_open
from starters.runs import start_run
from tests.support import eventually, wait_until_waiting
from worker.plugin import BizosPlugin
from workflows.models import Decision, RunInput, RunResult
from workflows.registry import load_registry

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """p such that p and p+1 are both free (the stack's two metrics ports)."""
    while True:
        p = free_port()
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
            return p


def test_refuses_a_server_it_did_not_start(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(DevServerError) as e:
            DevServer(state_dir=tmp_path, port=port).start()
    assert f"something else is listening on 127.0.0.1:{port} and bizos did not start it" in str(
        e.value
    )
    assert not (tmp_path / "temporal.pid").exists()


async def test_bizos_dev_serves_runs_metrics_logs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, ui, metrics, api = free_port(), free_port(), free_port_pair(), free_port()
    state = tmp_path / "state"
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block; reads go to a thread
        [
            sys.executable,
            "-m",
            "starters.cli",
            "dev",
            "--port",
            str(port),
            "--ui-port",
            str(ui),
            "--state-dir",
            str(state),
            "--metrics-port",
            str(metrics),
            "--api-port",
            str(api),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")},
    )
    try:
        banner = await asyncio.to_thread(_read_until, proc, "Ctrl-C stops everything.")
        assert f"Web UI: http://localhost:{ui}" in banner
        client = await Client.connect(f"127.0.0.1:{port}", plugins=[BizosPlugin()])
        dag = load_registry().by_name("hello_approval")
        h = await start_run(
            client, dag, RunInput(params={"topic": "dev"}), key=uuid.uuid4().hex[:6]
        )
        await wait_until_waiting(h, "review")
        await h.execute_update("decide", Decision(step="review", decision="approve", by="me"))
        result = await h.result()
        assert isinstance(result, RunResult) and result.statuses["publish"] == "succeeded"
        assert (state / "temporal.db").exists()

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as r:
                return str(r.read().decode())

        async def completed_counted() -> bool:
            # the SDK's exporter publishes its counters a moment after the fact
            return "temporal_workflow_completed" in await asyncio.to_thread(scrape)

        await eventually(completed_counted, what="the completed run in the worker's metrics")
        assert f"HTTP API: http://127.0.0.1:{api}/v1" in banner

        def ready() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{api}/readyz", timeout=5) as r:
                return str(r.read().decode())

        assert '"status":"ready"' in await asyncio.to_thread(ready)
        log = (state / "worker-agents.log").read_text()
        assert f"[wf={h.id} run={h.result_run_id} step=draft] step started: noop/echo" in log
        server_pid = int((state / "temporal.pid").read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0, proc.stdout.read() if proc.stdout else ""
    assert not (state / "temporal.pid").exists()
    assert not _alive(server_pid)
    await eventually(lambda: _closed(port), what="the server port to close")


def _read_until(proc: subprocess.Popen[str], marker: str) -> str:
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError("bizos dev exited early:\n" + "".join(seen))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _closed(port: int) -> bool:
    return not port_open("127.0.0.1", port)
