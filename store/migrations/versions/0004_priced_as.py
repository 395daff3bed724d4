"""Ledger: `priced_as`, the model an offline call's token estimates were priced as.

Revision ID: 0004_priced_as
Revises: 0003_budget_pools
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_priced_as"
down_revision = "0003_budget_pools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("priced_as", sa.String(192), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("priced_as")
