"""Helpers of the limits and idempotency tests."""

from __future__ import annotations

import os
import socket

REDIS_URL = os.environ.get("BIZOS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
