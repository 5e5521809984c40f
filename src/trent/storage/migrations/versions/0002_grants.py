"""Grants, their change feed, and the per-key grant counter.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("grant_id", sa.String(64), nullable=False, unique=True),
        sa.Column("key_id", sa.String(64), sa.ForeignKey("keys.key_id", ondelete="CASCADE"), nullable=False),
        sa.Column("key_account", sa.String(12), nullable=False),
        sa.Column("key_region", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256)),
        sa.Column("grantee_principal", sa.String(256)),
        sa.Column("grantee_service_principal", sa.String(128)),
        sa.Column("retiring_principal", sa.String(256)),
        sa.Column("retiring_service_principal", sa.String(128)),
        sa.Column("issuing_account", sa.String(12), nullable=False),
        sa.Column("operations", sa.Integer, nullable=False),
        sa.Column("constraints", sa.Text),
        sa.Column("creation_date", sa.Float, nullable=False),
        sa.Column("deleted_at", sa.Float),
    )
    op.create_index("ix_grants_key", "grants", ["key_id", "seq"])
    op.create_index("ix_grants_key_grantee", "grants", ["key_id", "grantee_principal"])
    op.create_index("ix_grants_retiring", "grants", ["retiring_principal", "key_region", "seq"])
    op.create_table(
        "grant_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("keys") as batch:
        batch.add_column(sa.Column("grant_count", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.drop_column("grant_count")
    op.drop_table("grant_changes")
    op.drop_table("grants")
