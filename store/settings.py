"""Where the platform keeps its local state and which database the store uses.

Read from the environment (and `.env`) once per process:

* ``BIZOS_HOME`` — local state directory (SQLite file, tool artifacts, CrewAI's data dir);
  default ``.bizos`` under the working directory.
* ``BIZOS_DATABASE_URL`` — a SQLAlchemy async URL. Unset: SQLite (aiosqlite) at
  ``$BIZOS_HOME/bizos.db``. ``postgresql://…`` URLs are rewritten to the asyncpg driver.

This module is light (pydantic-settings only) so the CLI and the CrewAI environment module
can import it without pulling in SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = ".bizos"


def bizos_home() -> Path:
    """The local state directory, absolute (CrewAI and tools must not depend on the cwd later)."""
    return Path(os.environ.get("BIZOS_HOME") or DEFAULT_HOME).resolve()


class StoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZOS_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=bizos_home)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset = SQLite file under `home`"
    )
    database_schema: str | None = Field(
        default=None,
        description="PostgreSQL schema for every table (tests use one per session); "
        "unset = the connection's default search_path",
    )
    database_echo: bool = False

    def url(self) -> str:
        """The async SQLAlchemy URL, with the async driver filled in."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.home / 'bizos.db'}"
        url = self.database_url
        for plain in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url[len(plain) :]
        if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
            return "sqlite+aiosqlite://" + url[len("sqlite://") :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.url().startswith("sqlite")
