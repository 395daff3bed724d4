"""Where the platform keeps its local state and which database the store uses.

Read from the environment (and `.env`) once per process:

* ``BIZOS_HOME`` — local state directory (SQLite file, tool artifacts, CrewAI's data dir);
  default ``.bizos`` under the working directory.
* ``BIZOS_DATABASE_URL`` — a SQLAlchemy async URL. Unset: SQLite (aiosqlite) at
  ``$BIZOS_HOME/bizos.db``. ``postgresql://…`` URLs are rewritten to the asyncpg driver.
* ``BIZOS_BLOB_BACKEND`` — where blob content lives: ``db`` (the store's database, default)
  or ``s3`` (S3-compatible object storage: ``BIZOS_S3_BUCKET`` required, plus
  ``BIZOS_S3_ENDPOINT_URL``, ``BIZOS_S3_REGION``, ``BIZOS_S3_PREFIX``,
  ``BIZOS_S3_ADDRESSING_STYLE``; credentials through boto3's own chain, e.g.
  ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, so no secret sits in these settings).
* ``BIZOS_BLOB_RETENTION_DAYS`` — how long a run's blob references are kept (default 30).

This module is light (pydantic-settings only) so the CLI and the CrewAI environment module
can import it without pulling in SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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

    blob_backend: Literal["db", "s3"] = Field(
        default="db", description="where blob content lives; refs are always in the database"
    )
    blob_retention_days: float = Field(
        default=30, gt=0, description="a run's blob references expire this long after the put"
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint; unset = AWS S3"
    )
    s3_bucket: str | None = None
    s3_prefix: str = Field(default="", description="key prefix, used verbatim (e.g. 'bizos/')")
    s3_region: str | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="'path' for most self-hosted S3-compatible servers"
    )

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
