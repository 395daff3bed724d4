"""A tenant's running cap: executions past it start at once and wait, durably, for a slot
from the tenant's admission workflow; slots free as runs end, in arrival order; restarting
the API and flushing Redis mid-queue lose nothing (the queue lives in Temporal)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from store import Store, StoreSettings
from tests.api.app_support import SPEC_DIRS
from tests.conftest import server_address
from tests.support import eventually
from worker.local_activities import LocalActivities
from worker.plugin import BizosPlugin
from worker.pools import build_worker
from workflows.admission import AdmissionView, admission_id
from workflows.models import Progress
from workflows.registry import load_registry, set_registry


@pytest.fixture(scope="module")
async def capped(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, Store, str]]:
    set_registry(load_registry(SPEC_DIRS))
    client = await Client.connect(
        server_address(temporal_env),
        namespace=temporal_env.client.namespace,
        plugins=[BizosPlugin()],
    )
    store = await Store.open(StoreSettings(home=tmp_path_factory.mktemp("cap-home")))
    await store.create_tenant("capped", name="Capped", max_running=1)
    _, key = await store.create_key("capped", "ops@capped", "operator")
    async with (
        build_worker(client, "workflows", local_activities=LocalActivities(store=store)),
        build_worker(client, "system"),
    ):
        yield client, store, key
    await store.close()


def _api(client: Client, store: Store) -> httpx.AsyncClient:
    """A fresh API process's worth of state: a new app on the same store and Temporal."""
    app = create_app(ApiSettings(), store=store, temporal=client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def _progress(client: Client, wid: str) -> Progress:
    return await client.get_workflow_handle(wid).query("progress", result_type=Progress)


async def test_runs_past_the_cap_wait_in_order_and_survive_an_api_restart(
    capped: tuple[Client, Store, str],
) -> None:
    client, store, key = capped
    auth = {"Authorization": f"Bearer {key}"}
    ids: list[str] = []
    async with _api(client, store) as http:
        for n in range(3):
            r = await http.post(
                "/v1/workflows/approval_flow/execute",
                json={"params": {"topic": f"cap {n}"}},
                headers=auth,
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["execution_id"])
    admission = client.get_workflow_handle(admission_id("capped"))

    async def slots(want_holders: list[str], want_queue: list[str]) -> bool:
        view = await admission.query("slots", result_type=AdmissionView)
        return view.holders == want_holders and view.queue == want_queue

    async def waiting_on_review(wid: str) -> bool:
        return "review" in (await _progress(client, wid)).waiting

    await eventually(lambda: slots([ids[0]], ids[1:]), what="one slot held, two queued")
    await eventually(lambda: waiting_on_review(ids[0]), what="the first run at its approval")
    assert (await _progress(client, ids[1])).waiting_for_slot
    assert (await _progress(client, ids[1])).steps[0].status == "pending"

    # Redis is flushed and the API "restarts": the queue never lived in either.
    flusher = redis.asyncio.Redis(host="127.0.0.1", port=6379)
    await flusher.flushdb()
    await flusher.aclose()
    async with _api(client, store) as http:
        for n, wid in enumerate(ids):
            await eventually(lambda wid=wid: waiting_on_review(wid), what=f"run {n} admitted")
            if n + 1 < len(ids):
                assert (await _progress(client, ids[n + 1])).waiting_for_slot  # order kept
            r = await http.post(
                f"/v1/executions/{wid}/decisions",
                json={"step": "review", "decision": "approve"},
                headers=auth,
            )
            assert r.status_code == 200, r.text  # operators approve too
            await client.get_workflow_handle(wid).result()
    await eventually(lambda: slots([], []), what="every slot given back")


async def test_a_cancelled_queued_run_gives_its_place_back(
    capped: tuple[Client, Store, str],
) -> None:
    client, store, key = capped
    auth = {"Authorization": f"Bearer {key}"}
    async with _api(client, store) as http:
        first = (
            await http.post("/v1/workflows/approval_flow/execute", json={"params": {"topic": "a"}}, headers=auth)
        ).json()["execution_id"]
        second = (
            await http.post("/v1/workflows/approval_flow/execute", json={"params": {"topic": "b"}}, headers=auth)
        ).json()["execution_id"]
        admission = client.get_workflow_handle(admission_id("capped"))

        async def queued() -> Any:
            view = await admission.query("slots", result_type=AdmissionView)
            return view.queue == [second]

        await eventually(queued, what="the second run queued")
        assert (await http.post(f"/v1/executions/{second}/cancel", headers=auth)).status_code == 202

        async def gone() -> Any:
            view = await admission.query("slots", result_type=AdmissionView)
            return view.queue == [] and view.holders == [first]

        await eventually(gone, what="the cancelled run out of the queue")
        await http.post(f"/v1/executions/{first}/cancel", headers=auth)
