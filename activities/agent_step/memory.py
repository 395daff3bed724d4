"""Giving a burst's memory back to the system (glibc only; elsewhere these do nothing).

A burst of concurrent crews allocates from many threads; glibc gives each thread that meets
contention its own malloc arena (up to 8 per core), and freed memory stays in those arenas:
a worker measured 271 MB idle and 534 MB after 100 concurrent steps, nothing leaked. Two
arenas per process are enough for a pool whose crews hold the GIL most of the time, and
`trim()` once the pool goes idle returns the freed pages (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # mallopt parameter, glibc's malloc.h
DEFAULT_ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim, libc.mallopt  # noqa: B018  (glibc, not musl)
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas() -> bool:
    """Cap malloc arenas (``MALLOC_ARENA_MAX`` wins when set). Call before the pool's
    threads start: arenas already made stay."""
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, DEFAULT_ARENAS))


def trim() -> bool:
    """Return free heap pages to the system; True if some were. Takes milliseconds on a
    large heap (ctypes releases the GIL meanwhile): call it when idle, not per step."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
