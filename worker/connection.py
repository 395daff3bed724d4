"""Connecting to Temporal the way the `temporal` CLI does.

Settings come from Temporal's own environment variables and config profiles
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS files, TEMPORAL_PROFILE;
`temporalio.envconfig`), so the CLI, the workers and `bizos` share them and the same commands
work against Temporal Cloud. With none set, the embedded server of `bizos dev`.
"""

from __future__ import annotations

import os
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from worker.plugin import BizosPlugin

EMBEDDED_ADDRESS = "127.0.0.1:7233"


class ConnectionFailed(RuntimeError):
    pass


def connect_config() -> dict[str, Any]:
    config: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(profile=os.environ.get("TEMPORAL_PROFILE"))
    )
    config.setdefault("target_host", EMBEDDED_ADDRESS)
    config.setdefault("namespace", "default")
    return config


def uses_embedded_server() -> bool:
    return connect_config()["target_host"] in (EMBEDDED_ADDRESS, "localhost:7233")


def metrics_runtime(port: int) -> Runtime:
    """A runtime exporting the SDK's Prometheus metrics on 127.0.0.1:<port>."""
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )


async def connect(runtime: Runtime | None = None, plugin: BizosPlugin | None = None) -> Client:
    config = connect_config()
    try:
        return await Client.connect(
            **config, plugins=[plugin or BizosPlugin()], runtime=runtime
        )
    except RuntimeError as e:
        hint = ""
        if config["target_host"] == EMBEDDED_ADDRESS:
            hint = " — start the embedded server with `bizos dev` (or set TEMPORAL_ADDRESS)"
        raise ConnectionFailed(
            f"cannot reach Temporal at {config['target_host']} "
            f"(namespace {config['namespace']}){hint}: {e}"
        ) from None
