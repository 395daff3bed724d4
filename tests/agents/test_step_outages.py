"""A step rides out a dependency outage inside its attempt (`activities.agent_step.outages`):
with Vault (the test double) or PostgreSQL (behind a proxy this test can cut) down, a step
allowed ONE attempt waits, heartbeating why, and completes once the dependency is back; the
wait is bounded, cancellable, and the ledger holds each answered call once. Which errors
count as outages is checked on its own first.

The outages are conditions the tests wait on (a heartbeat saying "waiting for …"), never
sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities import secrets
from activities.agent_step.activity import build_agent_activities
from activities.agent_step.errors import AgentInputInvalid, ToolsFailed, to_application_error
from activities.agent_step.outages import Outage, OutageWaits, dependency_wait_s, outage_of
from activities.agent_step.runtime import AgentRuntime
from activities.catalog import AgentCatalog, load_catalog
from activities.contract import AgentStepInput
from activities.providers.errors import ProviderFailure, ProvidersExhausted
from activities.providers.step_context import StepBudgetExceeded
from activities.secrets import SecretsUnavailable
from activities.secrets.settings import SecretsSettings
from activities.secrets.vault import VaultSecrets
from activities.tools.registry import TOOLS, ToolInput, ToolOutput, tool
from store import Store, StoreSettings
from tests.agents.openai_double import OpenAIDouble, default_react
from tests.agents.probe_workflow import AgentProbeWorkflow, ProbeInput
from tests.production.vault_double import VaultDouble
from tests.support import eventually

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOOL = "outage_lookup"
AGENT = f"""
id: outage_probe
name: Outage probe
category: intelligence
description: Test agent for dependency outages.
role: Probe analyst
goal: Answer with one lookup
backstory: Exists for tests.
tools: [{TOOL}]
providers: ["openai_compatible:unused@http://127.0.0.1:9/v1"]
tones: {{plain: "Plain words."}}
modes:
  lookup:
    output: report
    task: "Look up {{topic}}."
    offline_plan: [{{tool: {TOOL}}}]
  choose:
    output: decision
    task: "Choose for {{topic}}."
    offline_plan: [{{tool: {TOOL}}}]
  tabulate:
    output: table
    task: "Tabulate {{topic}}."
    offline_plan: [{{tool: {TOOL}}}]
  write:
    output: creative
    task: "Write about {{topic}}."
    offline_plan: [{{tool: {TOOL}}}]
