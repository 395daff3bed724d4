"""Record one history per workflow type into tests/histories/ for the replay tests.

Histories are recorded ONCE per released behaviour and never regenerated to make a test
pass: this script refuses to overwrite a file. A new template (or a new spec version whose
behaviour should be guarded) gets a new file, e.g. tests/histories/ContentCreation@2.json.

    .venv/bin/python scripts/record_histories.py            # record what is missing
    .venv/bin/python scripts/record_histories.py limits     # only these templates

Files are named for the behaviour they guard: `<WorkflowType>@<version>.json` (runs from
before plans were carried), `…~plan.json` (the run carries its plan from its starter),
`…~bare-plan.json` (started without one, as `temporal workflow start` does: the first task
records it), and `AgentStep~plan.json` / `AgentStep~bare-plan.json` for the single-agent
workflow.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.core.conftest import SPEC_DIRS  # noqa: E402
from worker.binaries import temporal_cli  # noqa: E402
from worker.plugin import BizosPlugin  # noqa: E402
from worker.pools import build_worker  # noqa: E402
from workflows import search_attributes  # noqa: E402
from workflows.models import Decision, Progress, RunInput  # noqa: E402
from workflows.registry import load_registry, set_registry  # noqa: E402

OUT = REPO / "tests" / "histories"
# Params for test templates whose defaults would wait long.
PARAMS: dict[str, dict[str, object]] = {
    "slow": {"sleep_s": 0.5},
    "approval_flow": {"topic": "replay", "channels": ["blog", "newsletter"]},
    "payloads": {"items": [1, 2, 3]},
    "child_echo": {"label": "replay"},
    "hitl": {"topic": "replay"},
}


RELEASE = "plan"  # the behaviour recorded now: runs carry their plan
REJECTED = {"reject_branch": "reject"}  # recorded down their reject branch
REVISED = {"hitl"}  # recorded through one revise round before approving
ESCALATED = {"escalation"}  # decided only at the last level, after the first timed out
BARE = {"hello_approval", "parent_child", "approval_flow"}  # also recorded started bare


async def record_one(client, dag, out: Path, *, bare: bool = False) -> None:  # type: ignore[no-untyped-def]
    from starters.runs import start_run
    from workflows.models import WORKFLOWS_TASK_QUEUE

    params = PARAMS.get(dag.name, dag.spec.example or {})
    if bare:
        handle = await client.start_workflow(
            dag.workflow_type,
            RunInput(params=params),
            id=f"default.{dag.name}.{uuid.uuid4().hex[:8]}",
            task_queue=WORKFLOWS_TASK_QUEUE,
        )
    else:
        handle = await start_run(client, dag, RunInput(params=params), key=uuid.uuid4().hex[:8])
    await _decide_until_done(
        handle,
        REJECTED.get(dag.name, "approve"),
        revise=dag.name in REVISED,
        last_level=dag.name in ESCALATED,
    )
    try:
        await handle.result()
    except Exception as e:  # a failing template's history is worth replaying too
        print(f"  ({dag.name} ended with {type(e).__name__})")
    history = await handle.fetch_history()
    out.write_text(history.to_json())
    print(f"recorded {out.relative_to(REPO)}")


async def record_hello_variant(client, out: Path, variant: str) -> None:  # type: ignore[no-untyped-def]
    """hello_approval started as the API starts it: `notify` (execution events) or under a
    tenant's running cap (`admission`)."""
    from starters.runs import start_run
    from workflows.admission import ensure_admission
    from workflows.registry import default_registry

    dag = default_registry().by_name("hello_approval")
    run_input = RunInput(params=dag.spec.example or {"topic": "replay"})
    if variant == "notify":
        run_input.notify = True
    else:
        run_input.admission = await ensure_admission(client, "default", 1)
    handle = await start_run(client, dag, run_input, key=uuid.uuid4().hex[:8])
    await _decide_until_done(handle)
    await handle.result()
    out.write_text((await handle.fetch_history()).to_json())
    print(f"recorded {out.relative_to(REPO)}")


