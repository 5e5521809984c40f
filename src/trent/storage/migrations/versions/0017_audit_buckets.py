"""The audit trail's key and principal indexes lead with the event's bucket (`seq / 16384`, tables.audit_bucket),
so that a batch of events from many callers or about many keys dirties the few pages of the newest bucket rather
than a page per event. Rebuilding the two indexes takes a while on a large trail, once, at the first start of the
new version: 6 s for 1,000,000 events on SQLite (2-core machine, under load).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

#: tables.AUDIT_BUCKET_EVENTS at this revision (a migration does not import the current schema).
_BUCKET = sa.text("(seq / 16384)")


def upgrade() -> None:
    op.drop_index("ix_audit_key", table_name="audit_events")
    op.drop_index("ix_audit_principal", table_name="audit_events")
    op.create_index("ix_audit_key", "audit_events", [_BUCKET, "key_arn", "seq"])
    op.create_index("ix_audit_principal", "audit_events", [_BUCKET, "principal_arn", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_key", table_name="audit_events")
    op.drop_index("ix_audit_principal", table_name="audit_events")
    op.create_index("ix_audit_key", "audit_events", ["key_arn", "seq"])
    op.create_index("ix_audit_principal", "audit_events", ["principal_arn", "seq"])
