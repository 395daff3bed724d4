"""`bizos exporter`: task queues, schedules, approvals waiting and tenants' budgets as
Prometheus metrics for the connected namespace (worker/exporter.py says what and why)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer


def exporter(
    host: str = typer.Option("127.0.0.1", "--host", help="0.0.0.0 in a container"),
    port: int = typer.Option(9470, "--port", help="serve /metrics here"),
    interval: float = typer.Option(
        15.0, "--interval", min=0.2, help="seconds between polls of Temporal and the store"
    ),
    store: bool = typer.Option(
        True, "--store/--no-store", help="also read tenants' monthly spend from the store"
    ),
) -> None:
    """Serve pollers per task queue, missed schedule actions, approvals waiting and their
    age, and tenants' budget use on http://<host>:<port>/metrics until Ctrl-C."""
    from starters.output import fail
    from worker.connection import ConnectionFailed

    try:
        asyncio.run(_serve(host, port, interval, store))
    except ConnectionFailed as e:
        fail(str(e))
    except OSError as e:  # the port is taken
        fail(f"cannot serve metrics on {host}:{port}: {e}")
    except KeyboardInterrupt:
        pass


async def _serve(host: str, port: int, interval: float, with_store: bool) -> None:
    from prometheus_client import start_http_server

    from store import Store
    from worker.connection import connect
    from worker.exporter import Exporter, exporter_registry, run_exporter
    from worker.log_context import configure_logging
    from worker.pools import WORKFLOWS_POOL, pool_names, task_queue

    configure_logging()
    client = await connect()
    queues = [(task_queue(WORKFLOWS_POOL), "workflow")]
    queues += [(task_queue(p), "activity") for p in pool_names()]  # workflows too: webhooks
    store = await Store.open(migrate=False) if with_store else None
    exp = Exporter(client, queues, store=store)
    server, thread = start_http_server(port, addr=host, registry=exporter_registry(exp))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"exporter: metrics on http://{host}:{port}/metrics, polling every {interval} s")
    try:
        await run_exporter(exp, interval, stop)
    finally:
        server.shutdown()
        thread.join(5)
        if store is not None:
            await store.close()
