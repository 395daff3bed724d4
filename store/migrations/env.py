"""Alembic environment for the BizOS store.

Run programmatically by ``store.migrate.upgrade`` with the live connection in
``config.attributes["connection"]`` (the store owns an async engine; migrations run on its
sync face). There is no alembic.ini: the script location is set in code.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through store.migrate.upgrade() (it passes the connection); "
        "the store has no alembic.ini"
    )

context.configure(
    connection=connection,
    target_metadata=None,
    version_table_schema=context.config.attributes.get("schema"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
