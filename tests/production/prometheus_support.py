"""A real Prometheus (Debian's `prometheus`, installed by scripts/setup) on a free port with a
generated config, and the other processes of a scraped stack, for test_prometheus."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.production.dashboard_queries import PROMETHEUS, REPO

SCRAPE_INTERVAL = "1s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_config(targets: dict[str, int]) -> dict[str, Any]:
    """One job per BizOS process kind (the names the rules and dashboards filter on), the
    committed alert rules, everything scraped every second."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(p) for p in sorted((PROMETHEUS / "rules").glob("*.yml"))],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for job, port in targets.items()
        ],
    }


@contextlib.contextmanager
def running_prometheus(directory: Path, targets: dict[str, int]) -> Iterator[str]:
    """`prometheus` scraping `targets`; yields its base URL."""
    port = free_port()
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(targets)))
    log = (directory / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()


def bizos(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A `bizos` command in its own process, as deployed."""
    return subprocess.Popen(
        [sys.executable, "-m", "starters.cli", *args],
        env=env,
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def instant(http: httpx.AsyncClient, base: str, expr: str) -> list[dict[str, Any]]:
    """`/api/v1/query`; fails on a query error (a bad panel query must fail the test)."""
    resp = await http.get(f"{base}/api/v1/query", params={"query": expr})
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def value(http: httpx.AsyncClient, base: str, expr: str) -> float | None:
    result = await instant(http, base, expr)
    return float(result[0]["value"][1]) if result else None


def environ(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env.pop("TEMPORAL_API_KEY", None)
    env.pop("TEMPORAL_PROFILE", None)
    return env
