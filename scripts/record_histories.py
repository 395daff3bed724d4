"""Record one history per workflow type into tests/histories/ for the replay tests.

Histories are recorded ONCE per released behaviour and never regenerated to make a test
pass: this script refuses to overwrite a file. A new template (or a new spec version whose
behaviour should be guarded) gets a new file, e.g. tests/histories/ContentCreation@2.json.

    .venv/bin/python scripts/record_histories.py            # record what is missing
    .venv/bin/python scripts/record_histories.py limits     # only these templates
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
PARAMS: dict[str, dict[str, object]] = {"slow": {"sleep_s": 0.5}}


async def record_one(client, dag, out: Path) -> None:  # type: ignore[no-untyped-def]
    from starters.runs import start_run

    params = PARAMS.get(dag.name, dag.spec.example or {})
    handle = await start_run(client, dag, RunInput(params=params), key=uuid.uuid4().hex[:8])
    while True:
        p = await handle.query("progress", result_type=Progress)
        for s in p.steps:
            if s.status == "waiting":
                d = (
                    Decision(
                        step=s.id, decision="choose", option=(s.options or [""])[0], by="recorder"
                    )
                    if s.waiting_for == "choice"
                    else Decision(step=s.id, decision="approve", by="recorder")
                )
                await handle.execute_update("decide", d)
        if p.status != "running":
            break
        await asyncio.sleep(0.1)
    try:
        await handle.result()
    except Exception as e:  # a failing template's history is worth replaying too
        print(f"  ({dag.name} ended with {type(e).__name__})")
    history = await handle.fetch_history()
    out.write_text(history.to_json())
    print(f"recorded {out.relative_to(REPO)}")


async def main(only: list[str]) -> None:
    registry = load_registry(SPEC_DIRS)
    set_registry(registry)
    OUT.mkdir(parents=True, exist_ok=True)
    todo = [
        (dag, OUT / f"{dag.workflow_type}@{dag.version}.json") for dag in registry.current.values()
    ]
    todo = [(d, p) for d, p in todo if not p.exists() and (not only or d.name in only)]
    if not todo:
        print("every workflow type already has a recorded history")
        return
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=search_attributes.ALL,
        plugins=[BizosPlugin()],
    )
    try:
        client = env.client
        async with build_worker(client, "workflows"), build_worker(client, "system"):
            for dag, path in todo:
                if any(
                    s.kind == "agent" and s.task_queue != "bizos-agents-system"
                    for s in dag.steps.values()
                ):
                    # Needs the agent pools (crewai): record with those running.
                    from activities.run_agent import build_agent_activities  # noqa: F401

                    async with _agent_pools(client):
                        await record_one(client, dag, path)
                else:
                    await record_one(client, dag, path)
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
