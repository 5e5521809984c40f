"""Audit queries by key or principal page in sequence order: index (key_arn, seq) and (principal_arn, seq).

The (…, event_time) indexes made every page of `trent admin audit --key` re-read and sort every match: with a
million matches, 217 s. A time bound is turned into a sequence bound once (events are written in time order).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_key", table_name="audit_events")
    op.drop_index("ix_audit_principal", table_name="audit_events")
    op.create_index("ix_audit_key", "audit_events", ["key_arn", "seq"])
    op.create_index("ix_audit_principal", "audit_events", ["principal_arn", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_key", table_name="audit_events")
    op.drop_index("ix_audit_principal", table_name="audit_events")
    op.create_index("ix_audit_key", "audit_events", ["key_arn", "event_time"])
    op.create_index("ix_audit_principal", "audit_events", ["principal_arn", "event_time"])
