"""The audit trail: one CloudTrail-shaped event per API call.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_time", sa.Float, nullable=False),
        sa.Column("event_name", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(12)),
        sa.Column("principal_arn", sa.String(512)),
        sa.Column("key_arn", sa.String(256)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_time", "audit_events", ["event_time"])
    op.create_index("ix_audit_key", "audit_events", ["key_arn", "event_time"])
    op.create_index("ix_audit_principal", "audit_events", ["principal_arn", "event_time"])


def downgrade() -> None:
    op.drop_table("audit_events")
