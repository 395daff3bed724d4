"""The load suite's and the soak's HTTP client: start runs of a template, approve them and
follow them to their end through the API only, as a portal would.

Runs are followed in batches, never one request per run: one paged `GET /v1/executions`
listing (200 a page) per poll gives every run's status, its server-side close time and what
it waits on (the pending-approvals search attribute), so a poll costs N/200 requests
whatever N is. End-to-end time is the server's close time minus the moment the client sent
the execute request (one machine, one clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

TEMPLATE = "load_approval"
APPROVAL_STEP = "review"
PRICE_AS = "openai:gpt-4o-mini"
PAGE = 200
CLOSED = {"completed", "failed", "cancelled", "terminated", "timed_out"}


def error_type(what: str, resp: httpx.Response | None, exc: BaseException | None = None) -> str:
    """`execute 503 workers-unavailable`: the call, the status and the problem's kind."""
    if exc is not None:
        return f"{what} {type(exc).__name__}"
    assert resp is not None
    kind = ""
    with contextlib.suppress(ValueError):
        kind = str(resp.json().get("type", "")).rsplit("/", 1)[-1]
    return f"{what} {resp.status_code} {kind}".strip()


@dataclass
class Run:
    execution_id: str
    sent_at: float  # wall clock (epoch s) when execute was sent
    start_latency_s: float
    status: str = "running"
    closed_at: float | None = None  # server's close time (epoch s)
    waiting: bool = False
    decided_at: float | None = None
    decide_latency_s: float | None = None

    @property
    def e2e_s(self) -> float | None:
        return None if self.closed_at is None else self.closed_at - self.sent_at


@dataclass
class LoadClient:
    base_url: str
    api_key: str
    connections: int = 64
    template: str = TEMPLATE
    errors: Counter[str] = field(default_factory=Counter)
    _http: httpx.AsyncClient | None = None
    _slots: asyncio.Semaphore | None = None

    async def __aenter__(self) -> LoadClient:
        limits = httpx.Limits(
            max_connections=self.connections, max_keepalive_connections=self.connections
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            limits=limits,
            timeout=httpx.Timeout(120.0),
        )
        # latency is the HTTP round trip: the wait for a free connection is not counted
        self._slots = asyncio.Semaphore(self.connections)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None
        return self._http

    async def timed(
        self, what: str, method: str, url: str, **kw: Any
    ) -> tuple[httpx.Response | None, float]:
        """One request in a connection slot: (response or None on a transport error, s);
        a non-2xx answer or an exception is counted under its error type."""
        assert self._slots is not None
        async with self._slots:
            t0 = time.perf_counter()
            try:
                resp = await self.http.request(method, url, **kw)
            except httpx.HTTPError as e:
                self.errors[error_type(what, None, e)] += 1
                return None, time.perf_counter() - t0
            took = time.perf_counter() - t0
        if resp.status_code >= 300:
            self.errors[error_type(what, resp)] += 1
        return resp, took

    async def start_one(self, topic: str) -> Run | None:
        sent = time.time()
        resp, took = await self.timed(
            "execute",
            "POST",
            f"/v1/workflows/{self.template}/execute",
            json={"params": {"topic": topic}, "price_as": PRICE_AS},
        )
        if resp is None or resp.status_code != 202:
            return None
        return Run(resp.json()["execution_id"], sent, took)

    async def start_many(self, n: int, label: str) -> dict[str, Run]:
        started = await asyncio.gather(*(self.start_one(f"{label} {i}") for i in range(n)))
        return {r.execution_id: r for r in started if r is not None}

    async def decide(self, run: Run) -> None:
        run.decided_at = time.time()
        resp, took = await self.timed(
            "decide",
            "POST",
            f"/v1/executions/{run.execution_id}/decisions",
            json={"step": APPROVAL_STEP, "decision": "approve"},
        )
        if resp is not None and resp.status_code == 200:
            run.decide_latency_s = took
        else:
            run.decided_at = None  # try again on a later poll

    async def listing(self, since: datetime) -> list[dict[str, Any]]:
        """Every run of the template started since `since`, all pages."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {
                "template": self.template,
                "since": since.isoformat(),
                "limit": PAGE,
            }
            if cursor:
                params["cursor"] = cursor
            resp, _ = await self.timed("list", "GET", "/v1/executions", params=params)
            if resp is None or resp.status_code != 200:
                return items
            page = resp.json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def refresh(self, runs: dict[str, Run], since: datetime) -> None:
        """Update every run's status, close time and waiting flag from one listing."""
        for item in await self.listing(since):
            run = runs.get(item["execution_id"])
            if run is None:
                continue
            run.status = item["status"]
            run.waiting = APPROVAL_STEP in (item.get("waiting") or [])
            if item.get("closed_at") and run.closed_at is None:
                run.closed_at = _epoch(item["closed_at"])

    async def follow(
        self,
        runs: dict[str, Run],
        since: datetime,
        *,
        approve: bool,
        until: str = "closed",
        timeout_s: float = 1800.0,
        interval_s: float = 0.5,
    ) -> None:
        """Poll in batches until every run has closed (`until="closed"`) or waits on its
        approval (`"waiting"`); with `approve`, each waiting run is approved as soon as a
        poll sees it. Gives up after `timeout_s` (the runs left open count as such)."""
        deadline = time.monotonic() + timeout_s
        pending: set[asyncio.Task[None]] = set()
        while time.monotonic() < deadline:
            await self.refresh(runs, since)
            if approve:
                for run in runs.values():
                    if run.waiting and run.decided_at is None and run.status == "running":
                        task = asyncio.create_task(self.decide(run))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
            open_ = [r for r in runs.values() if r.status not in CLOSED]
            if until == "waiting":
                open_ = [r for r in open_ if not r.waiting]
            if not open_:
                break
            await asyncio.sleep(interval_s)  # the poll interval of a batch follower
        if pending:
            await asyncio.gather(*pending)

    async def approve_all(self, runs: Iterable[Run]) -> None:
        await asyncio.gather(*(self.decide(r) for r in runs))

    async def cost_usd(self, since: datetime) -> float:
        resp, _ = await self.timed(
            "costs", "GET", "/v1/costs", params={"group_by": "template", "since": since.isoformat()}
        )
        if resp is None or resp.status_code != 200:
            return float("nan")
        return float(resp.json()["total_usd"])


def _epoch(iso: str) -> float:
    text = iso.removesuffix("Z")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
