"""People in the loop: approver groups per tenant, the decision log, used link tokens.

Revision ID: 0006_approvals
Revises: 0005_tenants
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_approvals"
down_revision = "0005_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approver_groups",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("slack_channel", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "name", name="pk_approver_groups"),
    )

    op.create_table(
        "decision_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(256), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("template", sa.String(128), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("option", sa.String(64), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("via", sa.String(16), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "workflow_id", "run_id", "step", "round", "level", "kind", name="uq_decision_log_event"
        ),
    )
    op.create_index("ix_decision_log_tenant_at", "decision_log", ["tenant", "at"])
    op.create_index("ix_decision_log_tenant_by", "decision_log", ["tenant", "decided_by", "at"])
    op.create_index(
        "ix_decision_log_tenant_workflow", "decision_log", ["tenant", "workflow_id", "at"]
    )

    op.create_table(
        "link_tokens_used",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("used_by", sa.String(200), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("link_tokens_used")
    op.drop_index("ix_decision_log_tenant_workflow", table_name="decision_log")
    op.drop_index("ix_decision_log_tenant_by", table_name="decision_log")
    op.drop_index("ix_decision_log_tenant_at", table_name="decision_log")
    op.drop_table("decision_log")
    op.drop_table("approver_groups")
