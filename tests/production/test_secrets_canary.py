"""The canary test: secrets reach the places that use them and nowhere else.

Canary values are planted in the Vault test double (tests/production/vault_double.py): the
platform's and tenant `acme`'s OpenAI keys and the platform's SEMrush key, read through
AppRole. `content_creation` runs end to end for `acme` and for `globex` on the real Temporal
dev server, with in-process workers on the Vault backend and the store on PostgreSQL. Its SEO
step talks to the OpenAI-compatible test double (tests/agents/openai_double.py), which calls
the `semrush` connector; every other step runs offline. The model double must receive
acme's own key for acme and the platform key for globex, and the connector the SEMrush key:
proof they were read. Then every history, every log record, every OpenTelemetry span and
every column of every table in the store is searched for each canary (and for the AppRole
secret id and the Vault tokens): 0 hits.

Then Vault goes down past the last-known-good cache: the SEO step fails with a retryable
error naming the secret, and the run finishes once Vault is back."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from activities import secrets
from activities.agent_step.runtime import AgentRuntime
from activities.catalog import CATEGORIES
from activities.providers import call_spans
from activities.secrets.configure import install_configured_backend
from activities.secrets.settings import SecretsSettings
from activities.secrets.vault import VaultSecrets
from activities.tools import connectors
from starters.runs import start_run
from store import Store
from store.testing import temporary_pg_schema
from tests.agents.openai_double import OpenAIDouble, default_react
from tests.conftest import server_address
from tests.production.vault_double import FakeClock, VaultDouble
from tests.support import eventually, progress, wait_until_waiting
from worker.local_activities import LocalActivities
from worker.plugin import BizosPlugin
from worker.pools import build_worker
from workflows.models import ApprovalSignal, RunInput, RunResult
from workflows.registry import default_registry

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NAMESPACE = "isolated-secrets"
MARK = uuid.uuid4().hex
PLATFORM_OPENAI = f"sk-canary-platform-{MARK}"
ACME_OPENAI = f"sk-canary-acme-{MARK}"
SEMRUSH = f"canary-semrush-{MARK}"
TOPICS = {"acme": f"acme launch {MARK[:6]}", "globex": f"globex launch {MARK[:6]}"}
SEO_FINAL = {
    "title": "SEO check",
    "summary": "keywords covered; search volume from SEMrush",
    "findings": [{"title": "volume", "detail": "1000 a month", "source": "semrush"}],
}
SEMRUSH_CSV = (
    b"Keyword;Search Volume;CPC;Competition;Number of Results;Trends\nlaunch;1000;1.2;0.5;100;1\n"
)


class KeyRecordingDouble(OpenAIDouble):
    """The OpenAI-compatible test double, also keeping each request's Authorization header
    beside its body (the stock double records bodies only)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        super().__init__()

    def _handler(self) -> Any:
        base = super()._handler()
        double = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)  # type: ignore[has-type]  # (a dynamic base)
                with double._lock:
                    double.seen.append((self.headers.get("authorization", ""), raw.decode()))
                self.rfile = io.BytesIO(raw)  # type: ignore[has-type]  # read again by the base
                super().do_POST()

        return Handler


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the message, its args and any traceback


@dataclass
class Rig:
    client: Client
    vault: VaultDouble
    settings: SecretsSettings
    llm: KeyRecordingDouble
    store: Store
    schema: str
    spans: InMemorySpanExporter
    logs: Captured
    connector_urls: list[str] = field(default_factory=list)
    workflow_ids: set[str] = field(default_factory=set)

    def canaries(self) -> dict[str, str]:
        assert self.settings.vault_secret_id is not None
        found = {
            "platform OpenAI key": PLATFORM_OPENAI,
            "acme's OpenAI key": ACME_OPENAI,
            "SEMrush key": SEMRUSH,
            "AppRole secret id": self.settings.vault_secret_id.get_secret_value(),
        }
        found.update({f"Vault token {t[:8]}…": t for t in self.vault.tokens})
        return found