"""
FINAL = {
    "title": "Probe: widgets",
    "summary": "found widgets",
    "findings": [{"title": "lookup", "detail": "ok", "source": TOOL}],
}


class LookupInput(ToolInput):
    topic: str = ""


class LookupOutput(ToolOutput):
    pass


if TOOL not in TOOLS:

    @tool(TOOL, "Look a topic up (test tool).")
    def outage_lookup(inp: LookupInput) -> LookupOutput:
        return LookupOutput(headline=f"looked up {inp.topic}")


# -- which errors are outages ---------------------------------------------------------------


def _raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    """``exc`` as a step sees it: raised (a traceback), from ``cause``."""
    try:
        raise exc from cause
    except BaseException as caught:
        return caught


def _wrapped(exc: BaseException) -> ApplicationError:
    """What `_run_crew_step` raises for ``exc``."""
    return _raised(to_application_error(exc, "agent a, mode m, step s"), exc)  # type: ignore[return-value]


def test_outages_are_told_from_the_steps_own_failures() -> None:
    vault = SecretsUnavailable("OPENAI_API_KEY", "Vault at http://v is unreachable (refused)")
    assert outage_of(vault) == Outage("Vault", str(vault))
    assert outage_of(_wrapped(vault)) == Outage("Vault", str(vault))
    assert outage_of(_wrapped(vault)).phase.startswith("waiting for Vault: secret OPENAI")  # type: ignore[union-attr]

    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    database_down: list[BaseException] = [
        PoolTimeout("QueuePool limit of size 5 overflow 10 reached"),
        OperationalError("SELECT 1", {}, Exception("unable to open database file")),
        DBAPIError("SELECT 1", {}, _raised(Exception("adapter"), refused)),
        DBAPIError("SELECT 1", {}, Exception("closed"), connection_invalidated=True),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("connection is closed"),
    ]
    for exc in database_down:
        found = outage_of(_wrapped(exc))
        assert found is not None and found.dependency == "the database", exc

    not_outages: list[BaseException] = [
        AgentInputInvalid("agent 'x' has no mode 'y'"),
        ToolsFailed("lookup failed", retryable=True),
        StepBudgetExceeded("the step's budget is spent"),
        ProvidersExhausted([ProviderFailure("openai:m", "server_error", 500, "boom")]),
        # an outage in the causes of the step's own failure does not make it one
        _raised(ProvidersExhausted([]), vault),
        _raised(ToolsFailed("crm failed", retryable=True), vault),
        ValueError("bad"),
        TimeoutError(),  # from anywhere: not the database's
        refused,  # not raised by the database driver: a provider's or a tool's socket
        DBAPIError("INSERT", {}, Exception("duplicate key value")),  # the database answered
        asyncio.CancelledError(),
    ]
    for exc in not_outages:
        assert outage_of(exc) is None, exc
        assert outage_of(_wrapped(exc)) is None, exc
    # non-retryable wrapper: decisive whatever its cause
    assert outage_of(_raised(ApplicationError("x", non_retryable=True), vault)) is None


def test_the_wait_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIZOS_STEP_DEPENDENCY_WAIT_S", raising=False)
    assert dependency_wait_s() == 300
    for raw, expected in [("12.5", 12.5), ("0", 0.0), ("x", 300), ("-1", 300), ("nan", 300)]:
        monkeypatch.setenv("BIZOS_STEP_DEPENDENCY_WAIT_S", raw)
        assert dependency_wait_s() == expected, raw


async def test_waits_back_off_within_their_bound_and_say_why() -> None:
    progress: dict[str, Any] = {"phase": "agent loop"}
    now = [0.0]
    told: list[dict[str, Any]] = []
    waits = OutageWaits(
        progress,
        budget_s=1.0,
        clock=lambda: now[0],
        first_delay_s=0.001,
        max_delay_s=0.004,
        on_wait=lambda _, details: told.append(details),
    )
    outage = Outage("Vault", "secret K: unreachable")
    assert await waits.wait(outage)
    assert progress["phase"] == "waiting for Vault: secret K: unreachable"
    assert progress["outage"]["dependency"] == "Vault" and progress["outage"]["waits"] == 1
    now[0] = 0.99
    assert await waits.wait(outage)
    now[0] = 1.0  # the bound is from the first outage of the attempt
    assert not await waits.wait(outage)
    assert [d["waits"] for d in told] == [1, 2]  # giving up is not a wait
    # a deadline (the attempt's start-to-close, less a margin) comes first when sooner
    soon = OutageWaits({}, budget_s=300, deadline=0.5, clock=lambda: now[0] - 1.0)
    assert await soon.wait(outage) is True
    now[0] = 1.5
    assert await soon.wait(outage) is False
    assert await OutageWaits({}, budget_s=0).wait(outage) is False  # 0: off


# -- a step on the real server --------------------------------------------------------------


class PgProxy:
    """A TCP proxy in front of PostgreSQL that can be cut: `down()` closes the listener and
    resets every connection through it (the database is unreachable: refused, reset), `up()`
    listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> PgProxy:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()
                self._open.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@dataclass
class Rig:
    client: Client
    double: OpenAIDouble
    runtime: AgentRuntime
    store: Store
    queue: str

    def step(self) -> AgentStepInput:
        return AgentStepInput(
            workflow_id=f"wf-{uuid.uuid4().hex[:8]}",
            run_id="r1",
            template="outage",
            step_id="s1",
            agent="outage_probe",
            mode="lookup",
            inputs={"topic": "widgets"},
        )

    async def start(self, step: AgentStepInput) -> WorkflowHandle:
        return await self.client.start_workflow(
            AgentProbeWorkflow.run,
            ProbeInput(
                task_queue=self.queue,
                steps=[step],
                max_attempts=1,  # one attempt: only the wait inside it can ride an outage
                heartbeat_timeout_s=1.5,  # details reach the server every ~1.2 s
                start_to_close_s=90,
            ),
            id=f"probe-{uuid.uuid4().hex[:10]}",
            task_queue=self.queue,
        )


