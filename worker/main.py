"""Running worker pools in this process until SIGINT/SIGTERM, then shutting down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from worker.connection import connect, metrics_runtime
from worker.deployment import deployment_version
from worker.log_context import configure_logging
from worker.pools import WORKFLOWS_POOL, build_worker, needs_agent_runtime, task_queue
from worker.tracing import setup_tracing

log = logging.getLogger("bizos.worker")


class MissingSearchAttributes(RuntimeError):
    pass


async def check_search_attributes(client: Client) -> None:
    """Workers cannot create search attributes on Temporal Cloud: check, and say what to run."""
    from workflows import search_attributes as sa

    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = [k for k in sa.ALL if k.name not in resp.custom_attributes]
    if missing:
        kinds = {"KEYWORD_LIST": "KeywordList", "KEYWORD": "Keyword"}
        cmds = "; ".join(
            f"temporal operator search-attribute create --namespace {client.namespace} "
            f"--name {k.name} --type {kinds[k.indexed_value_type.name]}"
            for k in missing
        )
        raise MissingSearchAttributes(
            f"namespace {client.namespace} lacks search attributes "
            f"{', '.join(k.name for k in missing)}; create them once with: {cmds}"
        )


def preload(pools: list[str]) -> None:
    """Compile every spec and load the catalog before polling: never inside a workflow task."""
    from activities.catalog import default_catalog

    default_catalog()
    if WORKFLOWS_POOL in pools:
        from workflows.registry import default_registry

        default_registry()
        # What was loaded lives as long as the process: out of the collector's reach, a full
        # collection walks only the runs' own objects (about 3x cheaper on the workflow
        # worker; each run's state is freed by the collector: the workflow instance refers
        # to itself). Agent pools freeze after their first steps (AgentRuntime).
        from activities.agent_step.tuning import step_speedups

        if step_speedups("gcfreeze"):
            gc.collect()
            gc.freeze()


async def run_pools(pools: list[str], *, metrics_port: int = 0) -> None:
    """Poll `pools` until SIGINT/SIGTERM. A worker that cannot start, or whose polling stops,
    logs one line naming its pools and the cause and exits non-zero: a process left running
    without its pollers would leave runs waiting forever with nothing saying why."""
    configure_logging()
    setup_tracing(f"bizos-worker-{'+'.join(pools)}")  # when OTEL_EXPORTER_OTLP_ENDPOINT is set
    agents = None
    stage = "loading the catalog and specs"
    try:
        preload(pools)
        stage = "configuring secrets (BIZOS_SECRETS_BACKEND)"
        from activities.secrets.configure import install_configured_backend

        await asyncio.to_thread(install_configured_backend)  # a Vault login blocks
        stage = f"serving metrics on 127.0.0.1:{metrics_port}"
        runtime = metrics_runtime(metrics_port) if metrics_port else None
        stage = "connecting to Temporal"
        client = await connect(runtime)
        if WORKFLOWS_POOL in pools:
            stage = "checking search attributes"
            await check_search_attributes(client)
        if needs_agent_runtime(pools):
            from activities.agent_step.runtime import AgentRuntime

            stage = "opening the store and loading the agents"
            agents = AgentRuntime()
            await agents.start()  # crewai + tools imported and the store migrated before polling
        stage = "building the workers"
        workers = [build_worker(client, p, agents) for p in pools]
    except Exception as e:
        log.error("pool(s) %s cannot start: %s failed: %s", ", ".join(pools), stage, _cause(e))
        if agents is not None:
            await agents.close()
        # Already said in one line: exit non-zero without a traceback.
        raise SystemExit(1) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    version = deployment_version()
    log.info(
        "polling %s%s%s",
        ", ".join(task_queue(p) for p in pools),
        f"; metrics on 127.0.0.1:{metrics_port}/metrics" if metrics_port else "",
        # a versioned worker idles until its version is made current: the log says why
        f"; deployment version {version.to_canonical_string()} (auto-upgrade; gets new "
        "tasks once current: temporal worker deployment set-current-version)"
        if version
        else "",
    )
    runs = {asyncio.create_task(w.run()): pool for w, pool in zip(workers, pools, strict=True)}
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
    # A poll loop that ended before anyone asked it to stop leaves its pool unserved.
    ended = [(runs[t], t.exception()) for t in runs if t in done]
    log.info("shutting down: letting running activities finish (graceful timeout)")
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    if agents is not None:
        await agents.close()
    if ended:
        for pool, exc in ended:
            log.error(
                "pool %s stopped polling: %s", pool, _cause(exc) if exc else "its worker ended"
            )
        raise SystemExit(1)


def _cause(e: BaseException) -> str:
    """The exception in one line; for a database error, the driver's message (SQLAlchemy's
    own text adds the SQL statement and a link)."""
    inner = getattr(e, "orig", None)  # sqlalchemy.exc.DBAPIError wraps the driver's error
    message = " ".join(str(inner if isinstance(inner, BaseException) else e).split())
    return f"{type(e).__name__}: {message}" if message else type(e).__name__
