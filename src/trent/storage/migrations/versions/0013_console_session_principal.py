"""Console sessions name the principal by its unique ID too: a session (or an unused sign-in link) of a deleted
user or role does not pass to a new principal of the same name.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_sessions") as batch:
        batch.add_column(sa.Column("principal_id", sa.String(64), nullable=False, server_default=""))
    op.create_index("ix_console_sessions_key", "console_sessions", ["access_key_id"])
    op.create_index("ix_console_sessions_principal", "console_sessions", ["principal_arn"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_principal", table_name="console_sessions")
    op.drop_index("ix_console_sessions_key", table_name="console_sessions")
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_column("principal_id")
