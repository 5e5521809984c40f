"""The web console's sessions and one-time sign-in links; each grant's parent (the grant that authorized its
creation, if one did).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("parent_grant_id", sa.String(64), nullable=True))
    op.create_index("ix_grants_parent", "grants", ["parent_grant_id"])
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.LargeBinary, primary_key=True),
        sa.Column("principal_arn", sa.String(512), nullable=False),
        sa.Column("access_key_id", sa.String(32)),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_index("ix_console_sessions_last_seen", "console_sessions", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_last_seen", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_index("ix_grants_parent", table_name="grants")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("parent_grant_id")
