"""`bizos exporter`: the platform's state that no worker or API replica can see alone, as
Prometheus metrics — pollers and backlog per task queue (DescribeTaskQueue), schedules'
actions and missed actions (the schedules API), approvals waiting and their age
(visibility on `BizosPendingApprovals` plus each waiting run's `progress` query) and each
tenant's monthly spend against its budget (the store).

One exporter per namespace. It polls on its own clock (`interval_s`) and a scrape only
reads the last snapshot, so Prometheus scraping often never multiplies calls to Temporal
(its visibility APIs are limited to 10 requests/s per namespace). What could not be read is
counted in `bizos_exporter_errors_total{source}` and its series keep their last values.

Metrics (labels bounded: task queues are the pools, steps come from the templates, schedules
are the ones the operator created; never a workflow id):

* ``bizos_task_queue_pollers{task_queue,type}`` — workers polling in the last 2 minutes
* ``bizos_task_queue_backlog{task_queue,type}``, ``bizos_task_queue_backlog_age_seconds``
* ``bizos_approvals_waiting{tenant,template,step}``, ``bizos_approval_oldest_wait_seconds``
* ``bizos_schedule_actions_total{schedule}``,
  ``bizos_schedule_missed_actions_total{schedule,reason}`` (``catchup_window``: the server
  could not start it in time; ``overlap``: skipped because the previous run still ran),
  ``bizos_schedule_paused{schedule}``
* ``bizos_tenant_spend_usd{tenant}``, ``bizos_tenant_budget_usd{tenant}``,
  ``bizos_tenant_budget_used_ratio{tenant}`` — this calendar month (UTC)
* ``bizos_exporter_errors_total{source}``, ``bizos_exporter_last_poll_timestamp_seconds``
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from workflows import search_attributes as sa
from workflows.models import Progress

if TYPE_CHECKING:
    from store import Store

log = logging.getLogger("bizos.exporter")

POLLER_FRESH = timedelta(minutes=2)
"""The server lists a poller for minutes after it stopped; a live one polls at least every
~70 s (its long poll's timeout), so only pollers seen this recently count."""
MAX_WAITING_RUNS = 500
"""Runs queried for their approvals' age per poll (each is one query to a workflow worker)."""
MAX_SCHEDULES = 500
RPC_TIMEOUT = timedelta(seconds=5)
_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@dataclass
class QueueState:
    pollers: int
    backlog: int
    backlog_age_s: float


@dataclass
class ScheduleState:
    actions: int
    missed_catchup: int
    skipped_overlap: int
    paused: bool


@dataclass
class TenantBudget:
    spent_usd: float
    budget_usd: float | None


@dataclass
class Snapshot:
    """The last values read; a source that failed keeps its previous values."""

    queues: dict[tuple[str, str], QueueState] = field(default_factory=dict)
    approvals: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    schedules: dict[str, ScheduleState] = field(default_factory=dict)
    tenants: dict[str, TenantBudget] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    last_poll: float = 0.0


def _month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class Exporter:
    """Polls Temporal (and the store, when given) into a `Snapshot`."""

    def __init__(
        self,
        client: Client,
        task_queues: Iterable[tuple[str, str]],
        *,
        store: Store | None = None,
    ):
        self.client = client
        self.task_queues = list(task_queues)  # (name, "workflow" | "activity")
        self.store = store
        self.snapshot = Snapshot()

    async def poll(self) -> None:
        """One round over every source; each fails on its own."""
        sources = {
            "task_queues": self._queues(),
            "approvals": self._approvals(),
            "schedules": self._schedules(),
        }
        if self.store is not None:
            sources["store"] = self._tenants()
        results = await asyncio.gather(*sources.values(), return_exceptions=True)
        for source, result in zip(sources, results, strict=True):
            if isinstance(result, BaseException):
                self.snapshot.errors[source] += 1
                log.warning("could not read %s: %s", source, result)
        self.snapshot.last_poll = time.time()

    async def _queues(self) -> None:
        now = datetime.now(UTC)
        found: dict[tuple[str, str], QueueState] = {}
        for name, kind in self.task_queues:
            resp = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=name, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                    task_queue_type=_TYPES[kind],
                    report_stats=True,
                ),
                timeout=RPC_TIMEOUT,
            )
            live = sum(
                1
                for p in resp.pollers
                if p.HasField("last_access_time")
                and now - p.last_access_time.ToDatetime(UTC) <= POLLER_FRESH
            )
            stats = resp.stats
            found[(name, kind)] = QueueState(
                pollers=live,
                backlog=int(stats.approximate_backlog_count),
                backlog_age_s=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
            )
        self.snapshot.queues = found

    async def _approvals(self) -> None:
        now = datetime.now(UTC)
        query = f"{sa.PENDING_APPROVALS.name} IS NOT NULL AND ExecutionStatus = 'Running'"
        ages: dict[tuple[str, str, str], list[float]] = {}
        queried = 0
        async for wf in self.client.list_workflows(query, rpc_timeout=RPC_TIMEOUT):
            attrs = wf.typed_search_attributes
            tenant = attrs.get(sa.TENANT) or "unknown"
            template = attrs.get(sa.TEMPLATE) or wf.workflow_type
            since: dict[str, datetime] = {}
            if queried < MAX_WAITING_RUNS:
                queried += 1
                since = await self._waiting_since(wf.id)
            for step in attrs.get(sa.PENDING_APPROVALS) or []:
                started = since.get(step)
                # Without an answer from the run (no workflow worker), the run's own start
                # bounds the wait from above: an SLA alert errs on the side of speaking.
                age = (now - (started or wf.start_time)).total_seconds()
                ages.setdefault((tenant, template, step), []).append(max(age, 0.0))
        self.snapshot.approvals = ages

    async def _waiting_since(self, workflow_id: str) -> dict[str, datetime]:
        try:
            progress = await self.client.get_workflow_handle(workflow_id).query(
                "progress", result_type=Progress, rpc_timeout=RPC_TIMEOUT
            )
        except Exception as e:  # a run of an older shape, or no worker: age from its start
            log.debug("no progress from %s: %s", workflow_id, e)
            return {}
        return {
            s.id: s.started_at.astimezone(UTC)
            for s in progress.steps
            if s.status == "waiting" and s.started_at is not None
        }

    async def _schedules(self) -> None:
        found: dict[str, ScheduleState] = {}
        async for listed in await self.client.list_schedules(rpc_timeout=RPC_TIMEOUT):
            if len(found) >= MAX_SCHEDULES:
                break
            desc = await self.client.get_schedule_handle(listed.id).describe(
                rpc_timeout=RPC_TIMEOUT
            )
            info = desc.info
            found[listed.id] = ScheduleState(
                actions=info.num_actions,
                missed_catchup=info.num_actions_missed_catchup_window,
                skipped_overlap=info.num_actions_skipped_overlap,
                paused=desc.schedule.state.paused,
            )
        self.snapshot.schedules = found

    async def _tenants(self) -> None:
        assert self.store is not None
        now = datetime.now(UTC)
        start = _month_start(now)
        found: dict[str, TenantBudget] = {}
        for tenant in await self.store.list_tenants():
            lines = await self.store.costs_by(tenant.id, "day", since=start, until=now)
            found[tenant.id] = TenantBudget(
                spent_usd=sum(line.usd_nanos for line in lines) / 1e9,
                budget_usd=tenant.monthly_budget_usd,
            )
        self.snapshot.tenants = found