@contextlib.contextmanager
def captured_logs() -> Iterator[Captured]:
    handler, root = Captured(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # what a deployed worker logs
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="module")
async def rig(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    home = tmp_path_factory.mktemp("canary-home")
    vault = VaultDouble().start()
    vault.put("bizos/platform", {"OPENAI_API_KEY": PLATFORM_OPENAI, "SEMRUSH_API_KEY": SEMRUSH})
    vault.put("bizos/tenants/acme/providers", {"OPENAI_API_KEY": ACME_OPENAI})
    role_id, secret_id = vault.add_approle(ttl_s=3600)
    settings = SecretsSettings.model_validate(
        {
            "backend": "vault",
            "vault_addr": vault.addr,
            "vault_role_id": role_id,
            "vault_secret_id": secret_id,
        }
    )
    llm = KeyRecordingDouble()
    llm.start()
    llm.configure("seo", replier=default_react("semrush", {"phrase": "launch"}, SEO_FINAL))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous_llm_tracer = call_spans._tracer
    call_spans.set_tracer(provider.get_tracer("bizos.llm"))
    urls: list[str] = []

    def semrush_api(req: connectors.PreparedRequest, timeout: float) -> tuple[int, bytes]:
        urls.append(req.url)
        return 200, SEMRUSH_CSV

    previous_transport = connectors.set_transport(semrush_api)
    previous_backend = secrets.get_backend()
    link = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": llm.base_url("seo"),
        "timeout_s": 10,
    }
    env = pytest.MonkeyPatch()
    env.setenv("BIZOS_PROVIDERS", "offline")  # every other agent: the offline policy
    env.setenv("BIZOS_PROVIDERS_SEO_OPTIMIZATION", json.dumps([link]))
    try:
        with captured_logs() as logs:
            install_configured_backend(settings, keep_token_alive=False)  # as a worker does
            async with (
                temporary_pg_schema("bizos_canary") as pg,
                contextlib.AsyncExitStack() as stack,
            ):
                store = await Store.open(pg)
                stack.push_async_callback(store.close)
                runtime = AgentRuntime(threads=4, store=store, home=home)
                await runtime.start()
                stack.push_async_callback(runtime.close)
                client = await Client.connect(
                    server_address(temporal_env),
                    namespace=NAMESPACE,
                    plugins=[BizosPlugin()],
                    interceptors=[TracingInterceptor(provider.get_tracer("temporalio"))],
                )
                await stack.enter_async_context(
                    build_worker(client, "workflows", local_activities=LocalActivities(store=store))
                )
                for pool in CATEGORIES:
                    await stack.enter_async_context(build_worker(client, pool, runtime))
                assert pg.database_schema
                yield Rig(
                    client, vault, settings, llm, store, pg.database_schema, exporter, logs, urls
                )
    finally:
        env.undo()
        secrets.set_backend(previous_backend)
        connectors.set_transport(previous_transport)
        call_spans.set_tracer(previous_llm_tracer)
        llm.stop()
        vault.stop()


async def run_content_creation(rig: Rig, tenant: str) -> RunResult:
    h = await start_content_creation(rig, tenant)
    await approve_review(h)
    result = await h.result()
    assert isinstance(result, RunResult)
    return result


async def approve_review(h: WorkflowHandle[Any, Any]) -> None:
    """Approve what the reviewer was shown (the signal carries its digest)."""
    waiting = await wait_until_waiting(h, "review")
    review = next(s for s in waiting.steps if s.id == "review")
    await h.signal("approve", ApprovalSignal(step="review", by="editor", digest=review.digest))


async def start_content_creation(rig: Rig, tenant: str) -> WorkflowHandle[Any, Any]:
    dag = default_registry().by_name("content_creation")
    topic = TOPICS[tenant]
    params = {
        **(dag.spec.example or {}),
        "topic": topic,
        "keywords": [topic],
        "channels": ["newsletter"],
    }
    h = await start_run(
        rig.client, dag, RunInput(params=params, tenant=tenant), key=uuid.uuid4().hex[:12]
    )
    rig.workflow_ids.add(h.id)
    return h


