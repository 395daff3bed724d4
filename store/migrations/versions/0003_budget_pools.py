"""Budget pools: one pool of money per run, the reservations model calls hold against it,
and the alerts at 75 / 90 / 100 % of its cap.

Revision ID: 0003_budget_pools
Revises: 0002_blobs
Create Date: 2026-02-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_budget_pools"
down_revision = "0002_blobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_pools",
        sa.Column("pool", sa.String(400), primary_key=True),
        sa.Column("cap_nanos", sa.BigInteger(), nullable=False),
        sa.Column("settled_nanos", sa.BigInteger(), nullable=False),
        sa.Column("charged_nanos", sa.BigInteger(), nullable=False),
        sa.Column("reserved_nanos", sa.BigInteger(), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "budget_reservations",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("pool", sa.String(400), nullable=False),
        sa.Column("workflow_id", sa.String(256), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("step_key", sa.String(256), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worst_nanos", sa.BigInteger(), nullable=False),
        sa.Column("billed_nanos", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_budget_reservations_pool", "budget_reservations", ["pool", "state"])
    op.create_index(
        "ix_budget_reservations_step", "budget_reservations", ["workflow_id", "run_id", "step_key"]
    )

    op.create_table(
        "budget_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pool", sa.String(400), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("spent_nanos", sa.BigInteger(), nullable=False),
        sa.Column("cap_nanos", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pool", "threshold", name="uq_budget_alerts_threshold"),
    )


def downgrade() -> None:
    for table in ("budget_alerts", "budget_reservations", "budget_pools"):
        op.drop_table(table)
