"""Connecting to Temporal the way the `temporal` CLI does.

Settings come from Temporal's own environment variables and config profiles
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS files, TEMPORAL_PROFILE;
`temporalio.envconfig`), so the CLI, the workers and `bizos` share them and the same commands
work against Temporal Cloud. With none set, the embedded server of `bizos dev`.

Temporal Cloud (docs/encryption_and_cloud.md): TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, then
either TEMPORAL_API_KEY (which turns TLS on) or the mTLS files TEMPORAL_TLS_CLIENT_CERT_PATH /
TEMPORAL_TLS_CLIENT_KEY_PATH (TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME for a
private CA) — or all of it in a TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE). A payload
key in BIZOS_PAYLOAD_KEYS puts the encryption codec on every connection made here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.plugin import SimplePlugin
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from worker.codec import load_codec
from worker.plugin import BizosPlugin

EMBEDDED_ADDRESS = "127.0.0.1:7233"


class ConnectionFailed(RuntimeError):
    pass


class ConnectionConfigError(ValueError):
    """The Temporal connection settings contradict each other."""


def connect_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`Client.connect` keyword arguments from `environ` (default: this process's
    environment) and the TOML profile it names; the embedded server when nothing is set."""
    env = os.environ if environ is None else environ
    config: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(
            profile=env.get("TEMPORAL_PROFILE"), override_env_vars=dict(env)
        )
    )
    if "target_host" not in config and (config.get("api_key") or config.get("tls")):
        # Credentials meant for a cloud must never be sent to whatever listens locally.
        given = "an API key" if config.get("api_key") else "TLS settings"
        raise ConnectionConfigError(
            f"{given} but no address: set TEMPORAL_ADDRESS (Temporal Cloud: the namespace's "
            "gRPC endpoint, e.g. <namespace>.<account>.tmprl.cloud:7233) or `address` in the "
            "profile"
        )
    config.setdefault("target_host", EMBEDDED_ADDRESS)
    config.setdefault("namespace", "default")
    return config


def uses_embedded_server() -> bool:
    return connect_config()["target_host"] in (EMBEDDED_ADDRESS, "localhost:7233")


def metrics_runtime(port: int) -> Runtime:
    """A runtime exporting the SDK's and the platform's Prometheus metrics on
    <BIZOS_METRICS_HOST, default 127.0.0.1>:<port> (a container sets 0.0.0.0 so Prometheus
    can reach it). Counters end in `_total` and durations are in seconds, as Prometheus
    names them; the platform's histograms get their own buckets (docs/observability.md)."""
    from activities.metrics import HISTOGRAM_BUCKETS

    host = os.environ.get("BIZOS_METRICS_HOST", "127.0.0.1")
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                counters_total_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides=HISTOGRAM_BUCKETS,
            )
        )
    )


async def connect(runtime: Runtime | None = None, plugin: BizosPlugin | None = None) -> Client:
    """A client with the platform plugin; its codec encrypts payloads when a key is set
    (a `plugin` given by the caller is used as it is)."""
    config = connect_config()
    codec = None if plugin else load_codec()
    plugins: list[SimplePlugin] = [plugin or BizosPlugin(codec=codec)]
    try:
        return await Client.connect(**config, plugins=plugins, runtime=runtime)
    except RuntimeError as e:
        hint = ""
        if config["target_host"] == EMBEDDED_ADDRESS:
            hint = " — start the embedded server with `bizos dev` (or set TEMPORAL_ADDRESS)"
        elif config.get("tls"):
            hint = " — check the TLS settings (TEMPORAL_TLS_*: certificate, key, CA, server name)"
        raise ConnectionFailed(
            f"cannot reach Temporal at {config['target_host']} "
            f"(namespace {config['namespace']}){hint}: {e}"
        ) from None
