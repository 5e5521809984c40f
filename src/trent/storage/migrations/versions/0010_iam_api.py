"""The IAM API: access keys can be made Inactive and say when they were last used, users carry tags, principals
are paged by account and type.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_keys") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="Active"))
        batch.add_column(sa.Column("last_used", sa.Float, nullable=True))
        batch.add_column(sa.Column("last_used_region", sa.String(32), nullable=True))
        batch.add_column(sa.Column("last_used_service", sa.String(16), nullable=True))
    op.create_index("ix_access_keys_principal", "access_keys", ["principal_arn"])
    op.create_index("ix_principals_account_type", "principals", ["account_id", "type", "name"])
    op.create_table(
        "principal_tags",
        sa.Column("principal_arn", sa.String(512), sa.ForeignKey("principals.arn"), primary_key=True),
        sa.Column("tag_key", sa.String(128), primary_key=True),
        sa.Column("tag_value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("principal_tags")
    op.drop_index("ix_principals_account_type", table_name="principals")
    op.drop_index("ix_access_keys_principal", table_name="access_keys")
    with op.batch_alter_table("access_keys") as batch:
        for column in ("last_used_service", "last_used_region", "last_used", "status"):
            batch.drop_column(column)