def _catalog(home: Path) -> AgentCatalog:
    (home / "outage_probe.yaml").write_text(AGENT)
    return load_catalog(home)


@contextlib.asynccontextmanager
async def _rig(
    client: Client, double: OpenAIDouble, store: Store, home: Path
) -> AsyncIterator[Rig]:
    runtime = AgentRuntime(
        threads=2, store=store, catalog=_catalog(home), home=home, heartbeat_every_s=0.2
    )
    await runtime.start()
    queue = f"agents-outage-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[AgentProbeWorkflow],
        activities=build_agent_activities(runtime),
        max_concurrent_activities=4,
    ):
        yield Rig(client, double, runtime, store, queue)
    await runtime.close()


def _use_model(monkeypatch: pytest.MonkeyPatch, double: OpenAIDouble, endpoint: str) -> None:
    """The agent's one provider is "openai" (its key is a secret: read from Vault) on the
    model double."""
    link = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": double.base_url(endpoint),
        "price_in_per_mtok": 2.5,
        "price_out_per_mtok": 10.0,
        "timeout_s": 5,
    }
    monkeypatch.setenv("BIZOS_PROVIDERS_OUTAGE_PROBE", json.dumps([link]))
    double.configure(endpoint, replier=default_react(TOOL, {"topic": "widgets"}, FINAL))


@pytest.fixture
def vault() -> Iterator[VaultDouble]:
    """Vault (the double) installed as the worker's secrets backend with NO last-known-good
    cache: every read asks it, so an outage is felt at once."""
    double = VaultDouble().start()
    double.put("bizos/platform", {"OPENAI_API_KEY": "outage-openai-key"})
    settings = SecretsSettings.model_validate(
        {
            "backend": "vault",
            "vault_addr": double.addr,
            "vault_token": double.add_token(0),
            "cache_seconds": 0,
            "refresh_seconds": 0,
            "timeout_seconds": 2,
        }
    )
    previous = secrets.set_backend(VaultSecrets(settings))
    try:
        yield double
    finally:
        secrets.set_backend(previous)
        double.stop()


