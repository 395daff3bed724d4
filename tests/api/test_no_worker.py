"""A decision for a run whose workers are all gone answers 503 with Retry-After within the
API's RPC timeout: the API never hangs on a workflow."""

from __future__ import annotations

import time

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from store import Store, StoreSettings
from tests.api.app_support import SPEC_DIRS
from tests.conftest import namespace_client
from tests.support import start, wait_until_waiting
from worker.pools import build_worker
from workflows.registry import load_registry, set_registry


async def test_a_decision_with_no_live_worker_is_503(
    temporal_env: WorkflowEnvironment, tmp_path: object
) -> None:
    set_registry(load_registry(SPEC_DIRS))
    client = await namespace_client(temporal_env, "isolated-plans")
    store = await Store.open(StoreSettings(home=tmp_path))  # type: ignore[arg-type]
    # the migration made tenant `default`
    _, key = await store.create_key("default", "ana@default", "approver")
    async with build_worker(client, "workflows"), build_worker(client, "system"):
        h = await start(client, "approval_flow", {"topic": "no worker"})
        await wait_until_waiting(h, "review")
    # every worker of the namespace has stopped
    app = create_app(ApiSettings(rpc_timeout_s=2), store=store, temporal=client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        started = time.monotonic()
        r = await http.post(
            f"/v1/executions/{h.id}/decisions",
            json={"step": "review", "decision": "approve"},
            headers={"Authorization": f"Bearer {key}"},
        )
        took = time.monotonic() - started
    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
    assert took < 10
    await h.terminate("test over")
    await store.close()
