"""Live agent activity: the keyed events a running agent step appends (step started, tool
calls, model messages, step finished or failed), read by the admin console's event stream.

``id`` is the server-sent-events id a viewer resumes from (``Last-Event-ID``): monotonic,
never reused (SQLite AUTOINCREMENT; a PostgreSQL sequence never goes back). The natural key
(workflow, run, step, attempt, seq) makes a repeated write a no-op; the run is in it because
a workflow id can be started again (same key after its run closed) with attempts from 1.

Revision ID: 0007_activity_events
Revises: 0006_approvals
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_activity_events"
down_revision = "0006_approvals"
branch_labels = None
depends_on = None

# BIGINT on PostgreSQL (a busy platform passes 2**31 events); on SQLite only a column typed
# exactly INTEGER is the rowid, which AUTOINCREMENT needs.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "activity_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("workflow_id", sa.String(256), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "workflow_id", "run_id", "step", "attempt", "seq", name="uq_activity_events_key"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_activity_events_workflow_id", "activity_events", ["workflow_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_activity_events_workflow_id", table_name="activity_events")
    op.drop_table("activity_events")