@pytest.fixture(scope="module")
async def sqlite_rig(
    temporal_client: Client, openai_double: OpenAIDouble, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    home = tmp_path_factory.mktemp("outage-sqlite")
    store = await Store.open(StoreSettings(home=home))
    async with _rig(temporal_client, openai_double, store, home) as rig:
        yield rig
    await store.close()


async def _heartbeat(handle: WorkflowHandle, client: Client) -> dict[str, Any]:
    """The latest heartbeat details of the probe's running step ({} before the first)."""
    for pending in (await handle.describe()).raw_description.pending_activities:
        if pending.heartbeat_details.payloads:
            [details] = await client.data_converter.decode(pending.heartbeat_details.payloads)
            return details if isinstance(details, dict) else {}
    return {}


async def _waiting(handle: WorkflowHandle, client: Client, dependency: str) -> dict[str, Any]:
    async def seen() -> dict[str, Any] | None:
        beat = await _heartbeat(handle, client)
        outage = beat.get("outage") or {}
        phase = str(beat.get("phase", ""))
        # waited at least twice: past the first failure, which alone would fail the run
        if phase.startswith(f"waiting for {dependency}") and outage.get("waits", 0) >= 2:
            return beat
        return None

    return await eventually(seen, timeout_s=30, what=f"a heartbeat waiting for {dependency}")


async def _ledger_once(store: Store, wf: str, answered: int) -> None:
    rows = await store.ledger_entries(wf)
    billed = [r for r in rows if r.kind == "billed"]
    assert len(billed) == answered, [(r.kind, r.attempt, r.call_index) for r in rows]
    keys = [(r.step_key, r.attempt, r.call_index, r.request_hash) for r in rows]
    assert len(keys) == len(set(keys)), keys


async def test_a_step_rides_a_vault_outage_longer_than_its_attempts(
    sqlite_rig: Rig, vault: VaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = sqlite_rig
    _use_model(monkeypatch, rig.double, "vault-ride")
    step = rig.step()
    vault.down()
    try:
        handle = await rig.start(step)
        beat = await _waiting(handle, rig.client, "Vault")
        assert "OPENAI_API_KEY" in beat["phase"] and "unreachable" in beat["phase"]
        assert rig.double.calls("vault-ride") == []  # no model call without its key
    finally:
        vault.up()
    [outcome] = (await handle.result()).outcomes
    assert outcome.failure is None, outcome.failure
    assert outcome.result is not None and outcome.result.attempt == 1
    answered = len(rig.double.calls("vault-ride"))
    assert answered == 2  # the tool call, then the final answer
    await _ledger_once(rig.store, step.workflow_id, answered)
    events = await rig.store.list_activity_events(step.workflow_id)
    kinds = [e.kind for e in events]
    assert "step_waiting" in kinds and kinds[-1] == "step_finished", kinds


async def test_past_the_bound_the_outage_fails_the_attempt_as_before(
    sqlite_rig: Rig, vault: VaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = sqlite_rig
    _use_model(monkeypatch, rig.double, "vault-bound")
    monkeypatch.setenv("BIZOS_STEP_DEPENDENCY_WAIT_S", "1")
    vault.down()
    began = time.monotonic()
    [outcome] = (await (await rig.start(rig.step())).result()).outcomes
    took = time.monotonic() - began
    failure = outcome.failure
    assert failure is not None and not failure.non_retryable  # retryable, as before
    assert failure.type == "AgentStepError.SecretsUnavailable", failure
    assert "OPENAI_API_KEY" in failure.message
    assert 1.0 <= took < 20, took


async def test_cancelling_a_waiting_step_stops_it_at_once(
    sqlite_rig: Rig, vault: VaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = sqlite_rig
    _use_model(monkeypatch, rig.double, "vault-cancel")
    step = rig.step()
    vault.down()
    handle = await rig.start(step)
    await _waiting(handle, rig.client, "Vault")  # the wait's bound is 300 s
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    async def stopped() -> bool:  # the activity saw its cancellation and left the wait
        events = await rig.store.list_activity_events(step.workflow_id)
        return any(
            e.kind == "step_failed" and e.payload.get("error") == "cancelled" for e in events
        )

    await eventually(stopped, timeout_s=10, what="the waiting step to stop on cancellation")
    assert rig.double.calls("vault-cancel") == []


@dataclass
class PgRig:
    rig: Rig
    proxy: PgProxy


@pytest.fixture(scope="module")
async def pg_rig(
    temporal_client: Client,
    openai_double: OpenAIDouble,
    pg_settings: StoreSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[PgRig]:
    """A worker whose store reaches PostgreSQL through a `PgProxy`."""
    from sqlalchemy.engine import make_url

    assert pg_settings.database_url is not None
    url = make_url(pg_settings.database_url)
    proxy = await PgProxy(url.host or "127.0.0.1", url.port or 5432).up()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    store = await Store.open(pg_settings.model_copy(update={"database_url": proxied}))
    home = tmp_path_factory.mktemp("outage-pg")
    try:
        async with _rig(temporal_client, openai_double, store, home) as rig:
            yield PgRig(rig, proxy)
    finally:
        await store.close()
        await proxy.down()


def _use_keyless_model(
    monkeypatch: pytest.MonkeyPatch, double: OpenAIDouble, endpoint: str
) -> None:
    """The model double as an OpenAI-compatible server (no key: no secrets read)."""
    link = {
        "provider": "openai_compatible",
        "model": f"model-{endpoint}",
        "base_url": double.base_url(endpoint),
        "price_in_per_mtok": 2.5,
        "price_out_per_mtok": 10.0,
        "timeout_s": 5,
    }
    monkeypatch.setenv("BIZOS_PROVIDERS_OUTAGE_PROBE", json.dumps([link]))


async def _pool_matches_ledger(store: Store, pool: str, wf: str) -> None:
    totals = await store.pool_totals(pool)
    rows = await store.ledger_entries(wf)
    assert totals.reserved_nanos == 0, totals
    assert totals.spent_nanos == sum(r.usd_nanos for r in rows) > 0, (totals, rows)


async def test_a_step_rides_a_postgres_outage(
    pg_rig: PgRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL unreachable (its connections reset, new ones refused) when the step begins:
    the step waits for the database inside its one attempt, then completes."""
    rig, proxy = pg_rig.rig, pg_rig.proxy
    _use_keyless_model(monkeypatch, rig.double, "pg-ride")
    rig.double.configure("pg-ride", replier=default_react(TOOL, {"topic": "widgets"}, FINAL))
    step = rig.step()
    pool = f"{step.workflow_id}/r1"
    step = step.model_copy(update={"budget_pool": pool, "budget_cap_usd": 5.0})
    await proxy.down()
    try:
        handle = await rig.start(step)
        await _waiting(handle, rig.client, "the database")
    finally:
        await proxy.up()
    [outcome] = (await handle.result()).outcomes
    assert outcome.failure is None, outcome.failure
    assert outcome.result is not None and outcome.result.attempt == 1
    answered = len(rig.double.calls("pg-ride"))
    assert answered == 2
    await _ledger_once(rig.store, step.workflow_id, answered)
    await _pool_matches_ledger(rig.store, pool, step.workflow_id)


async def test_a_database_outage_mid_step_reruns_it_reusing_paid_calls(
    pg_rig: PgRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL goes while the step's second model call is in flight: the answer cannot be
    journalled, the step waits, then runs its body again in the same attempt — the first
    call comes from the journal (no second ledger row for it), the second is asked again —
    and the run's pool ends settled to exactly the ledger."""
    rig, proxy = pg_rig.rig, pg_rig.proxy
    _use_keyless_model(monkeypatch, rig.double, "pg-mid")
    react = default_react(TOOL, {"topic": "widgets"}, FINAL)
    in_flight, release = threading.Event(), threading.Event()

    def replier(req: Any) -> str:
        if any(m.get("role") == "assistant" for m in req.messages) and not release.is_set():
            in_flight.set()
            release.wait(30)
        return react(req)

    rig.double.configure("pg-mid", replier=replier)
    step = rig.step()
    pool = f"{step.workflow_id}/r1"
    step = step.model_copy(update={"budget_pool": pool, "budget_cap_usd": 5.0})
    handle = await rig.start(step)
    try:
        await eventually(_set(in_flight), what="the second model call in flight")
        await proxy.down()
        release.set()  # answered, but the journal cannot take it
        await _waiting(handle, rig.client, "the database")
    finally:
        release.set()
        await proxy.up()
    [outcome] = (await handle.result()).outcomes
    assert outcome.failure is None, outcome.failure
    assert outcome.result is not None and outcome.result.attempt == 1
    assert outcome.result.reused_calls == 1  # the first call, from the journal
    assert len(rig.double.calls("pg-mid")) == 3  # the second call's answer was lost once
    rows = await rig.store.ledger_entries(step.workflow_id)
    assert [(r.kind, r.attempt) for r in rows] == [("billed", 1), ("billed", 1)], rows
    await _ledger_once(rig.store, step.workflow_id, 2)
    await _pool_matches_ledger(rig.store, pool, step.workflow_id)


def _set(event: threading.Event) -> Any:
    async def check() -> bool:
        return event.is_set()

    return check


async def test_the_step_attempt_counts_earlier_schedulings() -> None:
    """A step re-scheduled after its worker was lost carries ``attempt_base``: its journal,
    ledger and live-event keys use base + Temporal's attempt."""
    from temporalio.testing import ActivityEnvironment

    from activities.agent_step.keys import step_attempt

    step = AgentStepInput(
        workflow_id="wf", run_id="r1", template="t", step_id="s1", agent="noop", mode="echo"
    )
    env = ActivityEnvironment()
    assert env.run(step_attempt, step) == 1
    if "attempt_base" in AgentStepInput.model_fields:
        assert env.run(step_attempt, step.model_copy(update={"attempt_base": 3})) == 4
