"""Service layer: tenants, API keys, audit log, executions index, webhooks; agent
configuration versions per tenant (existing versions and active pointers become tenant
``default``, which this revision creates).

Revision ID: 0005_tenants
Revises: 0004_priced_as
Create Date: 2026-11-30
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005_tenants"
down_revision = "0004_priced_as"
branch_labels = None
depends_on = None

# SQLite reflects the baseline's unnamed `request_key` unique constraint without a name;
# this convention names it so batch mode can drop it. PostgreSQL named it itself.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("monthly_budget_nanos", sa.BigInteger(), nullable=True),
        sa.Column("max_running", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    tenants = sa.table(
        "tenants",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(tenants, [{"id": "default", "name": "default", "created_at": datetime.now(UTC)}])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("secret_sha256", name="uq_api_keys_secret_sha256"),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant", "created_at"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant", "at"])

    op.create_table(
        "executions",
        sa.Column("workflow_id", sa.String(256), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(256), nullable=True),
        sa.UniqueConstraint("tenant", "idempotency_key", name="uq_executions_idempotency_key"),
    )
    op.create_index(
        "ix_executions_tenant_started", "executions", ["tenant", "started_at", "workflow_id"]
    )
    op.create_index("ix_executions_tenant_status", "executions", ["tenant", "status"])

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_webhook_endpoints_tenant", "webhook_endpoints", ["tenant"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(512), nullable=False),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event"),
    )
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status", "created_at"])

    # Configuration versions per tenant: every existing row is tenant `default`.
    pg = op.get_bind().dialect.name == "postgresql"
    request_key_uq = (
        "agent_config_versions_request_key_key" if pg else "uq_agent_config_versions_request_key"
    )
    with op.batch_alter_table("agent_config_versions", naming_convention=_NAMING) as batch:
        batch.add_column(
            sa.Column("tenant", sa.String(64), nullable=False, server_default="default")
        )
        batch.drop_constraint("uq_agent_config_version", type_="unique")
        batch.drop_constraint(request_key_uq, type_="unique")
        batch.create_unique_constraint("uq_agent_config_version", ["tenant", "agent_id", "version"])
        batch.create_unique_constraint("uq_agent_config_request_key", ["tenant", "request_key"])

    # The active pointer is keyed by (tenant, agent): a new table, rows copied over.
    op.create_table(
        "agent_config_active_new",
        sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "agent_id", name="pk_agent_config_active"),
    )
    op.execute(
        "INSERT INTO agent_config_active_new (tenant, agent_id, version, updated_at) "
        "SELECT 'default', agent_id, version, updated_at FROM agent_config_active"
    )
    op.drop_table("agent_config_active")
    op.rename_table("agent_config_active_new", "agent_config_active")


def downgrade() -> None:
    # Only tenant `default` existed before: other tenants' configurations cannot go back.
    op.execute("DELETE FROM agent_config_active WHERE tenant <> 'default'")
    op.execute("DELETE FROM agent_config_versions WHERE tenant <> 'default'")
    op.create_table(
        "agent_config_active_old",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO agent_config_active_old (agent_id, version, updated_at) "
        "SELECT agent_id, version, updated_at FROM agent_config_active"
    )
    op.drop_table("agent_config_active")
    op.rename_table("agent_config_active_old", "agent_config_active")
    pg = op.get_bind().dialect.name == "postgresql"
    request_key_uq = (
        "agent_config_versions_request_key_key" if pg else "uq_agent_config_versions_request_key"
    )
    with op.batch_alter_table("agent_config_versions") as batch:
        batch.drop_constraint("uq_agent_config_request_key", type_="unique")
        batch.drop_constraint("uq_agent_config_version", type_="unique")
        batch.create_unique_constraint("uq_agent_config_version", ["agent_id", "version"])
        batch.create_unique_constraint(request_key_uq, ["request_key"])
        batch.drop_column("tenant")
    for table in (
        "webhook_deliveries",
        "webhook_endpoints",
        "executions",
        "audit_log",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)
