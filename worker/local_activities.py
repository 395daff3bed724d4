"""The local activities the workflow pool hosts. Their results are recorded in history, so
replays and other workers never read files or the database for them:

* `resolve_run_start` / `resolve_agent_start`, once per run at its first task: the run's plan
  from this worker's specs and catalog (for runs started without one, e.g. by `temporal
  workflow start` or a schedule), and the agent configuration versions the run pins;
* `store_run_outputs`: a run's outputs too big for its result payload, into the store (a
  local activity: its big input never enters history, only the reference it returns);
* `emit_run_event`: an execution event of a run started with `notify`, enqueued as one
  durable `DeliverWebhook` per endpoint of the tenant subscribed to it;
* `approver_group`: the members of an approver group when an approval level opens (the
  snapshot the level's decisions are checked against);
* `record_decision`: a decision, timeout or escalation into the store's decision log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.catalog import default_catalog
from store import Store, StoreSettings
from workflows.catalog_slice import slice_catalog
from workflows.engine.decision_log import APPROVER_GROUP, RECORD_DECISION
from workflows.engine.events import EMIT_RUN_EVENT
from workflows.engine.run_start import RESOLVE_RUN_START, STORE_RUN_OUTPUTS, configurable_agents
from workflows.models import (
    ApproverGroupRequest,
    ApproverGroupSnapshot,
    DecisionLogEntry,
    RunEventRequest,
    RunStart,
    RunStartRequest,
    StoreOutputsRequest,
)
from workflows.plans import build_plan
from workflows.registry import default_registry
from workflows.single_agent import (
    RESOLVE_AGENT_START,
    AgentStart,
    AgentStartRequest,
)

if TYPE_CHECKING:
    from activities.webhooks import WebhookActivities


class LocalActivities:
    """Holds the store the pins are written to (opened on the first run that needs it: runs
    of `system`-only templates never open it), and the webhook activities whose endpoint
    resolver runs' events are fanned out with (default: the store's endpoints)."""

    def __init__(
        self,
        settings: StoreSettings | None = None,
        store: Store | None = None,
        webhooks: WebhookActivities | None = None,
    ):
        self._settings = settings
        self._store = store
        self._owns_store = store is None
        self._lock = asyncio.Lock()
        self._webhooks = webhooks
        self._owns_webhooks = webhooks is None

    async def store(self) -> Store:
        async with self._lock:
            if self._store is None:
                self._store = await Store.open(self._settings)
        return self._store

    def webhook_activities(self) -> WebhookActivities:
        """The delivery activities the workflow pool registers beside these, resolving
        endpoints from this store (and the BIZOS_WEBHOOK_ENDPOINTS file when set), so runs'
        events and their deliveries see the same endpoints."""
        if self._webhooks is None:
            from activities.webhook_endpoints import store_resolver
            from activities.webhooks import WebhookActivities

            self._webhooks = WebhookActivities(store_resolver(self.store))
        return self._webhooks

    def all(self) -> list[Callable[..., Any]]:
        """What the workflow pool registers."""
        return [
            self.resolve_run_start,
            self.resolve_agent_start,
            self.store_run_outputs,
            self.emit_run_event,
            self.approver_group,
            self.record_decision,
        ]

    @activity.defn(name=APPROVER_GROUP)
    async def approver_group(self, req: ApproverGroupRequest) -> ApproverGroupSnapshot:
        store = await self.store()
        members = await store.approver_group_members(req.tenant, req.group)
        if members is None:
            return ApproverGroupSnapshot(group=req.group, members=[], found=False)
        return ApproverGroupSnapshot(group=req.group, members=sorted(members))

    @activity.defn(name=RECORD_DECISION)
    async def record_decision(self, entry: DecisionLogEntry) -> None:
        await (await self.store()).record_decision(entry)

    @activity.defn(name=RESOLVE_RUN_START)
    async def resolve_run_start(self, req: RunStartRequest) -> RunStart:
        plan = req.plan
        started = RunStart()
        if plan is None:
            registry = default_registry()
            dag = registry.current.get(req.workflow_type)
            if dag is None:
                raise ApplicationError(
                    f"unknown workflow type `{req.workflow_type}`: this worker runs "
                    f"{', '.join(sorted(registry.current))}",
                    type="UnknownTemplate",
                    non_retryable=True,
                )
            plan = started.plan = build_plan(dag, registry)
        if req.pin_configs:
            agents = configurable_agents(plan)
            if agents:
                store = await self.store()
                for agent in agents:
                    started.config_versions[agent] = await store.pin_config_for_run(
                        req.workflow_id, req.run_id, agent, tenant=req.tenant
                    )
        return started

    @activity.defn(name=RESOLVE_AGENT_START)
    async def resolve_agent_start(self, req: AgentStartRequest) -> AgentStart:
        started = AgentStart()
        catalog = default_catalog()
        if req.agent not in catalog:
            raise ApplicationError(
                f"unknown agent `{req.agent}`; known: {', '.join(a.id for a in catalog)}",
                type="UnknownAgent",
                non_retryable=True,
            )
        agent = slice_catalog(catalog, [req.agent]).agents[req.agent]
        if req.mode not in agent.modes:
            raise ApplicationError(
                f"agent `{req.agent}` has no mode `{req.mode}` (modes: {', '.join(agent.modes)})",
                type="UnknownMode",
                non_retryable=True,
            )
        if req.need_slice:
            started.catalog = agent
        if agent.category != "system":
            store = await self.store()
            started.config_version = await store.pin_config_for_run(
                req.workflow_id, req.run_id, req.agent, tenant=req.tenant
            )
        return started

    @activity.defn(name=STORE_RUN_OUTPUTS)
    async def store_run_outputs(self, req: StoreOutputsRequest) -> str:
        store = await self.store()
        return await store.put_output(
            ref_key=f"{req.workflow_id}/{req.run_id}/$outputs",
            workflow_id=req.workflow_id,
            run_id=req.run_id,
            step_key="$outputs",
            body=json.dumps(req.outputs, ensure_ascii=False, separators=(",", ":")),
        )

    @activity.defn(name=EMIT_RUN_EVENT)
    async def emit_run_event(self, req: RunEventRequest) -> list[str]:
        """Enqueue the event for the tenant's subscribed endpoints; the delivery workflows'
        ids come back (recorded in the run's history: ids only, never URLs or secrets).
        Emitting the same event again enqueues nothing new: deliveries are keyed by its id."""
        from activities.webhooks import WebhookEvent
        from workflows.webhooks import emit_for

        event = WebhookEvent.for_run(
            tenant=req.tenant,
            type=req.type,
            workflow_id=req.workflow_id,
            run_id=req.run_id,
            occurred_at=req.occurred_at,
            step=req.step,
            level=req.level,
            round=req.round,
            data=req.data,
        )
        handles = await emit_for(
            activity.client(),
            self.webhook_activities().resolver,
            event,
            # delivered by the pool that runs the run (it hosts DeliverWebhook)
            task_queue=activity.info().task_queue,
        )
        return [h.id for h in handles]

    async def close(self) -> None:
        if self._webhooks is not None and self._owns_webhooks:
            await self._webhooks.close()
            self._webhooks = None
        if self._store is not None and self._owns_store:
            await self._store.close()
            self._store = None


_default: LocalActivities | None = None


def default_local_activities() -> LocalActivities:
    """Process-wide instance for workers built without one (store from the environment)."""
    global _default
    if _default is None:
        _default = LocalActivities()
    return _default
