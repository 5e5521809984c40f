"""Wrapping keys of GetParametersForImport by key, newest first: each key keeps at most a bounded number.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_import_parameters_key", "import_parameters", ["key_id", "expires"])


def downgrade() -> None:
    op.drop_index("ix_import_parameters_key", table_name="import_parameters")
