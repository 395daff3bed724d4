"""A step's files travel through the blob store (DESIGN §11: no local paths between steps).

Unit tests of `activities.agent_step.files` against a real store on SQLite: `blob://`
arguments are fetched into the attempt's scratch directory (tenant-checked, once) and
replaced by local paths; files a tool wrote are uploaded and replaced by refs; bad refs are
tool failures saying what is wrong. Then the `content_creation` template end to end with
its content and marketing pools in two `bizos worker` processes with homes of their own,
sharing only Temporal and the store's database: the SEO step reads the draft the other
pool wrote, by ref, and `bizos artifacts get` fetches it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.agent_step.files import BlobInputInvalid, BlobStoreUnavailable, StepFiles
from activities.catalog import task_queue_for
from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult
from activities.crew.toolbox import StepToolbox, retryable_tool_error
from activities.providers.step_context import StepContext
from activities.tools.registry import TOOLS
from starters.runs import decide, start_run
from starters.stack import stop_processes
from store import Store, StoreSettings
from store.blobs import BlobRef
from tests.conftest import cli_env, namespace_client
from tests.support import eventually, wait_until_waiting
from worker.local_activities import LocalActivities
from worker.pools import build_worker
from workflows.models import Decision, RunInput, RunResult
from workflows.registry import default_registry

REPO = Path(__file__).resolve().parents[2]
TENANT = "acme"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(StoreSettings(home=tmp_path / "home"))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def files(store: Store, tmp_path: Path) -> StepFiles:
    return StepFiles.open(
        store,
        asyncio.get_running_loop(),
        tenant=TENANT,
        workflow_id="wf-files",
        run_id="run-1",
        root=tmp_path / "home" / "scratch",
    )


class Spy:
    """Counts the calls of one store method (and still makes them)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Store, name: str):
        self.calls = 0
        real = getattr(store, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(store, name, counted)


async def _put(store: Store, data: bytes, name: str, tenant: str = TENANT) -> str:
    return str(await store.put_blob(tenant, data, name, workflow_id="wf-up", run_id="r"))


async def _read(store: Store, ref: str) -> bytes:
    return b"".join([chunk async for chunk in store.open_blob(ref)])


async def _local(path: str | Path) -> bytes:
    return await asyncio.to_thread(Path(path).read_bytes)


async def test_ref_arguments_are_fetched_once_into_scratch_and_replaced_by_paths(
    store: Store, files: StepFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = await _put(store, b"# Draft\n\nDurable agents.\n", "draft.md")
    other = await _put(store, b"a,b\n1,2\n", "table.csv")
    fetched = Spy(monkeypatch, store, "blob_to_file")
    args = {
        "text_path": ref,
        "nested": {"paths": [ref, other, "plain text", 3], "local": "/data/mine.csv"},
        "n": 2,
    }
    staged = await asyncio.to_thread(files.stage, args)

    path = Path(staged["text_path"])
    assert files.scratch in path.parents and path.name == "draft.md"
    assert await _local(path) == b"# Draft\n\nDurable agents.\n"
    assert staged["nested"]["paths"][0] == str(path)
    assert await _local(staged["nested"]["paths"][1]) == b"a,b\n1,2\n"
    # everything else as given (a user's local path included: the HTTP service refuses those)
    assert staged["nested"]["paths"][2:] == ["plain text", 3]
    assert staged["nested"]["local"] == "/data/mine.csv" and staged["n"] == 2
    assert args["text_path"] == ref  # the caller's arguments are left alone
    assert fetched.calls == 2  # each ref once

    await asyncio.to_thread(files.stage, {"again": ref})
    assert fetched.calls == 2

    files.close()
    assert not files.scratch.exists()


async def test_written_files_are_uploaded_and_replaced_by_refs_then_reused_locally(
    store: Store, files: StepFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    files.output_dir.mkdir(parents=True)
    draft = files.output_dir / "draft-1a2b.md"
    draft.write_text("# Post\n")
    report = files.output_dir / "report-1a2b.json"
    report.write_text('{"ok": true}')
    uploaded = Spy(monkeypatch, store, "put_blob")
    fetched = Spy(monkeypatch, store, "blob_to_file")
    output = {
        "headline": "Wrote a post",
        "recommendations": [f"Run content_quality_score on {draft} before publishing."],
        "artifacts": [str(draft), str(report)],
        "draft_path": str(draft),
        "details": {"report_ref": str(report), "missing": str(files.output_dir / "gone.md")},
        "title": "Post",
    }
    out = await asyncio.to_thread(files.publish, output)

    draft_ref, report_ref = out["artifacts"]
    assert BlobRef.parse(draft_ref).tenant == TENANT and draft_ref.endswith("/draft-1a2b.md")
    assert await _read(store, draft_ref) == b"# Post\n"
    assert await _read(store, report_ref) == b'{"ok": true}'
    assert out["draft_path"] == draft_ref and out["details"]["report_ref"] == report_ref
    assert out["recommendations"] == [
        f"Run content_quality_score on {draft_ref} before publishing."
    ]
    assert out["details"]["missing"] == str(files.output_dir / "gone.md")  # not a file: as is
    assert out["title"] == "Post"
    assert str(files.scratch) not in json.dumps({k: v for k, v in out.items() if k != "details"})
    assert uploaded.calls == 2  # each file once
    recorded = await store.blobs.refs_for_run("wf-files", "run-1")
    assert {str(r.ref) for r in recorded} == {draft_ref, report_ref}

    # A later tool of the attempt given the ref reads the file already here.
    staged = await asyncio.to_thread(files.stage, {"text_path": draft_ref})
    assert Path(staged["text_path"]) == draft.resolve() and fetched.calls == 0
    # Rewritten since: uploaded again (new content, new ref).
    draft.write_text("# Post, revised\n")
    again = await asyncio.to_thread(files.publish, {"artifacts": [str(draft)]})
    assert again["artifacts"][0] != draft_ref and uploaded.calls == 3


async def test_another_tenants_ref_is_refused_with_a_clear_message(
    store: Store, files: StepFiles
) -> None:
    theirs = await _put(store, b"secret plan", "plan.md", tenant="globex")
    with pytest.raises(BlobInputInvalid) as e:
        await asyncio.to_thread(files.stage, {"inputs": {"text_path": theirs}})
    message = str(e.value)
    assert "inputs.text_path" in message and theirs in message
    assert "belongs to tenant 'globex'" in message and "tenant 'acme'" in message
    assert not retryable_tool_error(e.value)
    assert not any(files.scratch.rglob("plan.md"))


async def test_malformed_and_missing_refs_say_what_is_wrong(files: StepFiles) -> None:
    with pytest.raises(BlobInputInvalid) as e:
        await asyncio.to_thread(files.stage, {"text_path": "blob://acme/not-a-digest/draft.md"})
    assert "text_path: malformed blob ref 'blob://acme/not-a-digest/draft.md'" in str(e.value)
    assert "sha256" in str(e.value) and not retryable_tool_error(e.value)

    gone = f"blob://{TENANT}/{'ab' * 32}/draft.md"
    with pytest.raises(BlobInputInvalid) as e:
        await asyncio.to_thread(files.stage, {"paths": [gone]})
    assert f"paths[0]: no blob {gone}" in str(e.value) and not retryable_tool_error(e.value)


async def test_a_store_outage_is_a_retryable_tool_failure(
    store: Store, files: StepFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = await _put(store, b"x", "x.md")

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("database is unreachable")

    monkeypatch.setattr(store, "blob_to_file", down)
    with pytest.raises(BlobStoreUnavailable) as e:
        await asyncio.to_thread(files.stage, {"text_path": ref})
    assert "could not fetch" in str(e.value) and "database is unreachable" in str(e.value)
    assert retryable_tool_error(e.value)


async def test_toolbox_passes_refs_between_real_tools(
    store: Store, files: StepFiles, catalog_tools: frozenset[str]
) -> None:
    """Through `StepToolbox` (what CrewAI calls): the draft tool's file comes back as a ref,
    the next tool reads it by that ref, and a bad ref is a failed call the agent can read."""
    box = StepToolbox(files, StepContext())
    draft = json.loads(
        await asyncio.to_thread(
            box.run, TOOLS["content_draft"], {"topic": "durable agents", "target_words": 300}
        )
    )
    ref = draft["draft_path"]
    assert ref.startswith(f"blob://{TENANT}/") and ref.endswith(".md")
    assert draft["artifacts"] and all(a.startswith("blob://") for a in draft["artifacts"])
    assert b"durable agents" in (await _read(store, ref)).lower()

    scored = json.loads(
        await asyncio.to_thread(box.run, TOOLS["readability_score"], {"text_path": ref})
    )
    assert scored["metrics"]["words"] > 0, scored

    bad = json.loads(
        await asyncio.to_thread(box.run, TOOLS["readability_score"], {"text_path": "blob://x"})
    )
    assert bad["error_type"] == "BlobInputInvalid" and "malformed blob ref" in bad["error"]
    assert [(r.tool, r.ok, r.retryable) for r in box.records] == [
        ("content_draft", True, None),
        ("readability_score", True, None),
        ("readability_score", False, False),
    ]
    assert box.records[1].arguments == {"text_path": ref}  # recorded as the agent wrote it


# ------------------------------------------------------------------ end to end, two hosts

NAMESPACE = "isolated-agents"
POOLS = ("content", "marketing")  # draft + creatives | seo + promote


def _spawn_pool(
    env: WorkflowEnvironment, pool: str, home: Path, db: str
) -> subprocess.Popen[bytes]:
    environ = cli_env(
        env,
        TEMPORAL_NAMESPACE=NAMESPACE,
        BIZOS_HOME=str(home),
        BIZOS_DATABASE_URL=db,
        BIZOS_AGENT_THREADS="2",
    )
    for key in list(environ):
        if key.endswith("_API_KEY"):
            environ.pop(key)  # the offline provider: deterministic, no network
    home.mkdir(parents=True)
    return subprocess.Popen(
        [sys.executable, "-m", "starters.cli", "worker", "--pool", pool],
        env=environ,
        cwd=REPO,
        stdout=(home / "worker.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
async def two_hosts(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, Path, list[Path]]]:
    """The workflow pool in this process; the content and marketing pools each in a process
    with a home of its own. Only the store's database (SQLite in ``hub``) is shared."""
    base = tmp_path_factory.mktemp("two-hosts")
    hub = base / "hub"
    db = f"sqlite+aiosqlite:///{hub / 'bizos.db'}"
    homes = [base / pool for pool in POOLS]
    client = await namespace_client(temporal_env, NAMESPACE)
    local = LocalActivities(StoreSettings(home=hub, database_url=db))
    await local.store()  # creates and migrates the shared database before the pools start
    procs = [
        _spawn_pool(temporal_env, pool, home, db) for pool, home in zip(POOLS, homes, strict=True)
    ]

    async def polling() -> bool:
        for proc, home in zip(procs, homes, strict=True):
            if proc.poll() is not None:
                log = (home / "worker.log").read_text()
                raise AssertionError(f"a pool worker exited ({proc.returncode}):\n{log}")
        for pool in POOLS:
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=NAMESPACE,
                    task_queue=TaskQueue(name=task_queue_for(pool)),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            )
            if not resp.pollers:
                return False
        return True

    try:
        await eventually(polling, timeout_s=90, what="both agent pools polling")
        async with build_worker(client, "workflows", local_activities=local):
            yield client, hub, homes
    finally:
        await asyncio.to_thread(stop_processes, procs)
        await local.close()


async def _agent_results(client: Client, handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """Each agent step's result from the run's history (tool calls are not in RunResult)."""
    step_of: dict[int, str] = {}
    results: dict[str, AgentStepResult] = {}
    async for e in handle.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = e.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == RUN_AGENT:
                [inp] = await client.data_converter.decode(attrs.input.payloads, [AgentStepInput])
                step_of[e.event_id] = inp.step_id
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = e.activity_task_completed_event_attributes
            if done.scheduled_event_id in step_of:
                [res] = await client.data_converter.decode(done.result.payloads, [AgentStepResult])
                results[step_of[done.scheduled_event_id]] = res
    return results


@pytest.mark.timeout(300)
async def test_content_creation_passes_the_draft_by_ref_between_pools_on_two_hosts(
    two_hosts: tuple[Client, Path, list[Path]], tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    client, hub, homes = two_hosts
    dag = default_registry().by_name("content_creation")
    params = {**(dag.spec.example or {}), "channels": ["blog"]}  # no social: no creatives
    handle = await start_run(
        client, dag, RunInput(params=params, tenant=TENANT), key=uuid.uuid4().hex[:12]
    )
    waiting = await wait_until_waiting(handle, "review")
    digest = next(s.digest for s in waiting.steps if s.id == "review")  # what the editor saw
    await decide(
        client,
        handle.id,
        Decision(step="review", decision="approve", by="editor", digest=digest),
    )
    r: RunResult = await handle.result()
    assert r.statuses == {
        "draft": "succeeded",
        "seo": "succeeded",
        "review": "succeeded",
        "creatives": "skipped",
        "promote": "succeeded",
    }, r.errors

    draft, seo = r.outputs["draft"], r.outputs["seo"]
    assert draft["artifacts"] and all(
        BlobRef.parse(a).tenant == TENANT for a in draft["artifacts"]
    ), draft["artifacts"]
    [md] = [a for a in draft["artifacts"] if a.endswith(".md")]
    # the seo step was given that ref (spec: `.filter(p, p.endsWith('.md'))[0]`) and read it
    results = await _agent_results(client, handle)
    assert results["seo"].tool_calls and all(c.ok for c in results["seo"].tool_calls), [
        (c.tool, c.error_type, c.summary) for c in results["seo"].tool_calls
    ]
    assert [c.arguments.get("text_path") for c in results["seo"].tool_calls] == [md, md]
    assert seo["metrics"]["keyword_coverage.coverage_pct"] == 100.0
    assert seo["metrics"]["keyword_coverage.words"] == draft["metrics"]["content_draft.words"]
    # No local path travelled, and each attempt's scratch directory is gone.
    assert "/scratch/" not in json.dumps(r.outputs)
    for home in homes:
        assert not any((home / "scratch").iterdir())

    # `bizos status` lists the refs the steps returned and how to fetch one.
    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starters.cli", "status", handle.id, "-o", "json"],
        env=cli_env(temporal_env, TEMPORAL_NAMESPACE=NAMESPACE),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    listed = json.loads(status.stdout)["artifacts"]
    assert listed["draft"] == draft["artifacts"] and "promote#0" in listed  # a foreach item
    text = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starters.cli", "status", handle.id],
        env=cli_env(temporal_env, TEMPORAL_NAMESPACE=NAMESPACE),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"  draft: {md}\n" in text.stdout and "bizos artifacts get <ref> -o FILE" in text.stdout

    out = tmp_path / "post.md"
    got = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starters.cli", "artifacts", "get", md, "-o", str(out)],
        env=cli_env(
            temporal_env, BIZOS_HOME=str(hub), BIZOS_DATABASE_URL=f"sqlite:///{hub}/bizos.db"
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 0, got.stderr
    assert params["topic"].lower() in out.read_text().lower()