async def test_canary_secrets_are_used_and_appear_in_no_history_log_span_or_table(rig: Rig) -> None:
    acme, globex = await asyncio.gather(
        run_content_creation(rig, "acme"), run_content_creation(rig, "globex")
    )
    for result in (acme, globex):
        # `creatives` is skipped by its `when` (no social channel); everything else ran
        assert set(result.statuses.values()) == {"succeeded", "skipped"}, result.statuses
        assert result.statuses["seo"] == "succeeded"
        assert result.outputs["seo"]["findings"][0]["source"] == "semrush"

    # Used: each tenant's model calls carried its key; the connector got the SEMrush key.
    by_tenant = {
        tenant: {auth for auth, body in rig.llm.seen if topic in body}
        for tenant, topic in TOPICS.items()
    }
    assert by_tenant == {"acme": {f"Bearer {ACME_OPENAI}"}, "globex": {f"Bearer {PLATFORM_OPENAI}"}}
    assert len(rig.connector_urls) >= 2 and all(f"key={SEMRUSH}" in u for u in rig.connector_urls)

    # Nowhere else.
    places = {
        "histories": await histories(rig),
        "logs": "\n".join(rig.logs.lines),
        "spans": "\n".join(s.to_json() for s in rig.spans.get_finished_spans()),
        "tables": await table_text(rig),
    }
    # positive controls: each place holds what the runs put there, so the search can find
    assert TOPICS["acme"] in places["histories"] and "gpt-4o-mini" in places["tables"]
    assert "run_agent" in places["spans"] and "seo_optimization/content_seo" in places["logs"]
    hits = [
        f"{what} in {where}"
        for what, value in rig.canaries().items()
        for where, content in places.items()
        if value in content
    ]
    assert hits == []


async def test_vault_down_past_the_cache_holds_the_step_until_it_is_back(
    rig: Rig,
) -> None:
    clock = FakeClock()
    settings = rig.settings.model_copy(update={"cache_seconds": 60.0, "refresh_seconds": 0.0})
    backend = VaultSecrets(settings, clock=clock)
    previous = secrets.set_backend(backend)
    try:
        assert secrets.get_secret("OPENAI_API_KEY", tenant="acme")  # read while Vault was up
        rig.vault.down()
        clock.advance(61)  # the last-known-good value is too old to use
        h = await start_content_creation(rig, "acme")

        async def wait_logged() -> str | None:
            # what an operator sees in the worker's log: the step waits for Vault (inside
            # its attempt, heartbeating) instead of spending its retries
            return next((x for x in rig.logs.lines if "step waits for Vault" in x), None)

        line = await eventually(wait_logged, timeout_s=30, what="the SEO step waiting")
        assert "secret OPENAI_API_KEY: Vault at" in line and "is unreachable" in line
        rig.vault.up()  # back: the waiting step reads the key
        await approve_review(h)
        result = await h.result()
        assert result.statuses["seo"] == "succeeded" and result.statuses["promote"] == "succeeded"
        # the outage spent none of the step's attempts: its first one read the key
        seo = next(s for s in (await progress(h)).steps if s.id == "seo")
        assert seo.attempts == 1
    finally:
        secrets.set_backend(previous)
        if rig.vault._server is None:  # a failed assertion must not leave Vault down
            rig.vault.up()
    assert ACME_OPENAI not in line


async def histories(rig: Rig) -> str:
    """Every history of the namespace as JSON, plus its payloads decoded (JSON histories
    carry payload data base64-encoded)."""
    ids = set(rig.workflow_ids)
    async for wf in rig.client.list_workflows():
        ids.add(wf.id)
    assert rig.workflow_ids <= ids
    parts = []
    for wf_id in sorted(ids):
        history = await rig.client.get_workflow_handle(wf_id).fetch_history()
        as_json = history.to_json()
        parts.append(as_json)
        parts.extend(_decoded(json.loads(as_json)))
    return "\n".join(parts)


def _decoded(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                with contextlib.suppress(binascii.Error, ValueError):
                    yield base64.b64decode(value, validate=True).decode("utf-8", "replace")
            else:
                yield from _decoded(value)
    elif isinstance(node, list):
        for item in node:
            yield from _decoded(item)


async def table_text(rig: Rig) -> str:
    """Every value of every column of every table in the store's schema, as text."""
    out: list[str] = []
    async with rig.store.engine.connect() as conn:
        tables = (
            (
                await conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                    ),
                    {"s": rig.schema},
                )
            )
            .scalars()
            .all()
        )
        assert len(tables) > 5
        for table in tables:
            rows = await conn.execute(text(f'SELECT * FROM "{rig.schema}"."{table}"'))
            for row in rows:
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        out.append(bytes(value).decode("utf-8", "replace"))
                    elif value is not None:
                        out.append(str(value))
    return "\n".join(out)
