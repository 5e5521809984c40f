"""The console's list of an account's grants, across its keys: an index on (key_account, key_region, seq).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_grants_account", "grants", ["key_account", "key_region", "seq"])


def downgrade() -> None:
    op.drop_index("ix_grants_account", table_name="grants")
