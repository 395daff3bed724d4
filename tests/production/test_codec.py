"""Payload encryption end to end on the session's dev server (namespace `isolated-codec`):
runs of the `hello_approval` template with in-process workers whose client comes from
`connect()` with BIZOS_PAYLOAD_KEYS set, read back raw by a client without the codec; the
codec endpoints (API route, `bizos codec-server` used by the real `temporal` CLI) decode them;
a run started under one key finishes after the active key moved to another."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.message import Message
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from starters.runs import start_run
from store import Store, StoreSettings
from tests.conftest import server_address
from tests.support import eventually, start, wait_until_waiting
from worker.binaries import temporal_cli
from worker.codec import (
    AesGcmCodec,
    PayloadDecryptError,
    PayloadKeyError,
    PayloadKeySettings,
    UnknownPayloadKey,
    load_codec,
    new_key,
)
from worker.connection import connect
from worker.plugin import BizosPlugin
from worker.pools import build_worker
from workflows.models import ApprovalSignal, RunInput, RunResult
from workflows.registry import load_registry

NAMESPACE = "isolated-codec"
REPO = Path(__file__).resolve().parents[2]
KEY_A, KEY_B = new_key(), new_key()
# Marker details the SDK core writes itself, never through the codec: a patch's id, a local
# activity's type, attempt and times (its result is under `result`, sealed).
BOOKKEEPING = (".details[patch-data]", ".details[data]")


@dataclass
class EncryptedRun:
    workflow_id: str
    canaries: list[str]
    events: list[HistoryEvent]
    result: RunResult


def walk_payloads(msg: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload inside a protobuf message, with the field path that leads to it."""
    if isinstance(msg, Payload):
        yield path, msg
        return
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        where = f"{path}.{fd.name}"
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type:
                for key, item in value.items():
                    yield from walk_payloads(item, f"{where}[{key}]")
            continue
        for item in value if fd.is_repeated else [value]:
            yield from walk_payloads(item, where)


def env_for(temporal_env: WorkflowEnvironment, keys: str) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": server_address(temporal_env),
        "TEMPORAL_NAMESPACE": NAMESPACE,
        "BIZOS_PAYLOAD_KEYS": keys,
    }