class SnapshotCollector(Collector):
    """Metric families from the exporter's last snapshot (a scrape never calls Temporal)."""

    def __init__(self, exporter: Exporter):
        self.exporter = exporter

    def collect(self) -> Iterator[Metric]:
        snap = self.exporter.snapshot
        yield from self._queues(snap)
        yield from self._approvals(snap)
        yield from self._schedules(snap)
        yield from self._tenants(snap)
        errors = CounterMetricFamily(
            "bizos_exporter_errors", "Polls of a source that failed", labels=["source"]
        )
        for source in ("task_queues", "approvals", "schedules", "store"):
            errors.add_metric([source], snap.errors[source])
        yield errors
        yield GaugeMetricFamily(
            "bizos_exporter_last_poll_timestamp_seconds",
            "When the exporter last finished a poll (Unix time)",
            value=snap.last_poll,
        )

    @staticmethod
    def _queues(snap: Snapshot) -> Iterator[Metric]:
        labels = ["task_queue", "type"]
        pollers = GaugeMetricFamily(
            "bizos_task_queue_pollers", "Workers polling the task queue recently", labels=labels
        )
        backlog = GaugeMetricFamily(
            "bizos_task_queue_backlog", "Tasks waiting for a worker (approximate)", labels=labels
        )
        age = GaugeMetricFamily(
            "bizos_task_queue_backlog_age_seconds",
            "Age of the oldest task waiting for a worker",
            labels=labels,
        )
        for (name, kind), q in sorted(snap.queues.items()):
            pollers.add_metric([name, kind], q.pollers)
            backlog.add_metric([name, kind], q.backlog)
            age.add_metric([name, kind], q.backlog_age_s)
        yield from (pollers, backlog, age)

    @staticmethod
    def _approvals(snap: Snapshot) -> Iterator[Metric]:
        labels = ["tenant", "template", "step"]
        waiting = GaugeMetricFamily(
            "bizos_approvals_waiting", "Runs waiting for a person on this step", labels=labels
        )
        oldest = GaugeMetricFamily(
            "bizos_approval_oldest_wait_seconds",
            "How long the longest of them has waited",
            labels=labels,
        )
        for key, ages in sorted(snap.approvals.items()):
            waiting.add_metric(list(key), len(ages))
            oldest.add_metric(list(key), max(ages))
        yield from (waiting, oldest)

    @staticmethod
    def _schedules(snap: Snapshot) -> Iterator[Metric]:
        actions = CounterMetricFamily(
            "bizos_schedule_actions", "Runs the schedule started", labels=["schedule"]
        )
        missed = CounterMetricFamily(
            "bizos_schedule_missed_actions",
            "Actions the schedule did not take: catchup_window (too late) or overlap "
            "(the previous run still running)",
            labels=["schedule", "reason"],
        )
        paused = GaugeMetricFamily(
            "bizos_schedule_paused", "1 when the schedule is paused", labels=["schedule"]
        )
        for sid, s in sorted(snap.schedules.items()):
            actions.add_metric([sid], s.actions)
            missed.add_metric([sid, "catchup_window"], s.missed_catchup)
            missed.add_metric([sid, "overlap"], s.skipped_overlap)
            paused.add_metric([sid], 1 if s.paused else 0)
        yield from (actions, missed, paused)

    @staticmethod
    def _tenants(snap: Snapshot) -> Iterator[Metric]:
        spend = GaugeMetricFamily(
            "bizos_tenant_spend_usd", "The tenant's spend this month (UTC)", labels=["tenant"]
        )
        budget = GaugeMetricFamily(
            "bizos_tenant_budget_usd", "The tenant's monthly budget", labels=["tenant"]
        )
        ratio = GaugeMetricFamily(
            "bizos_tenant_budget_used_ratio",
            "Share of the monthly budget spent (1 = all of it)",
            labels=["tenant"],
        )
        for tenant, t in sorted(snap.tenants.items()):
            spend.add_metric([tenant], t.spent_usd)
            if t.budget_usd:
                budget.add_metric([tenant], t.budget_usd)
                ratio.add_metric([tenant], t.spent_usd / t.budget_usd)
        yield from (spend, budget, ratio)


def exporter_registry(exporter: Exporter) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(exporter))
    return registry


async def run_exporter(exporter: Exporter, interval_s: float, stop: asyncio.Event) -> None:
    """Poll every `interval_s` until `stop` is set (the first poll at once)."""
    while not stop.is_set():
        started = time.monotonic()
        await exporter.poll()
        wait = max(interval_s - (time.monotonic() - started), 0.0)
        with contextlib.suppress(TimeoutError):  # the poll's clock, not a synchronisation
            await asyncio.wait_for(stop.wait(), timeout=wait)
