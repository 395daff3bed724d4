"""A step attempt's files: ``blob://`` refs in, refs out, a private scratch directory between.

Pools may run on different hosts, so no local path ever leaves a step (DESIGN §11). Each
attempt works in a fresh scratch directory of its own, removed when the attempt ends:

* before a tool runs, every ``blob://`` ref among its arguments (at any depth) is streamed
  from the blob store into the scratch directory — checked against the step's tenant — and
  replaced by the local path; an attempt fetches each ref once;
* after it runs, every file it wrote (its ``artifacts``, and any string that is a path inside
  the scratch directory) is streamed into the blob store and replaced by its ref, so what
  the agent reads and what the step returns carry refs only. A later tool of the same
  attempt given such a ref reuses the local file.

The store is async on the activity's event loop while tools run in CrewAI's worker threads:
each transfer is handed to that loop (as `StoreCallJournal` does) and waited for.

A bad ref is a tool failure the agent can read: `BlobInputInvalid` (malformed, another
tenant's, missing: the same arguments fail the same way on any attempt) or
`BlobStoreUnavailable` (the store could not be used: a later attempt may succeed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from concurrent import futures
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from activities.providers.step_context import StepCancelled
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolError
from store.blobs import BlobNotFound, BlobRef, BlobTenantMismatch, MalformedBlobRef
from store.blobs.ref import SCHEME

if TYPE_CHECKING:
    from store import Store

T = TypeVar("T")

TRANSFER_TIMEOUT_S = 600.0  # one file, either way; streamed, so only a stuck store gets here
_POLL_S = 0.5  # how often a waiting tool thread looks at the step's cancel flag


class BlobInputInvalid(InvalidToolInput):
    """A ``blob://`` argument this step cannot use: malformed, another tenant's, or missing.
    Retrying with the same arguments cannot help."""


class BlobStoreUnavailable(ToolError):
    """The blob store could not be read or written; a later attempt may get through."""


Signature = tuple[int, int]  # (size, mtime_ns): a local file is reused only while unchanged


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class StepFiles:
    """The scratch directory of one step attempt and its traffic with the blob store.

    `open` makes the scratch directory (any thread; ``loop`` is the activity's event loop),
    `stage` and `publish` run in tool threads (never on ``loop``), `close` (or leaving the
    ``with`` block) removes the directory when the attempt ends."""

    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        *,
        tenant: str,
        workflow_id: str,
        run_id: str,
        scratch: Path,
        cancel: threading.Event | None = None,
    ):
        self._store = store
        self._loop = loop
        self.tenant = tenant
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.scratch = scratch.resolve()
        self.output_dir = self.scratch / "out"  # where tools write (their `output_dir`)
        self._inbox = self.scratch / "in"  # downloads, one directory per content digest
        self._cancel = cancel
        self._lock = threading.Lock()  # one transfer at a time: each ref moves once
        self._local: dict[str, tuple[Path, Signature]] = {}  # ref -> its file here
        self._refs: dict[Path, tuple[str, Signature]] = {}  # file here -> its ref

    @classmethod
    def open(
        cls,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        *,
        tenant: str,
        workflow_id: str,
        run_id: str,
        root: Path | None = None,
        cancel: threading.Event | None = None,
    ) -> StepFiles:
        """A fresh private scratch directory under ``root`` (default: the process's temp
        directory), readable by this user only."""
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="bizos-step-", dir=root))
        return cls(
            store,
            loop,
            tenant=tenant,
            workflow_id=workflow_id,
            run_id=run_id,
            scratch=scratch,
            cancel=cancel,
        )

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> StepFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- before a tool: refs -> local files -------------------------------------------------

    def stage(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """``arguments`` with every ``blob://`` string (at any depth) replaced by the path of
        its content in the scratch directory. Other strings, local paths given as step inputs
        included, pass unchanged: they work where the file exists on this host (the HTTP
        service must refuse local paths in the inputs it accepts)."""
        return {key: self._stage(value, key) for key, value in arguments.items()}

    def _stage(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            return str(self.fetch(value, where)) if value.startswith(SCHEME) else value
        if isinstance(value, dict):
            return {k: self._stage(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._stage(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def fetch(self, text: str, where: str = "argument") -> Path:
        """The local file holding the blob ``text`` names, downloaded on first use."""
        try:
            ref = BlobRef.parse(text)
        except MalformedBlobRef as e:
            raise BlobInputInvalid(f"{where}: {e}") from None
        if ref.tenant != self.tenant:
            raise BlobInputInvalid(
                f"{where}: blob {text} belongs to tenant {ref.tenant!r}; this step runs for "
                f"tenant {self.tenant!r} and cannot read it"
            )
        key = str(ref)
        with self._lock:
            known = self._local.get(key)
            if known is not None and _signature(known[0]) == known[1]:
                return known[0]
            path = self._inbox / ref.sha256 / ref.filename
            try:
                self._wait(self._store.blob_to_file(ref, path, tenant=self.tenant))
            except BlobNotFound as e:
                raise BlobInputInvalid(f"{where}: {e}") from None
            except BlobTenantMismatch as e:  # checked above; the store checks again
                raise BlobInputInvalid(f"{where}: {e}") from None
            except StepCancelled:
                raise
            except Exception as e:
                raise BlobStoreUnavailable(
                    f"{where}: could not fetch {key} from the blob store "
                    f"({type(e).__name__}: {e}); a later attempt may succeed"
                ) from e
            self._remember(key, path)
            return path

    # --- after a tool: local files -> refs --------------------------------------------------

    def publish(self, data: Any) -> Any:
        """``data`` (a tool's output as JSON data) with each file it names uploaded and
        replaced by its ref: every entry of an ``artifacts`` list that is a file, and every
        string naming a file in the scratch directory. Scratch paths quoted inside longer
        strings are replaced by their refs too, so no local path reaches the agent."""
        data = self._publish(data, in_artifacts=False)
        return self._rewrite_mentions(data)

    def _publish(self, value: Any, *, in_artifacts: bool) -> Any:
        if isinstance(value, str):
            if in_artifacts or self._inside(value):
                path = Path(value)
                if path.is_file():
                    return self.upload(path)
            return value
        if isinstance(value, dict):
            return {
                k: self._publish(v, in_artifacts=k == "artifacts" and isinstance(v, list))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._publish(v, in_artifacts=in_artifacts) for v in value]
        return value

    def upload(self, path: Path) -> str:
        """The ref of a local file, uploading it unless this attempt already has it (as
        written, or as downloaded)."""
        path = path.resolve()
        with self._lock:
            known = self._refs.get(path)
            sig = _signature(path)
            if known is not None and known[1] == sig:
                return known[0]
            try:
                ref = self._wait(
                    self._store.put_blob(
                        self.tenant,
                        path,
                        path.name,
                        workflow_id=self.workflow_id,
                        run_id=self.run_id,
                    )
                )
            except StepCancelled:
                raise
            except Exception as e:
                raise BlobStoreUnavailable(
                    f"could not store {path.name} in the blob store "
                    f"({type(e).__name__}: {e}); a later attempt may succeed"
                ) from e
            self._remember(str(ref), path)
            return str(ref)

    def _inside(self, text: str) -> bool:
        return text.startswith(str(self.scratch) + os.sep)

    def _rewrite_mentions(self, value: Any) -> Any:
        if isinstance(value, str):
            if str(self.scratch) not in value:
                return value
            with self._lock:
                known = sorted(self._refs.items(), key=lambda kv: -len(str(kv[0])))
            for path, (ref, _) in known:
                value = value.replace(str(path), ref)
            return value
        if isinstance(value, dict):
            return {k: self._rewrite_mentions(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite_mentions(v) for v in value]
        return value

    # --- plumbing ---------------------------------------------------------------------------

    def _remember(self, ref: str, path: Path) -> None:
        sig = _signature(path)
        if sig is not None:
            self._local[ref] = (path, sig)
            self._refs[path] = (ref, sig)

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the activity's loop and wait for it (from a tool thread), giving
        up when the step is cancelled or the transfer takes too long."""
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # waiting here would block the very loop that must do the transfer
            coro.close()
            raise RuntimeError("StepFiles transfers run from tool threads, not the event loop")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        waited = 0.0
        while True:
            done, _ = futures.wait([future], timeout=_POLL_S)
            if done:
                return future.result()
            waited += _POLL_S
            if self._cancel is not None and self._cancel.is_set():
                future.cancel()
                raise StepCancelled("agent step cancelled during a file transfer")
            if waited >= TRANSFER_TIMEOUT_S:
                future.cancel()
                raise TimeoutError(f"blob transfer took longer than {TRANSFER_TIMEOUT_S:.0f}s")
