"""The last-known-good cache of the Vault backend.

Each entry is what one Vault path held when it was last read successfully. An entry is
*fresh* for `refresh_s` (served without asking Vault, so a step's many lookups cost one
read) and *usable* for `keep_s` (served when Vault cannot be reached, so an outage does not
stop running work). Past `keep_s` it is gone: the caller fails closed rather than run on a
credential that may have been revoked since. The clock is injectable so tests need no sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    values: dict[str, str]
    fetched_at: float


class LastKnownGood:
    def __init__(
        self, *, keep_s: float, refresh_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keep_s = keep_s
        self.refresh_s = min(refresh_s, keep_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}

    def put(self, path: str, values: dict[str, str]) -> None:
        with self._lock:
            self._entries[path] = Entry(dict(values), self.clock())

    def fresh(self, path: str) -> dict[str, str] | None:
        """The path's values if read less than `refresh_s` ago, else None (ask Vault)."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or self.clock() - entry.fetched_at >= self.refresh_s:
                return None
            return entry.values

    def usable(self, path: str) -> dict[str, str] | None:
        """The path's values if read at most `keep_s` ago (Vault is down), else None; an
        older entry is dropped, never served again."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                return None
            if self.clock() - entry.fetched_at > self.keep_s:
                del self._entries[path]
                return None
            return entry.values

    def forget(self, path: str) -> None:
        with self._lock:
            self._entries.pop(path, None)
