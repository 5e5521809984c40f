"""The console's audit trail reads an account's newest events: an index on (account_id, seq).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_account", "audit_events", ["account_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_account", table_name="audit_events")
