"""Indexes for what maintenance, /metrics and CreateGrant's Name look up, so that none of them reads a whole
table: at a million keys a maintenance pass took 227 ms holding the writer lock, a /metrics scrape 222 ms.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_keys_grant_count", "keys", ["grant_count"]),
    ("ix_keys_deletion", "keys", ["state", "deletion_date"]),
    ("ix_keys_rotation", "keys", ["rotation_enabled", "next_rotation_date"]),
    ("ix_grants_deleted", "grants", ["deleted_at"]),
    ("ix_grants_key_name", "grants", ["key_id", "name"]),
    ("ix_changes_changed_at", "changes", ["changed_at"]),
    ("ix_access_keys_expiration", "access_keys", ["expiration"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
