"""One step attempt's calls into the store from the crew's worker thread: the attempt's
identity (what every ledger, journal and reservation key is made of) and the bridge that runs
a store coroutine on the activity's event loop and waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from store import CallKey, Store

T = TypeVar("T")
STORE_CALL_TIMEOUT_S = 60.0


class AttemptStore:
    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        *,
        tenant: str,
        workflow_id: str,
        run_id: str,
        step_key: str,
        attempt: int,
    ):
        self._store = store
        self._loop = loop
        self._tenant = tenant
        self._workflow_id = workflow_id
        self._run_id = run_id
        self._step_key = step_key
        self._attempt = attempt

    def _key(self, request_hash: str, call_index: int) -> CallKey:
        return CallKey(
            tenant=self._tenant,
            workflow_id=self._workflow_id,
            run_id=self._run_id,
            step_key=self._step_key,
            request_hash=request_hash,
            call_index=call_index,
        )

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run on the activity's loop (never a loop per call) and wait, bounded."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(STORE_CALL_TIMEOUT_S)
