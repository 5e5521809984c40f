"""Replacing the root key itself: each root-key version's data key may be wrapped under the previous root key too
(while nodes still run with it), and the keys derived from the root key (token and marker MACs) can be kept in
the store, so that they outlive the root key they were first derived from.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("root_key_versions") as batch:
        batch.add_column(sa.Column("wrapped_key_previous", sa.LargeBinary))
    op.create_table(
        "store_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_secrets")
    with op.batch_alter_table("root_key_versions") as batch:
        batch.drop_column("wrapped_key_previous")
