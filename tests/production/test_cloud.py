"""Temporal Cloud readiness: the connection settings (API key, mTLS files, TOML profiles) as
`connect()` turns them into a connection; mTLS end to end through a TLS-terminating proxy in
front of the session's dev server (the stand-in for Cloud's front end, `tls_proxy`); and a
rolling update between two Worker Deployment versions with a run parked on an approval."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import EventType, VersioningBehavior
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentVersionRequest
from temporalio.client import Client
from temporalio.service import RPCError, TLSConfig
from temporalio.testing import WorkflowEnvironment

from activities.catalog import task_queue_for
from tests.conftest import namespace_client, server_address
from tests.production.tls_proxy import CertificateAuthority, MtlsProxy
from tests.support import eventually, start, wait_until_waiting
from worker.binaries import temporal_cli
from worker.connection import ConnectionConfigError, ConnectionFailed, connect, connect_config
from worker.deployment import DeploymentConfigError, DeploymentSettings, deployment_config
from worker.pools import build_worker
from workflows.models import WORKFLOWS_TASK_QUEUE, ApprovalSignal, RunResult

CLOUD = "bizos-prod.a1b2c.tmprl.cloud:7233"


def test_an_api_key_connects_with_tls() -> None:
    config = connect_config(
        {
            "TEMPORAL_ADDRESS": CLOUD,
            "TEMPORAL_NAMESPACE": "bizos-prod.a1b2c",
            "TEMPORAL_API_KEY": "k1",
        }
    )
    assert config["target_host"] == CLOUD and config["namespace"] == "bizos-prod.a1b2c"
    assert config["api_key"] == "k1" and config["tls"] is True


def test_mtls_files_are_read_into_the_tls_config(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path, "ca")
    client = ca.issue("worker", server=False)
    config = connect_config(
        {
            "TEMPORAL_ADDRESS": CLOUD,
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(client.cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(client.key),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca.identity.cert),
            "TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
        }
    )
    tls = config["tls"]
    assert isinstance(tls, TLSConfig) and "api_key" not in config
    assert tls.client_cert == client.cert.read_bytes()
    assert tls.client_private_key == client.key.read_bytes()
    assert tls.server_root_ca_cert == ca.identity.cert.read_bytes()
    assert tls.domain == "temporal.internal"


def test_a_toml_profile_is_chosen_by_name_and_the_environment_overrides_it(
    tmp_path: Path,
) -> None:
    ca = CertificateAuthority(tmp_path, "ca")
    client = ca.issue("worker", server=False)
    toml = tmp_path / "temporal.toml"
    toml.write_text(
        f"""
[profile.default]
address = "127.0.0.1:7233"

[profile.prod]
address = "{CLOUD}"
namespace = "bizos-prod.a1b2c"
api_key = "from-the-profile"