@asynccontextmanager
async def connected(temporal_env: WorkflowEnvironment, keys: str) -> AsyncIterator[Client]:
    """A client from `connect()` under these keys, with the workflow and noop pools running."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("TEMPORAL_API_KEY", "TEMPORAL_PROFILE", "BIZOS_PAYLOAD_ACTIVE_KEY"):
            mp.delenv(name, raising=False)
        for name, value in env_for(temporal_env, keys).items():
            mp.setenv(name, value)
        client = await connect()
    async with build_worker(client, "workflows"), build_worker(client, "system"):
        yield client


async def raw_client(temporal_env: WorkflowEnvironment) -> Client:
    """What the server (and anyone reading its database) holds: no codec."""
    return await Client.connect(server_address(temporal_env), namespace=NAMESPACE)


async def raw_events(temporal_env: WorkflowEnvironment, workflow_id: str) -> list[HistoryEvent]:
    client = await raw_client(temporal_env)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return list(history.events)


@pytest.fixture(scope="module")
async def encrypted_run(temporal_env: WorkflowEnvironment) -> EncryptedRun:
    """One `hello_approval` run to its end under key `a`, with distinctive strings in its
    params (hence in every step's output) and in the approval's comment."""
    tag = uuid.uuid4().hex[:10]
    topic, channel, comment = f"TOPIC-{tag}", f"CHANNEL-{tag}", f"COMMENT-{tag}"
    async with connected(temporal_env, f"a:{KEY_A}") as client:
        h = await start(client, "hello_approval", {"topic": topic, "channels": [channel]})
        await wait_until_waiting(h, "review")
        await h.signal("approve", ApprovalSignal(step="review", by="editor", comment=comment))
        result = await h.result()
    assert isinstance(result, RunResult)
    events = await raw_events(temporal_env, h.id)
    return EncryptedRun(h.id, [topic, channel, comment], events, result)


async def test_histories_hold_no_plaintext(encrypted_run: EncryptedRun) -> None:
    r = encrypted_run.result
    topic, channel, comment = encrypted_run.canaries
    # the run itself saw the plaintext: its output (the publish step's) carries the topic
    # (in the draft's title) and the channel
    assert set(r.statuses.values()) == {"succeeded"}
    assert topic in json.dumps(r.outputs) and channel in json.dumps(r.outputs)
    assert r.approvals["review"].comment == comment
    # ...the server holds none of it, in any event, payload or failure
    raw = b"".join(e.SerializeToString() for e in encrypted_run.events)
    for canary in encrypted_run.canaries:
        assert canary.encode() not in raw
    # every payload is sealed with key `a`, except what the server must read (search
    # attributes), headers (trace context) and the SDK's own bookkeeping in markers (patch
    # ids; a local activity's type, attempt and times — its result is sealed)
    found = [
        (where, p)
        for e in encrypted_run.events
        for where, p in walk_payloads(e)
        if not any(x in where for x in (".search_attributes", ".header", *BOOKKEEPING))
    ]
    assert len(found) >= 8  # input, signal, activities, local activities, result, memo
    plain = [w for w, p in found if p.metadata.get("encoding") != b"binary/encrypted"]
    assert plain == []
    assert {p.metadata["encryption-key-id"] for _, p in found} == {b"a"}


def payload_json(p: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        "data": base64.b64encode(p.data).decode(),
    }


def decoded_text(body: dict[str, Any]) -> str:
    return " ".join(base64.b64decode(p.get("data", "")).decode() for p in body["payloads"])


def sealed_payloads(run: EncryptedRun) -> list[dict[str, Any]]:
    return [
        payload_json(p)
        for e in run.events
        for where, p in walk_payloads(e)
        if p.metadata.get("encoding") == b"binary/encrypted"
    ]


FAILING_SPEC = """
name: quoting_failure
version: 1
description: A step whose error quotes its input (test template on the noop agent)
params:
  reason: {type: string, required: true}
steps:
  - id: breaks
    agent: noop
    mode: echo
    with: {fail: "${params.reason}"}
    on_error: continue
"""


async def test_an_error_that_quotes_an_input_is_sealed_too(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "quoting_failure.yaml").write_text(FAILING_SPEC)
    dag = load_registry([tmp_path]).by_name("quoting_failure")  # the run carries its plan
    reason = f"cannot ship to REASON-{uuid.uuid4().hex[:8]}"
    async with connected(temporal_env, f"a:{KEY_A}") as client:
        h = await start_run(client, dag, RunInput(params={"reason": reason}), key=uuid.uuid4().hex)
        result = await h.result()
    assert result.statuses["breaks"] == "failed" and reason in result.errors["breaks"]
    events = await raw_events(temporal_env, h.id)
    failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    assert (
        failed
        and failed[0].activity_task_failed_event_attributes.failure.message == "Encoded failure"
    )
    assert reason.encode() not in b"".join(e.SerializeToString() for e in events)


async def test_the_api_codec_route_decodes_for_operators(
    encrypted_run: EncryptedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIZOS_PAYLOAD_KEYS", f"a:{KEY_A},b:{KEY_B}")
    store = await Store.open(StoreSettings(home=tmp_path))
    try:
        await store.create_tenant("acme", name="Acme")
        keys = {
            role: (await store.create_key("acme", f"{role}@acme", role))[1]
            for role in ("operator", "viewer")
        }
        app = create_app(ApiSettings(), store=store, temporal=object())
        body = {"payloads": sealed_payloads(encrypted_run)}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as http:
            as_operator = {"Authorization": f"Bearer {keys['operator']}", "X-Namespace": NAMESPACE}
            resp = await http.post("/v1/codec/decode", json=body, headers=as_operator)
            assert resp.status_code == 200, resp.text
            text = decoded_text(resp.json())
            assert all(canary in text for canary in encrypted_run.canaries)
            # encode seals with the newest key; decode opens it again
            sealed = await http.post("/v1/codec/encode", json=resp.json(), headers=as_operator)
            assert {
                base64.b64decode(p["metadata"]["encryption-key-id"])
                for p in sealed.json()["payloads"]
            } == {b"b"}
            again = await http.post("/v1/codec/decode", json=sealed.json(), headers=as_operator)
            assert again.json() == resp.json()
            # viewers and strangers see nothing
            viewer = {"Authorization": f"Bearer {keys['viewer']}"}
            assert (
                await http.post("/v1/codec/decode", json=body, headers=viewer)
            ).status_code == 403
            assert (await http.post("/v1/codec/decode", json=body)).status_code == 401
            # a payload under a key this server does not know: the problem names the id
            foreign = AesGcmCodec({"retired-2024": bytes(32)}, "retired-2024")
            stray = payload_json((await foreign.encode([Payload(data=b"x")]))[0])
            resp = await http.post(
                "/v1/codec/decode", json={"payloads": [stray]}, headers=as_operator
            )
            assert resp.status_code == 422
            assert "'retired-2024'" in resp.json()["detail"]
        # an API without keys says what is missing
        monkeypatch.delenv("BIZOS_PAYLOAD_KEYS")
        bare = create_app(ApiSettings(), store=store, temporal=object())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bare), base_url="http://api"
        ) as http:
            resp = await http.post("/v1/codec/decode", json=body, headers=as_operator)
            assert resp.status_code == 404 and "set BIZOS_PAYLOAD_KEYS" in resp.json()["detail"]
    finally:
        await store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_codec_server(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BIZOS_")}
    environ |= {"BIZOS_PAYLOAD_KEYS": f"a:{KEY_A}", "BIZOS_CODEC_AUTH_TOKEN": "t0ken"}
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "starters.cli", "codec-server", "--port", str(port)],
            env=environ,
            cwd=log_path.parent,  # not the checkout: no .env of a developer
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def codec_server(tmp_path: Path) -> AsyncIterator[str]:
    """`bizos codec-server` as operators run it, with a bearer token; its URL once it answers."""
    port, log_path = free_port(), tmp_path / "codec-server.log"
    proc = spawn_codec_server(port, log_path)
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        assert proc.poll() is None, f"bizos codec-server exited: {log_path.read_text()}"
        try:
            async with httpx.AsyncClient(base_url=url) as http:
                return (await http.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(up, timeout_s=20, what="bizos codec-server listening")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_the_temporal_cli_shows_decrypted_history_through_bizos_codec_server(
    encrypted_run: EncryptedRun, temporal_env: WorkflowEnvironment, codec_server: str
) -> None:
    async with httpx.AsyncClient(base_url=codec_server) as http:
        # the Web UI's CORS preflight, from the dev server's UI origin and from elsewhere
        ui = {"Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST"}
        pre = await http.options("/decode", headers=ui)
        assert pre.headers["access-control-allow-origin"] == "http://localhost:8233"
        assert "x-namespace" in pre.headers["access-control-allow-headers"].lower()
        other = await http.options("/decode", headers={**ui, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        assert (await http.post("/decode", json={"payloads": []})).status_code == 401

    def show(*codec: str) -> str:
        """The history as `temporal workflow show -o json` prints it, payload data unwrapped."""
        out = subprocess.run(
            [temporal_cli(), "workflow", "show", "-w", encrypted_run.workflow_id, "-o", "json",
             "--address", server_address(temporal_env), "-n", NAMESPACE, *codec],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return " ".join(payload_data(json.loads(out.stdout)))

    assert not any(c in show() for c in encrypted_run.canaries)
    shown = show("--codec-endpoint", codec_server, "--codec-auth", "Bearer t0ken")
    assert all(canary in shown for canary in encrypted_run.canaries)


def payload_data(node: Any) -> Iterator[str]:
    """The data of every payload in a proto3-JSON document (base64 there)."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            yield base64.b64decode(node["data"]).decode(errors="replace")
        for value in node.values():
            yield from payload_data(value)
    elif isinstance(node, list):
        for value in node:
            yield from payload_data(value)


async def test_a_run_started_under_one_key_finishes_after_rotation(
    temporal_env: WorkflowEnvironment,
) -> None:
    comment = f"ROTATED-{uuid.uuid4().hex[:8]}"
    async with connected(temporal_env, f"a:{KEY_A}") as client:
        h = await start(client, "hello_approval", {"topic": "rotation", "channels": ["blog"]})
        await wait_until_waiting(h, "review")
    # the deploy that rotates: `b` added last (so active), `a` kept for what it sealed
    async with connected(temporal_env, f"a:{KEY_A},b:{KEY_B}") as client:
        await client.get_workflow_handle(h.id).signal(
            "approve", ApprovalSignal(step="review", by="editor", comment=comment)
        )
        result = await client.get_workflow_handle(h.id, result_type=RunResult).result()
    assert set(result.statuses.values()) == {"succeeded"}
    assert result.approvals["review"].comment == comment
    events = await raw_events(temporal_env, h.id)
    key_ids = [
        p.metadata["encryption-key-id"]
        for e in events
        for _, p in walk_payloads(e)
        if p.metadata.get("encoding") == b"binary/encrypted"
    ]
    assert key_ids[0] == b"a" and key_ids[-1] == b"b" and set(key_ids) == {b"a", b"b"}

    # a process that was never given `a` cannot read the run, and says which key it lacks
    only_b = await Client.connect(
        server_address(temporal_env),
        namespace=NAMESPACE,
        plugins=[BizosPlugin(codec=AesGcmCodec({"b": base64.b64decode(KEY_B)}, "b"))],
    )
    description = await only_b.get_workflow_handle(h.id).describe()
    with pytest.raises(UnknownPayloadKey, match=r"key id 'a'.*BIZOS_PAYLOAD_KEYS"):
        await description.memo()  # sealed at the start, under `a`


def test_key_settings_are_checked_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIZOS_PAYLOAD_ACTIVE_KEY", raising=False)
    monkeypatch.setenv("BIZOS_PAYLOAD_KEYS", "")
    assert load_codec() is None  # no key: no encryption
    short = base64.b64encode(b"0123456789abcdef").decode()
    for keys, message in [
        (f"old:{KEY_A},new:{short}", "BIZOS_PAYLOAD_KEYS: key 'new' is 16 bytes"),
        (f"a:{KEY_A},a:{KEY_B}", "key id 'a' is listed twice"),
        ("a:not base64!", "key 'a' is not valid base64"),
        (KEY_A, "entry 1 is not `id:base64key`"),
    ]:
        monkeypatch.setenv("BIZOS_PAYLOAD_KEYS", keys)
        with pytest.raises(PayloadKeyError, match=message):
            load_codec()
    monkeypatch.setenv("BIZOS_PAYLOAD_KEYS", f"a:{KEY_A},b:{KEY_B}")
    codec = load_codec()
    assert codec is not None and codec.active == "b"  # the newest, by default
    monkeypatch.setenv("BIZOS_PAYLOAD_ACTIVE_KEY", "a")
    codec = load_codec()
    assert codec is not None and codec.active == "a"
    monkeypatch.setenv("BIZOS_PAYLOAD_ACTIVE_KEY", "c")
    with pytest.raises(PayloadKeyError, match=r"BIZOS_PAYLOAD_ACTIVE_KEY is 'c'.*ids: a, b"):
        load_codec()
    # key material is never printed: not in the settings' repr, nor in a refusal
    monkeypatch.delenv("BIZOS_PAYLOAD_ACTIVE_KEY")
    assert KEY_A not in repr(PayloadKeySettings(keys=f"a:{KEY_A}"))
    with pytest.raises(ValidationError) as refused:
        PayloadKeySettings(keys=f"a:{KEY_A}", active_key="c")
    assert KEY_A[:8] not in str(refused.value)


async def test_an_altered_or_relabelled_payload_does_not_open() -> None:
    ring = {"a": base64.b64decode(KEY_A), "b": base64.b64decode(KEY_B)}
    codec = AesGcmCodec(ring, "a")
    sealed = (await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")]))[0]
    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata["encryption-key-id"] = b"b"
    for bad in (flipped, relabelled):
        with pytest.raises(PayloadDecryptError, match="does not decrypt with that key"):
            await codec.decode([bad])
    # payloads from before encryption was turned on still read
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"2")
    assert await codec.decode([plain]) == [plain]