async def record_agent_step(client, out: Path, *, bare: bool) -> None:  # type: ignore[no-untyped-def]
    from activities.catalog import default_catalog
    from workflows.catalog_slice import slice_catalog
    from workflows.models import WORKFLOWS_TASK_QUEUE
    from workflows.single_agent import AGENT_WORKFLOW_TYPE, AgentRunInput

    agent = "market_research"
    run_input = AgentRunInput(agent=agent, mode="marketing_research", inputs={"topic": "replay"})
    if not bare:
        run_input.catalog = slice_catalog(default_catalog(), [agent]).agents[agent]
    handle = await client.start_workflow(
        AGENT_WORKFLOW_TYPE,
        run_input,
        id=f"default.agent.{agent}.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
    )
    await handle.result()
    out.write_text((await handle.fetch_history()).to_json())
    print(f"recorded {out.relative_to(REPO)}")


async def _decide_until_done(  # type: ignore[no-untyped-def]
    handle, verdict: str = "approve", *, revise: bool = False, last_level: bool = False
) -> None:
    """Decide every waiting step as an operator would (`via: cli`, with the digest shown)."""
    while True:
        p = await handle.query("progress", result_type=Progress)
        for s in p.steps:
            if s.status != "waiting" or (last_level and (s.level or 0) + 1 < (s.levels or 1)):
                continue
            if s.waiting_for == "choice":
                d = Decision(step=s.id, decision="choose", option=(s.options or [""])[0])
            elif revise and s.round == 0 and s.max_revisions:
                d = Decision(step=s.id, decision="revise", comment="recorder feedback")
            else:
                d = Decision(step=s.id, decision=verdict)  # type: ignore[arg-type]
            d.by, d.digest, d.via = "recorder", s.digest, "cli"
            await handle.execute_update("decide", d)
        if p.status != "running":
            break
        await asyncio.sleep(0.1)


async def main(only: list[str]) -> None:
    registry = load_registry(SPEC_DIRS)
    set_registry(registry)
    OUT.mkdir(parents=True, exist_ok=True)
    todo = []
    for dag in registry.current.values():
        todo.append((dag, OUT / f"{dag.workflow_type}@{dag.version}~{RELEASE}.json", False))
        if dag.name in BARE:
            todo.append((dag, OUT / f"{dag.workflow_type}@{dag.version}~bare-{RELEASE}.json", True))
    todo = [(d, p, b) for d, p, b in todo if not p.exists() and (not only or d.name in only)]
    agent_todo = [
        (OUT / f"AgentStep~{tag}{RELEASE}.json", tag == "bare-")
        for tag in ("", "bare-")
        if not only or "AgentStep" in only
    ]
    agent_todo = [(p, b) for p, b in agent_todo if not p.exists()]
    variant_todo = [
        (v, OUT / f"HelloApproval@1~{v}.json")
        for v in ("notify", "admission")
        if not only or "hello_approval" in only
    ]
    variant_todo = [(v, p) for v, p in variant_todo if not p.exists()]
    if not todo and not agent_todo and not variant_todo:
        print("every workflow type already has a recorded history")
        return
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=search_attributes.ALL,
        plugins=[BizosPlugin()],
    )
    try:
        client = env.client
        async with (
            build_worker(client, "workflows"),
            build_worker(client, "system"),
            _agent_pools(client),  # crewai, for the templates' agents
        ):
            for dag, path, bare in todo:
                await record_one(client, dag, path, bare=bare)
            for path, bare in agent_todo:
                await record_agent_step(client, path, bare=bare)
            for variant, path in variant_todo:
                await record_hello_variant(client, path, variant)
    finally:
        await env.shutdown()


class _agent_pools:
    def __init__(self, client):  # type: ignore[no-untyped-def]
        from activities.catalog import CATEGORIES

        self.workers = [build_worker(client, c) for c in CATEGORIES if c != "system"]

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        for w in self.workers:
            await w.__aenter__()

    async def __aexit__(self, *exc):  # type: ignore[no-untyped-def]
        for w in self.workers:
            await w.__aexit__(*exc)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))  # optional template names: record only those
