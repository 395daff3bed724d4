"""The environment backend: process environment first, then a dotenv file (path from
`BIZOS_ENV_FILE`, else `./.env`). Read-only, and it has no per-tenant secrets: a tenant's
own keys need the Vault backend."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class EnvSecrets:
    """Environment variables first, then a dotenv file (re-read when it changes on disk)."""

    kind = "env"

    def __init__(self, env_file: str | os.PathLike[str] | None = None) -> None:
        self._env_file = env_file
        self._lock = threading.Lock()
        self._cache_key: tuple[str, float] | None = None
        self._file_values: dict[str, str] = {}

    def _path(self) -> Path:
        return Path(self._env_file or os.environ.get("BIZOS_ENV_FILE") or ".env")

    def _dotenv(self) -> dict[str, str]:
        path = self._path()
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {}
        key = (str(path.resolve()), mtime)
        with self._lock:
            if key != self._cache_key:
                self._file_values = parse_dotenv(path.read_text(encoding="utf-8"))
                self._cache_key = key
            return self._file_values

    def get(self, name: str) -> str | None:
        value = os.environ.get(name)
        if value:
            return value
        return self._dotenv().get(name) or None


def parse_dotenv(text: str) -> dict[str, str]:
    """`KEY=value` lines; `export ` prefix, quotes and `#` comments handled; no expansion
    (expansion would let one secret leak into another by name)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            values[key] = value
    return values
