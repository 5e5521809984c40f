"""One change feed for every cache: `changes` replaces `grant_changes`.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The old feed only ever held rows a few minutes old for running processes; they start afresh from the new one.
    op.drop_table("grant_changes")
    op.create_table(
        "changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(2048), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("changed_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("changes")
    op.create_table(
        "grant_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