[profile.prod-mtls]
address = "{CLOUD}"
namespace = "bizos-prod.a1b2c"
[profile.prod-mtls.tls]
client_cert_path = "{client.cert}"
client_key_path = "{client.key}"
"""
    )
    env = {"TEMPORAL_CONFIG_FILE": str(toml)}
    prod = connect_config({**env, "TEMPORAL_PROFILE": "prod"})
    assert prod == {
        "target_host": CLOUD,
        "namespace": "bizos-prod.a1b2c",
        "api_key": "from-the-profile",
        "tls": True,
    }
    mtls = connect_config({**env, "TEMPORAL_PROFILE": "prod-mtls"})
    assert (
        isinstance(mtls["tls"], TLSConfig) and mtls["tls"].client_cert == client.cert.read_bytes()
    )
    # an environment variable beats the profile (one secret rotated without editing the file)
    rotated = connect_config({**env, "TEMPORAL_PROFILE": "prod", "TEMPORAL_API_KEY": "k2"})
    assert rotated["api_key"] == "k2"
    assert connect_config(env)["target_host"] == "127.0.0.1:7233"  # the `default` profile


def test_credentials_without_an_address_are_refused() -> None:
    assert connect_config({}) == {"target_host": "127.0.0.1:7233", "namespace": "default"}
    with pytest.raises(ConnectionConfigError, match="an API key but no address"):
        connect_config({"TEMPORAL_API_KEY": "k1"})


def test_deployment_settings_go_together(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BIZOS_DEPLOYMENT_NAME", "BIZOS_BUILD_ID"):
        monkeypatch.delenv(name, raising=False)
    assert deployment_config() is None  # unversioned, as before
    monkeypatch.setenv("BIZOS_DEPLOYMENT_NAME", "bizos")
    with pytest.raises(DeploymentConfigError, match="BIZOS_BUILD_ID is not set"):
        deployment_config()
    monkeypatch.setenv("BIZOS_BUILD_ID", "2026.11.30")
    config = deployment_config()
    assert config is not None and config.use_worker_versioning
    assert config.version.to_canonical_string() == "bizos.2026.11.30"
    assert config.default_versioning_behavior.name == "AUTO_UPGRADE"
    with pytest.raises(DeploymentConfigError, match="must not contain"):
        deployment_config(DeploymentSettings(deployment_name="bizos.prod", build_id="1"))


# ----------------------------------------------------------------- mTLS end to end


@pytest.fixture
async def mtls_proxy(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[MtlsProxy, str, CertificateAuthority]]:
    ca = CertificateAuthority(tmp_path, "ca")
    proxy = MtlsProxy(
        ca.identity.cert, ca.issue("localhost", server=True), server_address(temporal_env)
    )
    address = await proxy.start()
    try:
        yield proxy, address, ca
    finally:
        await proxy.close()


def tls_env(address: str, ca: CertificateAuthority, client: Any | None) -> dict[str, str]:
    env = {
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "isolated-tls",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca.identity.cert),
        "TEMPORAL_TLS_SERVER_NAME": "localhost",
    }
    if client is not None:
        env |= {
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(client.cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(client.key),
        }
    return env


async def connect_with(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Client:
    for name in ("TEMPORAL_API_KEY", "TEMPORAL_PROFILE", "TEMPORAL_TLS_CLIENT_CERT_PATH",
                 "TEMPORAL_TLS_CLIENT_KEY_PATH", "BIZOS_PAYLOAD_KEYS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return await connect()


async def test_a_run_over_mutual_tls_and_a_client_without_a_certificate_is_refused(
    mtls_proxy: tuple[MtlsProxy, str, CertificateAuthority],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    proxy, address, ca = mtls_proxy
    client = await connect_with(monkeypatch, tls_env(address, ca, ca.issue("worker", server=False)))
    async with build_worker(client, "workflows"), build_worker(client, "system"):
        h = await start(client, "hello_approval", {"topic": "over mTLS", "channels": ["blog"]})
        await wait_until_waiting(h, "review")
        await h.signal("approve", ApprovalSignal(step="review", by="ops"))
        result = await h.result()
    assert isinstance(result, RunResult) and set(result.statuses.values()) == {"succeeded"}
    assert proxy.served >= 1 and proxy.refused == []

    # no certificate, then one from a CA the server does not trust: both refused by the server
    stranger = CertificateAuthority(tmp_path, "other-ca").issue("intruder", server=False)
    for who in (None, stranger):
        with pytest.raises(ConnectionFailed, match="check the TLS settings"):
            await connect_with(monkeypatch, tls_env(address, ca, who))
    # ...by the handshake, for the reasons a server gives
    assert any("PEER_DID_NOT_RETURN_A_CERTIFICATE" in r for r in proxy.refused), proxy.refused
    assert any("CERTIFICATE_VERIFY_FAILED" in r for r in proxy.refused), proxy.refused


# ----------------------------------------------------------------- rolling update


DEPLOYMENT = "bizos-test"
NAMESPACE = "isolated-deployment"


async def version_polled(client: Client, build: str) -> bool:
    """The version's workers poll both task queues the runs need (the server refuses to make
    a version current while a queue of the current one is missing from it)."""
    try:
        desc = await client.workflow_service.describe_worker_deployment_version(
            DescribeWorkerDeploymentVersionRequest(
                namespace=NAMESPACE,
                deployment_version=WorkerDeploymentVersion(
                    deployment_name=DEPLOYMENT, build_id=build
                ),
            )
        )
    except RPCError:
        return False  # not registered until its first poll
    queues = {q.name for q in desc.worker_deployment_version_info.task_queue_infos}
    return {WORKFLOWS_TASK_QUEUE, task_queue_for("system")} <= queues


def set_current(temporal_env: WorkflowEnvironment, build: str) -> None:
    """What the operator runs once every pool of the new build is up."""
    out = subprocess.run(
        [temporal_cli(), "worker", "deployment", "set-current-version",
         "--deployment-name", DEPLOYMENT, "--build-id", build, "--yes",
         "--address", server_address(temporal_env), "-n", NAMESPACE],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


async def test_a_parked_run_moves_to_the_new_build_in_a_rolling_update(
    temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIZOS_DEPLOYMENT_NAME", DEPLOYMENT)
    monkeypatch.setenv("BIZOS_BUILD_ID", "build-1")
    old = await namespace_client(temporal_env, NAMESPACE)
    async with contextlib.AsyncExitStack() as old_workers:
        for pool in ("workflows", "system"):
            await old_workers.enter_async_context(build_worker(old, pool))
        await eventually(lambda: version_polled(old, "build-1"), what="build-1 polling")
        set_current(temporal_env, "build-1")
        h = await start(old, "hello_approval", {"topic": f"parked {uuid.uuid4().hex[:6]}"})
        await wait_until_waiting(h, "review")  # parked, as runs are for days on approvals

        # the rolling update: build-2's pools start, become current, build-1's stop
        monkeypatch.setenv("BIZOS_BUILD_ID", "build-2")
        new = await namespace_client(temporal_env, NAMESPACE)
        async with build_worker(new, "workflows"), build_worker(new, "system"):
            await eventually(lambda: version_polled(new, "build-2"), what="build-2 polling")
            set_current(temporal_env, "build-2")
            await old_workers.aclose()
            await h.signal("approve", ApprovalSignal(step="review", by="ops"))
            result = await new.get_workflow_handle(h.id, result_type=RunResult).result()
    assert set(result.statuses.values()) == {"succeeded"}

    info = (await h.describe()).raw_description.workflow_execution_info.versioning_info
    assert info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    assert (info.deployment_version.deployment_name, info.deployment_version.build_id) == (
        DEPLOYMENT,
        "build-2",
    )
    # its history records which build completed each workflow task: first 1, then 2
    builds = [
        e.workflow_task_completed_event_attributes.deployment_version.build_id
        for e in (await h.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    assert builds[0] == "build-1" and builds[-1] == "build-2"
    assert builds == sorted(builds)  # never back to the old build
