"""Multi-Region keys: the Region of a key's primary (NULL for single-Region keys).

Related multi-Region keys share their key ID; the store names each by `<id>/<region>` in every `key_id` column
(`trent.domain.ids.key_ref`), so no existing row changes.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.add_column(sa.Column("primary_region", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.drop_column("primary_region")
