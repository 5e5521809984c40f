"""Imported key material: a material may be absent (deleted, expired, or not yet imported) and carries its import
state and expiry; the wrapping keys of GetParametersForImport are kept, wrapped, until their tokens expire.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("key_materials") as batch:
        batch.alter_column("wrapped", existing_type=sa.LargeBinary(), nullable=True)
        # NULL for material Trent generated; IMPORTED or PENDING_IMPORT for imported material.
        batch.add_column(sa.Column("import_state", sa.String(16)))
        batch.add_column(sa.Column("expiration_model", sa.String(32)))
        batch.add_column(sa.Column("valid_to", sa.Float()))
        batch.add_column(sa.Column("description", sa.String(256)))
    op.create_index("ix_key_materials_valid_to", "key_materials", ["valid_to"])
    op.create_table(
        "import_parameters",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.String(64), sa.ForeignKey("keys.key_id", ondelete="CASCADE"), nullable=False),
        sa.Column("wrapping_algorithm", sa.String(32), nullable=False),
        sa.Column("wrapping_key_spec", sa.String(16), nullable=False),
        sa.Column("private_key_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
    )
    op.create_index("ix_import_parameters_expires", "import_parameters", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_import_parameters_expires", table_name="import_parameters")
    op.drop_table("import_parameters")
    op.drop_index("ix_key_materials_valid_to", table_name="key_materials")
    with op.batch_alter_table("key_materials") as batch:
        batch.drop_column("description")
        batch.drop_column("valid_to")
        batch.drop_column("expiration_model")
        batch.drop_column("import_state")
        batch.alter_column("wrapped", existing_type=sa.LargeBinary(), nullable=False)
