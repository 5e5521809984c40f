"""Root-key versions and the progress of re-wrapping under a new one (rotation of the root key, online).

Version 0 is the root key itself: every value a store holds from before this revision is wrapped under it.

Revision ID: 0015
Revises: 0014
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    versions = op.create_table(
        "root_key_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("retired", sa.Float),
    )
    op.bulk_insert(versions, [{"version": 0, "wrapped_key": None, "created": time.time(), "retired": None}])
    op.create_table(
        "rewrap_progress",
        sa.Column("target_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("position", sa.Text, nullable=False),
        sa.Column("rewrapped", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("finished", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("rewrap_progress")
    op.drop_table("root_key_versions")
